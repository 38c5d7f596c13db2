"""The API gateway: one door for partner apps, department systems and operators.

It authenticates callers (API keys, OAuth2 client-credentials JWTs, operator logins),
checks the scope a route needs, rate-limits, and forwards a signed identity context
(:mod:`kernel.auth`) to the service behind it.
"""

SERVICE = "gateway"
