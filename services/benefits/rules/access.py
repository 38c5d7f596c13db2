"""Who posts for which department: the permission table (kernel/roles.py, section benefits) says *what*
a caller may do; a department's list of posters says *for whom*.  A caller posts for a department's
schemes when it holds ``benefits:post`` and the department lists it (its client id or subject), or
holds ``benefits:admin``."""

from __future__ import annotations

from collections.abc import Collection

from kernel import roles
from kernel.auth import Identity


def actor_ids(identity: Identity) -> list[str]:
    return sorted({identity.subject, *([identity.client_id] if identity.client_id else [])})


def may_post_for(identity: Identity, department_code: str, posting_for: Collection[str]) -> bool:
    """``posting_for``: the departments whose poster list names this caller."""
    if roles.holds(identity, "benefits:admin"):
        return True
    return roles.holds(identity, "benefits:post") and department_code in posting_for
