"""Column helpers shared by the registry tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import SQLModel

from kernel.areas import area_code_type
from services.registry import SERVICE

METADATA = SQLModel.metadata
SCHEMA = SERVICE


def uuid_pk() -> Column[Any]:
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def key_text() -> Text:
    """A machine key (a hash, a client reference, a phonetic key): compared and indexed byte by byte.

    Under a database's linguistic default collation (even ``C.UTF-8`` before PostgreSQL 17) every
    comparison in these columns' btrees goes through ``strcoll``; "C" makes it ``memcmp``, which cut
    a bulk import's index maintenance by about a quarter.  None of these keys has a language order."""
    return Text(collation="C")


def area_code(nullable: bool = False) -> Column[Any]:
    return Column("area_code", area_code_type(), nullable=nullable)


def row_meta() -> list[Column[Any]]:
    """Row version (optimistic concurrency, offline sync) and who/when columns."""
    now = text("now()")
    return [
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
        Column("created_by", Text, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=now),
        Column("updated_by", Text, nullable=False),
    ]
