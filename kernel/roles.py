"""Who may do what, and at which area level: the one role → permission table.

Every service's permissions live here as data, one section per service, documented row by
row in ``docs/roles.md``.  A permission is a scope string ``<service>:<action>``:

* the gateway gives an operator (and a client that carries roles) the scopes of its roles
  (:func:`scopes_for_roles`), and admits a route when the caller holds the route's coarse
  scope (``<service>:read`` / ``<service>:write``) *or* one of the finer permissions the table
  attaches to that route (:func:`route_permissions`): a ward member may verify a survey
  record without being allowed to edit households;
* a service checks the permission itself with :func:`require`: held through a role named in
  the row or the scope itself (a partner client given ``registry:survey_approve``), and — when
  the row has a ``level`` — through an area in the caller's scope that is at that level or
  wider and contains the record.

Adding a service's permissions is adding a section: ``MY_SERVICE = section("tickets", {...})``
and listing it in ``SECTIONS``.  Adding a role is a row in ``ROLES``; ``gramsetu users create``
accepts exactly the roles named there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from kernel.areas import SEPARATOR, is_within

if TYPE_CHECKING:
    from kernel.auth import Identity


class Level(IntEnum):
    """Depth of an area code; India and Bangladesh name the same depths differently."""

    COUNTRY = 0
    STATE_DIVISION = 1
    DISTRICT = 2
    BLOCK_UPAZILA = 3
    PANCHAYAT_UNION = 4
    VILLAGE_WARD = 5

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]


_LEVEL_LABELS = {
    Level.COUNTRY: "country",
    Level.STATE_DIVISION: "state / division",
    Level.DISTRICT: "district",
    Level.BLOCK_UPAZILA: "block / upazila",
    Level.PANCHAYAT_UNION: "gram panchayat / union",
    Level.VILLAGE_WARD: "village / ward",
}


@dataclass(frozen=True)
class Role:
    description: str
    works_at: Level  # the usual width of this role's area scope (documentation; scopes are per user)


@dataclass(frozen=True)
class Permission:
    """One row: the roles that hold it, the narrowest area level it is held at, the routes it opens."""

    roles: frozenset[str]
    description: str
    # None: anywhere in the caller's area scope.  A level: the record must lie inside an area of
    # the caller's scope that is this level or wider (an officer scoped to one ward cannot approve).
    level: Level | None = None
    # Gateway routes this permission admits on its own: (METHOD, "/<service>/path/{param}/...").
    routes: tuple[tuple[str, str], ...] = ()
    name: str = ""
    # Its routes are open to anyone at the gateway, with no credential (a citizen following an SMS
    # link has none), rate limited per source address.  Only for read-only pages that reveal nothing
    # private; the route must be a GET.
    anonymous: bool = False


@dataclass(frozen=True)
class Section:
    service: str
    permissions: Mapping[str, Permission] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- roles
ROLES: dict[str, Role] = {
    "e_volunteer": Role("Collects household surveys in the field (often offline)", Level.VILLAGE_WARD),
    "anganwadi_worker": Role("Village child-care worker: registers families and benefits", Level.VILLAGE_WARD),
    "ward_member": Role("Elected ward member: verifies what volunteers collected", Level.VILLAGE_WARD),
    "panchayat_secretary": Role("Gram panchayat / union parishad secretary: verifies, reopens round items",
                                Level.PANCHAYAT_UNION),
    "department_officer": Role("Block / upazila office: approves surveys, runs revision rounds",
                               Level.BLOCK_UPAZILA),
    "block_helpdesk_agent": Role("Help desk at the block", Level.BLOCK_UPAZILA),
    "district_helpdesk_agent": Role("Help desk at the district", Level.DISTRICT),
    "state_helpdesk_agent": Role("Help desk at the state", Level.STATE_DIVISION),
    "call_centre_agent": Role("Call centre: help desk plus marketplace bookings by phone", Level.STATE_DIVISION),
    "vendor": Role("Skilled local worker offering services on the marketplace", Level.VILLAGE_WARD),
    "auditor": Role("Reads everything in the area scope, changes nothing", Level.COUNTRY),
    "admin": Role("Everything (scope *), including clients, users and DCI senders", Level.COUNTRY),
}
ALL_SCOPE = "*"  # what the admin role carries


def _roles(*names: str) -> frozenset[str]:
    unknown = [n for n in names if n not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) in the permission table: {unknown}")
    return frozenset(names)


_SCOPE_SHAPE = re.compile(r"^[a-z][a-z_]*:[a-z][a-z_]*$")


def section(service: str, rows: Mapping[str, Permission]) -> Section:
    """A service's rows, checked: names are ``<service>:<action>``, roles exist."""
    named: dict[str, Permission] = {}
    for name, row in rows.items():
        if not _SCOPE_SHAPE.match(name) or not name.startswith(service + ":"):
            raise ValueError(f"permission {name!r} must be named {service}:<action>")
        for method, path in row.routes:
            if not path.startswith(f"/{service}/") or method != method.upper():
                raise ValueError(f"route {method} {path} of {name} is not a {service} gateway route")
            if row.anonymous and method != "GET":
                raise ValueError(f"anonymous route {method} {path} of {name}: only GET pages may be open to anyone")
        named[name] = Permission(row.roles, row.description, row.level, row.routes, name, row.anonymous)
    return Section(service, named)


