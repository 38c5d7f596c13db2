"""Notify HTTP routes: parse, authorise, delegate to service functions."""

from services.notify.routes import (
    callbacks,
    campaigns,
    contacts,
    duelists,
    messages,
    optouts,
    rules,
    templates,
    webhooks,
)

ROUTERS = [templates.router, messages.router, optouts.router, duelists.router, rules.router, contacts.router,
           webhooks.router, campaigns.router, campaigns.public, callbacks.router]

__all__ = ["ROUTERS"]
