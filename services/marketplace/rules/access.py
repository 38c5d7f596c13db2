"""Who may do what in the marketplace: one table of role → permissions (data, not scattered checks).

The gateway has already checked the coarse scope (``marketplace:read`` for GET, ``marketplace:write``
otherwise).  These permissions decide the finer question; object-level rules (a vendor sees only
its own workers, a worker only its own offers, an office only its department) are applied by the
service functions on top.  Documented in docs/marketplace.md; to move into kernel/roles.py when
that table lands on main.
"""

from __future__ import annotations

from typing import Final

from kernel.auth import Identity
from kernel.errors import Forbidden

PERMISSIONS: Final = {
    "catalog.write": "categories, rate items, rates, cancellation terms, departments, offices, Beckn subscribers",
    "vendor.write": "enrol and suspend vendors",
    "workers.manage": "enrol and edit workers (a vendor: only its own)",
    "worker.act": "accept or decline offers, depart, arrive, start, complete, availability (a worker: only itself)",
    "booking.app": "book as a citizen through a partner app or portal",
    "booking.assisted": "book on a caller's behalf (call centre; recorded as assisted)",
    "booking.department": "book against a department's office with a purchase reference",
    "booking.manage": "cancel, reschedule, rate or dispute any booking in the area",
    "booking.read_all": "read every booking in the area",
    "reports.read": "adoption reports, department statements, earnings",
}

_CUSTOMER = frozenset({"booking.app"})
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(PERMISSIONS),
    "marketplace_admin": frozenset(PERMISSIONS),
    "vendor": frozenset({"workers.manage", "worker.act"}),
    "worker": frozenset({"worker.act"}),
    "call_centre_agent": frozenset({"booking.assisted", "booking.manage", "booking.read_all"}),
    "e_volunteer": frozenset({"booking.assisted"}),
    "department_officer": frozenset({"booking.department", "reports.read"}),
    "auditor": frozenset({"booking.read_all", "reports.read"}),
}
# Clients (partner apps, department systems) carry scopes rather than roles.
SCOPE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "marketplace:write": _CUSTOMER,
    "marketplace:admin": frozenset(PERMISSIONS),
    "marketplace:department": frozenset({"booking.department", "reports.read"}),
    "marketplace:vendor": frozenset({"workers.manage", "worker.act"}),
}


def permissions_of(identity: Identity) -> frozenset[str]:
    out: set[str] = set()
    for role in identity.roles:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    for scope, granted in SCOPE_PERMISSIONS.items():
        if scope in identity.scopes or "*" in identity.scopes or (
                scope != "marketplace:write" and "marketplace:*" in identity.scopes):
            out |= granted
    if identity.kind == "client" and identity.has_scope("marketplace:write"):
        out |= _CUSTOMER
    return frozenset(out)


def can(identity: Identity, permission: str) -> bool:
    assert permission in PERMISSIONS, permission
    return permission in permissions_of(identity)


def require(identity: Identity, permission: str) -> None:
    if not can(identity, permission):
        raise Forbidden(f"This needs the marketplace permission {permission!r} ({PERMISSIONS[permission]}).")


def acts_for(identity: Identity) -> set[str]:
    """The names a vendor's member list or a worker's login may hold for this caller."""
    return {name for name in (identity.subject, identity.client_id) if name}
