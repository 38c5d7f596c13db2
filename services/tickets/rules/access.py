"""Who may see and do what with tickets: roles as data, checked by the service.

Helpdesk agents see the tickets whose current desk lies inside their area scope: a block agent
(scope = the block) sees the block desk and anything below it; a district agent sees the whole
district.  Everyone else who may use tickets (anganwadi workers, e-volunteers, citizens' apps)
is a reporter and sees only the tickets they raised.
"""

from __future__ import annotations

from collections.abc import Iterable

AGENT_ROLES = frozenset({
    "block_helpdesk_agent", "district_helpdesk_agent", "state_helpdesk_agent", "call_centre_agent",
    "department_officer", "admin",
})
# Setting up desks, calendars and SLA targets.
ADMIN_SCOPE = "tickets:admin"


def is_agent(roles: Iterable[str]) -> bool:
    return bool(AGENT_ROLES.intersection(roles))
