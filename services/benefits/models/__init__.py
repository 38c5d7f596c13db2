"""Benefits tables (schema ``benefits``): the scheme catalogue with versioned rules, the local copy
of the registry's persons and households, the hash-chained ledger, flags, posting files, consents.

Every table is built by a function taking the metadata, so the Alembic revision that created it
(0004) builds exactly the same DDL from a fresh ``MetaData``; a later change gets its own revision.
"""

from sqlmodel import SQLModel

from kernel.area_replica import area_replica_table
from kernel.tables import kernel_tables
from services.benefits import SERVICE
from services.benefits.models.tables import (
    access_tables,
    add_revision_0006_columns,
    build_tables,
    cache_tables,
    staging_tables,
)

KERNEL = kernel_tables(SQLModel.metadata, SERVICE)
AREA = area_replica_table(SQLModel.metadata, SERVICE)
TABLES = {**build_tables(SQLModel.metadata), **access_tables(SQLModel.metadata), **staging_tables(SQLModel.metadata),
          **cache_tables(SQLModel.metadata)}
add_revision_0006_columns(TABLES)

department = TABLES["department"]
scheme = TABLES["scheme"]
rule_version = TABLES["rule_version"]
person = TABLES["person"]
identifier_hash = TABLES["identifier_hash"]
household = TABLES["household"]
person_link = TABLES["person_link"]
replica_state = TABLES["replica_state"]
entry = TABLES["entry"]
chain_head = TABLES["chain_head"]
flag = TABLES["flag"]
posting_file = TABLES["posting_file"]
consent = TABLES["consent"]
department_poster = TABLES["department_poster"]
file_row = TABLES["file_row"]
entry_match = TABLES["entry_match"]
catalogue_state = TABLES["catalogue_state"]

__all__ = [
    "AREA",
    "KERNEL",
    "TABLES",
    "catalogue_state",
    "chain_head",
    "consent",
    "department",
    "department_poster",
    "entry",
    "entry_match",
    "file_row",
    "flag",
    "household",
    "identifier_hash",
    "person",
    "person_link",
    "posting_file",
    "replica_state",
    "rule_version",
    "scheme",
]