_FIELD = ("e_volunteer", "anganwadi_worker")
_REVIEWERS = ("ward_member", "panchayat_secretary")
_HELPDESK = ("block_helpdesk_agent", "district_helpdesk_agent", "state_helpdesk_agent", "call_centre_agent")
_EVERY_READER = (*_FIELD, *_REVIEWERS, "department_officer", *_HELPDESK, "auditor")
_SURVEY = "/registry/households/{id}/survey"

# ------------------------------------------------------------------------------------- registry
REGISTRY = section("registry", {
    "registry:read": Permission(
        _roles(*_EVERY_READER),
        "Read areas, households and persons (each person read audited with its purpose), lookups, "
        "search, statistics, the duplicates queue, rounds",
        # Reads carried by POST (the identifier goes in the body, never in a URL or a log).
        routes=(("POST", "/registry/persons/lookup"), ("POST", "/registry/persons/age-check"))),
    "registry:write": Permission(
        _roles(*_FIELD),
        "Create and edit households and persons, offline sync batches, imports, duplicate merge/dismiss, "
        "round item confirm/edit/close"),
    "registry:survey_verify": Permission(
        _roles(*_REVIEWERS), "Verify a collected survey record (never one you collected)",
        level=Level.VILLAGE_WARD, routes=(("POST", _SURVEY),)),
    "registry:survey_approve": Permission(
        _roles("department_officer"), "Approve a verified survey record (never one you verified)",
        level=Level.BLOCK_UPAZILA, routes=(("POST", _SURVEY),)),
    "registry:survey_return": Permission(
        _roles(*_REVIEWERS, "department_officer"), "Return a survey record to the volunteer with a reason",
        level=Level.VILLAGE_WARD, routes=(("POST", _SURVEY),)),
    "registry:round_manage": Permission(
        _roles("department_officer"), "Open and close a yearly revision round",
        level=Level.BLOCK_UPAZILA, routes=(("POST", "/registry/rounds"), ("POST", "/registry/rounds/{id}/close"))),
    "registry:round_reopen": Permission(
        _roles(*_REVIEWERS, "department_officer"), "Reopen a closed round item",
        level=Level.VILLAGE_WARD, routes=(("POST", "/registry/rounds/{id}/items/{id}/reopen"),)),
    "registry:dci": Permission(
        frozenset(), "Call the DCI social registry API as an onboarded sender (a department system's client)",
        routes=(*(("POST", f"/registry{p}") for p in (
            "/search", "/sync/search", "/subscribe", "/unsubscribe", "/txn/status", "/sync/txn/status")),
            ("GET", "/registry/dci/jwks.json"))),
    "registry:admin": Permission(
        frozenset(), "Onboard DCI senders (admin, or a client given this scope)"),
})

