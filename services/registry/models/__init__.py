"""Registry tables (schema ``registry``).

``Area`` is a SQLModel class; the survey-register tables are SQLAlchemy Core tables on the same
metadata (Core keeps bulk paths and change tracking explicit).  The DDL itself lives in the
hand-written Alembic revisions.
"""

from services.registry.models.areas import KERNEL, Area
from services.registry.models.dci import dci_sender, dci_subscription, dci_transaction
from services.registry.models.duplicates import duplicate_candidate, match_model
from services.registry.models.history import change_history
from services.registry.models.households import household, membership
from services.registry.models.identifiers import identifier
from services.registry.models.persons import person, person_name_token
from services.registry.models.rounds import revision_round, round_item
from services.registry.models.surveys import sync_batch

__all__ = [
    "KERNEL", "Area", "change_history", "duplicate_candidate", "household", "identifier", "membership", "person",
    "person_name_token", "sync_batch",
]
__all__ += ["revision_round", "round_item"]
__all__ += ["dci_sender", "dci_subscription", "dci_transaction"]
__all__ += ["match_model"]
