"""amounts in the currency's minor unit: *_paise columns become *_minor (Bangladesh counts in poisha)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

0004 builds its tables from the models' ``define()``, so a database created after this change
already has the new names there: each rename runs only where the old column is still present.
Booking term snapshots (JSON) get the same key rename.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "marketplace"
RENAMES = {
    "rate": [("amount_paise", "amount_minor")],
    "cancellation_terms": [("assigned_fee_paise", "assigned_fee_minor")],
    "booking": [("price_paise", "price_minor"), ("visit_charge_paise", "visit_charge_minor"),
                ("extras_paise", "extras_minor"), ("cancellation_fee_paise", "cancellation_fee_minor")],
    "booking_extra": [("unit_paise", "unit_minor"), ("amount_paise", "amount_minor")],
}


def _rename(backwards: bool) -> None:
    inspector = sa.inspect(op.get_bind())
    for table, pairs in RENAMES.items():
        present = {c["name"] for c in inspector.get_columns(table, schema=SCHEMA)}
        for old, new in pairs:
            source, target = (new, old) if backwards else (old, new)
            if source in present and target not in present:
                op.alter_column(table, source, new_column_name=target, schema=SCHEMA)
    source, target = ("assigned_fee_minor", "assigned_fee_paise") if backwards else ("assigned_fee_paise",
                                                                                      "assigned_fee_minor")
    op.execute(f"UPDATE {SCHEMA}.booking SET terms = (terms - '{source}') || jsonb_build_object('{target}', "
               f"terms -> '{source}') WHERE terms ? '{source}'")


def upgrade() -> None:
    _rename(backwards=False)


def downgrade() -> None:
    _rename(backwards=True)