# ------------------------------------------------------------------------------- other services
# Coarse rows until each service adds its finer ones (same shape as the registry's section).
BENEFITS = section("benefits", {
    "benefits:read": Permission(
        _roles(*_EVERY_READER),
        "Read the scheme catalogue, ledger entries, flags, coverage and the field list in the area scope; "
        "the DCI beneficiary query",
        routes=(("POST", "/benefits/ibr/sync/enrolled"), ("POST", "/benefits/ibr/sync/search"),
                ("GET", "/benefits/ibr/jwks.json"))),
    "benefits:write": Permission(_roles("anganwadi_worker", "department_officer"),
                                 "Write calls at the gateway (posting needs benefits:post too)"),
    "benefits:post": Permission(
        _roles("department_officer"),
        "Post and reverse ledger entries (one, a batch or a file) for the departments that list the caller "
        "as a poster"),
    "benefits:review": Permission(
        _roles("department_officer"), "Confirm (recovery entry) or dismiss (with a reason) a double-dipping flag",
        level=Level.BLOCK_UPAZILA, routes=(("POST", "/benefits/flags/{id}/decision"),)),
    "benefits:admin": Permission(
        frozenset(), "Departments and their posters, schemes, rule versions, the sweep, chain verification"),
    "benefits:public": Permission(
        frozenset(), "Transparency reports (small cells suppressed): a public client with only this scope",
        routes=(("GET", "/benefits/transparency/summary"), ("GET", "/benefits/transparency/summary.csv"))),
    "benefits:history": Permission(
        frozenset(), "A partner app: record a person's consent, read that person's own benefit history under it, "
        "and record the person's withdrawal of it",
        routes=(("POST", "/benefits/consents"), ("GET", "/benefits/consents/{id}"),
                ("POST", "/benefits/consents/{id}/withdrawal"), ("GET", "/benefits/persons/{id}/history"))),
})
TICKETS = section("tickets", {
    "tickets:read": Permission(_roles(*_EVERY_READER, "vendor"),
                               "Read tickets: agents those of desks in their area, everyone else their own"),
    "tickets:write": Permission(_roles(*_FIELD, "ward_member", "department_officer", *_HELPDESK),
                                "Raise tickets, comment, answer, close, reopen and rate your own"),
    "tickets:work": Permission(
        _roles(*_HELPDESK, "department_officer"),
        "Work tickets at a help desk: see the tickets of desks at or below your area, assign, move through "
        "states, internal notes, escalate by hand, the desk queue and its live stream",
        level=Level.BLOCK_UPAZILA),
    "tickets:admin": Permission(frozenset(), "Help desks and their agents, business calendars and holidays, SLA "
                                             "targets per level and category"),
    "tickets:track": Permission(
        frozenset(), "The public status page by tracking number: status, level, desk, deadline and the public "
                     "timeline, nothing private; the reporter follows the SMS link with no credential",
        routes=(("GET", "/tickets/track/{number}"),), anonymous=True),
})
NOTIFY = section("notify", {
    "notify:read": Permission(
        _roles(*_HELPDESK, "anganwadi_worker", "department_officer", "auditor"),
        "Read messages and their delivery log, templates, previews, opt-outs, schedules and due lists",
        routes=(("POST", "/notify/templates/preview"), ("POST", "/notify/templates/plan"))),  # reads by POST
    "notify:send": Permission(_roles(*_HELPDESK, "department_officer"),
                              "Send SMS / voice alerts from templates (idempotent by key)"),
    "notify:opt_out": Permission(
        _roles(*_HELPDESK, "anganwadi_worker", "department_officer"),
        "Record what a person asked for in person or by phone: an opt-out (or lifting it), calls instead of SMS",
        routes=(("POST", "/notify/opt-outs"), ("DELETE", "/notify/opt-outs/{phone}"),
                ("PUT", "/notify/contacts/{id}/preferences"))),
    "notify:dose_record": Permission(
        _roles("anganwadi_worker", "department_officer"),
        "Record a vaccine dose given (cancels its pending reminders)", level=Level.VILLAGE_WARD,
        routes=(("POST", "/notify/doses"),)),
    "notify:admin": Permission(
        frozenset(), "Templates (DLT ids), immunisation schedule versions, anganwadi workers, reminder runs; "
        "every webhook subscription"),
    "notify:campaign": Permission(
        _roles("department_officer"),
        "Broadcast campaigns to an area's people or functionaries (or an uploaded list, CSV read and checked): "
        "create, start, pause, resume, cancel",
        routes=(("POST", "/notify/campaigns"), ("POST", "/notify/campaigns/recipient-list"),
                *(("POST", f"/notify/campaigns/{{id}}/{a}") for a in ("start", "pause", "resume", "cancel")))),
    "notify:survey_answer": Permission(
        frozenset(), "A recipient answers a survey from the link in their SMS (the link's token is the credential)",
        routes=(("GET", "/notify/surveys/{token}"),), anonymous=True),
    "notify:webhooks": Permission(
        _roles("department_officer"),
        "Subscribe your system's endpoint to events of your areas, read its delivery log, redeliver, resume, "
        "rotate its secret (a partner or department client given this scope)",
        routes=(*((m, f"/notify/webhooks/subscriptions{p}") for m, p in (
            ("POST", ""), ("GET", ""), ("GET", "/{id}"), ("DELETE", "/{id}"), ("POST", "/{id}/resume"),
            ("POST", "/{id}/secret"), ("GET", "/{id}/deliveries"))),
            ("GET", "/notify/webhooks/deliveries/{id}"), ("POST", "/notify/webhooks/deliveries/{id}/redeliver"))),
})
MARKETPLACE = section("marketplace", {
    "marketplace:read": Permission(_roles("e_volunteer", *_HELPDESK, "vendor", "department_officer", "auditor"),
                                   "Read the rate card, workers in reach, offers and bookings, and how current the "
                                   "marketplace's registry copy is (`GET /registry-copy`)"),
    "marketplace:write": Permission(_roles("e_volunteer", "vendor", "call_centre_agent", "department_officer"),
                                    "Write calls at the gateway (each needs one of the finer rows below too)"),
    "marketplace:admin": Permission(
        frozenset(), "Rate card (categories, items, rates, cancellation terms), vendors, departments and "
        "offices, Beckn subscribers; holds every marketplace row below"),
    "marketplace:workers_manage": Permission(
        _roles("vendor"), "Enrol and edit workers, skills, shifts and verifications of the vendors that list "
        "the caller as a member"),
    "marketplace:worker_act": Permission(
        _roles("vendor"), "Accept or decline offers, on the way, arrived, start and complete with the "
        "customer's codes, availability (a vendor for its workers; a worker's own login for itself)"),
    "marketplace:book": Permission(
        frozenset(), "Book as a citizen through a partner app or portal (any client with marketplace:write "
        "books on this channel too)"),
    "marketplace:book_assisted": Permission(
        _roles("call_centre_agent", "e_volunteer"), "Book on a caller's behalf (recorded as assisted); record a "
        "call that ended without a booking (calls per day)"),
    "marketplace:book_department": Permission(
        _roles("department_officer"), "Book against an office of a department in the area scope, with a "
        "purchase reference"),
    "marketplace:bookings_manage": Permission(
        _roles("call_centre_agent"), "Cancel, reschedule, rate or dispute any booking in the area scope"),
    "marketplace:bookings_read_all": Permission(
        _roles("call_centre_agent", "auditor"), "Read every booking in the area scope"),
    "marketplace:reports": Permission(
        _roles("department_officer", "auditor"), "Adoption reports, department statements, worker earnings "
        "and idle workers"),
})

