"""Who may see and do what with tickets: the rows of ``kernel/roles.py`` (section tickets), applied.

Helpdesk agents (``tickets:work``) see the tickets whose current desk lies inside their area scope,
at block / upazila level or wider: a block agent (scope = the block) sees the block desk and
anything below it; a district agent sees the whole district.  Everyone else who may use tickets
(anganwadi workers, e-volunteers, citizens' apps) is a reporter and sees only the tickets they raised.
"""

from __future__ import annotations

from kernel.auth import Identity
from kernel.roles import PERMISSIONS, holds, permitted

WORK = "tickets:work"
ADMIN_SCOPE = "tickets:admin"


def is_agent(identity: Identity) -> bool:
    return holds(identity, WORK)


def agent_sees(identity: Identity, desk_area_code: str) -> bool:
    return permitted(identity, WORK, desk_area_code)


def agent_areas(identity: Identity) -> list[str]:
    """The caller's areas wide enough to work tickets in (the list filter that matches :func:`agent_sees`)."""
    level = PERMISSIONS[WORK].level
    return [a for a in identity.area_scope if level is None or a.count("-") <= level]
