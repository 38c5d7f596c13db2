"""actionable doses: the due list kept per person from events, so a day's list is a range filter

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from alembic import op

from services.notify.models.tables import actionable_dose

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    actionable_dose.create(op.get_bind(), checkfirst=True)
    # Persons already known: filled for the active schedule, as an activation would.
    from services.notify.repository.duelists import rebuild_sql

    op.execute("INSERT INTO notify.actionable_dose " + rebuild_sql(persons=False).replace(
        ":version", "(SELECT version FROM notify.schedule_version WHERE active)"))


def downgrade() -> None:
    actionable_dose.drop(op.get_bind(), checkfirst=True)