SECTIONS: tuple[Section, ...] = (REGISTRY, BENEFITS, TICKETS, NOTIFY, MARKETPLACE)
PERMISSIONS: dict[str, Permission] = {name: p for s in SECTIONS for name, p in s.permissions.items()}


# --------------------------------------------------------------------------------------- derived
def role_scopes() -> dict[str, list[str]]:
    """Role → the scopes the gateway puts in its tokens (the gateway's ROLE_SCOPES)."""
    out: dict[str, list[str]] = {role: [] for role in ROLES}
    for name, permission in PERMISSIONS.items():
        for role in permission.roles:
            out[role].append(name)
    out["admin"] = [ALL_SCOPE]
    return {role: sorted(scopes) for role, scopes in out.items()}


def scopes_for_roles(roles: Iterable[str]) -> list[str]:
    table = role_scopes()
    return sorted({scope for role in roles for scope in table.get(role, [])})


def roles_for(permission: str) -> frozenset[str]:
    """Roles that hold a permission (admin always does, through ``*``)."""
    return PERMISSIONS[permission].roles | {"admin"}


def _route_regex(path: str) -> re.Pattern[str]:
    parts = [("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p)) for p in path.split("/")]
    return re.compile("^" + "/".join(parts) + "/?$")


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, _route_regex(path), name) for name, p in PERMISSIONS.items() for method, path in p.routes
]


