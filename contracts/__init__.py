"""Event contracts: the only code services share besides the kernel.

Import this package to register every contract (``EVENT_TYPES``)."""

from contracts.base import EVENT_TYPES, Envelope, Event, stream_for_subject
from contracts.registry import AreaCreated, AreaUpdated

__all__ = ["EVENT_TYPES", "AreaCreated", "AreaUpdated", "Envelope", "Event", "stream_for_subject"]
