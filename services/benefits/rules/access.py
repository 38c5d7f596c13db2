"""Who may do what in benefits, as data (until the shared role table lands in kernel/roles.py).

Scopes are checked with ``Identity.has_scope`` (``benefits:*`` and ``*`` hold every one):
"""

from __future__ import annotations

from kernel.auth import Identity

SCOPES = {
    "benefits:read": "read the catalogue, the ledger (in your area), coverage and flags",
    "benefits:write": "any write through the gateway (plus the finer scope below)",
    "benefits:post:<DEPARTMENT>": "post and reverse ledger entries for that department's schemes only",
    "benefits:review": "decide double-dipping flags (confirm: recovery entry; dismiss: reason)",
    "benefits:admin": "departments, schemes, rule versions; post for any department; run the sweep",
    "benefits:public": "the transparency reports (aggregates with small cells suppressed), for a public client",
    "benefits:history": "a person's own benefit history for a partner app, with the person's consent",
}


def may_post_for(identity: Identity, department_code: str) -> bool:
    return identity.has_scope(f"benefits:post:{department_code}") or identity.has_scope("benefits:admin")