def route_permissions(method: str, public_path: str) -> list[str]:
    """Finer permissions that admit this gateway route on their own (beside the coarse scope)."""
    return [name for m, regex, name in _ROUTES if m == method and regex.match(public_path)]


_ANONYMOUS = frozenset(name for name, p in PERMISSIONS.items() if p.anonymous)


def anonymous_permission(method: str, public_path: str) -> str | None:
    """The permission that opens this gateway route to anyone without a credential, if one does."""
    return next((name for name in route_permissions(method, public_path) if name in _ANONYMOUS), None)


# ---------------------------------------------------------------------------------------- checks
def holds(identity: Identity, permission: str) -> bool:
    """Held through a role named in the row, or through the scope itself (clients, ``*``)."""
    return identity.has_scope(permission) or bool(set(identity.roles) & roles_for(permission))


def covers_at_level(area_scope: Iterable[str], code: str, level: Level | None) -> bool:
    """Some area of the scope contains ``code`` and is ``level`` or wider."""
    return any(is_within(code, area) and (level is None or area.count(SEPARATOR) <= level)
               for area in area_scope)


def permitted(identity: Identity, permission: str, area_code: str | None = None) -> bool:
    if not holds(identity, permission):
        return False
    if area_code is None:
        return True
    return covers_at_level(identity.area_scope, area_code, PERMISSIONS[permission].level)


def require(identity: Identity, permission: str, area_code: str | None = None, *, doing: str = "") -> None:
    """Forbidden (403) naming who may, when the caller does not hold ``permission`` here."""
    from kernel.errors import Forbidden

    row = PERMISSIONS[permission]
    what = doing or row.description[0].lower() + row.description[1:]
    if not holds(identity, permission):
        who = ", ".join(sorted(roles_for(permission)))
        raise Forbidden(f"Only {who} (or a client with the {permission!r} scope) may {what}.",
                        permission=permission)
    if area_code is not None and not covers_at_level(identity.area_scope, area_code, row.level):
        assert row.level is not None  # without a level, coverage is the area check already done
        raise Forbidden(f"To {what} your area scope must include this record at {row.level.label} level "
                        "or wider.", permission=permission)


# ----------------------------------------------------------------------------------------- docs
def markdown_rows(service: str) -> list[str]:
    """The rows of ``docs/roles.md`` for one service (``python -m kernel.roles <service>`` prints them)."""
    rows = ["| Permission | Roles | Area level (narrowest) | Routes it opens alone | What |",
            "|---|---|---|---|---|"]
    for s in SECTIONS:
        if s.service != service:
            continue
        for name, p in s.permissions.items():
            who = ", ".join(f"`{r}`" for r in sorted(p.roles)) or "— (admin, or a client with this scope)"
            if p.anonymous:
                who = "anyone: no credential at the gateway, rate limited per source address"
            level = p.level.label if p.level is not None else "any in scope"
            routes = "<br>".join(f"`{m} {path}`" for m, path in p.routes) or "—"
            rows.append(f"| `{name}` | {who} | {level} | {routes} | {p.description} |")
    return rows


def markdown_roles() -> list[str]:
    rows = ["| Role | Usually scoped at | Who |", "|---|---|---|"]
    rows += [f"| `{name}` | {role.works_at.label} | {role.description} |" for name, role in ROLES.items()]
    return rows


if __name__ == "__main__":  # pragma: no cover - a helper for editing docs/roles.md
    import sys

    for arg in sys.argv[1:] or ["roles", *(s.service for s in SECTIONS)]:
        print(f"## {arg}\n")
        print("\n".join(markdown_roles() if arg == "roles" else markdown_rows(arg)) + "\n")
