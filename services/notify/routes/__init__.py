"""Notify HTTP routes: parse, authorise, delegate to service functions."""

from services.notify.routes import callbacks, duelists, messages, optouts, templates

ROUTERS = [templates.router, messages.router, optouts.router, duelists.router, callbacks.router]

__all__ = ["ROUTERS"]
