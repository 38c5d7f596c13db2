"""Notify HTTP routes: parse, authorise, delegate to service functions."""

from services.notify.routes import callbacks, contacts, duelists, messages, optouts, rules, templates, webhooks

ROUTERS = [templates.router, messages.router, optouts.router, duelists.router, rules.router, contacts.router,
           webhooks.router, callbacks.router]

__all__ = ["ROUTERS"]
