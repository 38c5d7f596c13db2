"""call-centre calls that ended without a booking (the adoption report's calls per day)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

0004 builds its tables from the models' ``define()``, so a database created after this change has the
table already: it is created only where missing.
"""

from alembic import op
from sqlalchemy import MetaData

from services.marketplace.models.tables import define

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    define(MetaData())["call"].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    define(MetaData())["call"].drop(op.get_bind(), checkfirst=True)
