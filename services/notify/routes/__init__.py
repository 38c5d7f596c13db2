"""Notify HTTP routes: parse, authorise, delegate to service functions."""

from services.notify.routes import callbacks, messages, optouts, templates

ROUTERS = [templates.router, messages.router, optouts.router, callbacks.router]

__all__ = ["ROUTERS"]
