"""Providers behind one interface, so another SMS gateway can be added beside Twilio."""

from services.notify.providers.base import Accepted, OutboundCall, OutboundSms, Provider, ProviderError, SentMessage

__all__ = ["Accepted", "OutboundCall", "OutboundSms", "Provider", "ProviderError", "SentMessage"]
