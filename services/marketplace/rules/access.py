"""Who may do what in the marketplace: the rows of ``kernel/roles.py`` (section MARKETPLACE,
documented in docs/roles.md), plus the one channel rule the table cannot say.

The gateway has already checked the coarse scope (``marketplace:read`` for GET,
``marketplace:write`` otherwise).  Object-level rules (a vendor sees only its own workers, a
worker's own login only itself, a customer only its bookings, an office only its department's)
are applied by the service functions on top.
"""

from __future__ import annotations

from kernel import roles
from kernel.auth import Identity

ADMIN = "marketplace:admin"
WORKERS_MANAGE = "marketplace:workers_manage"
WORKER_ACT = "marketplace:worker_act"
BOOK = "marketplace:book"
BOOK_ASSISTED = "marketplace:book_assisted"
BOOK_DEPARTMENT = "marketplace:book_department"
BOOKINGS_MANAGE = "marketplace:bookings_manage"
BOOKINGS_READ_ALL = "marketplace:bookings_read_all"
REPORTS = "marketplace:reports"


def can(identity: Identity, permission: str) -> bool:
    if roles.holds(identity, permission) or roles.holds(identity, ADMIN):  # the marketplace's admin may all
        return True
    # A partner app or portal is a client given marketplace:write: it books for its citizens.
    return permission == BOOK and identity.kind == "client" and identity.has_scope("marketplace:write")


def require(identity: Identity, permission: str) -> None:
    if not can(identity, permission):
        roles.require(identity, permission)


def acts_for(identity: Identity) -> set[str]:
    """The names a vendor's member list or a worker's login may hold for this caller."""
    return {name for name in (identity.subject, identity.client_id) if name}
