"""Event contracts: the only code services share besides the kernel.

Import this package to register every contract (``EVENT_TYPES``)."""

from contracts.base import EVENT_TYPES, Envelope, Event, stream_for_subject
from contracts.benefits import EntryPosted, EntryReversed, FlagDecided, FlagRaised
from contracts.marketplace import (
    BookingAssigned,
    BookingCancelled,
    BookingCompleted,
    BookingCreated,
    ComplaintRaised,
    RatingPosted,
)
from contracts.notify import DoseRecorded, MessageDelivered, MessageFailed, OptOutRecorded
from contracts.registry import (
    AreaCreated,
    AreaUpdated,
    HouseholdCreated,
    HouseholdMoved,
    HouseholdUpdated,
    PersonDeceased,
    PersonDuplicateDismissed,
    PersonDuplicateLinked,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
    RoundClosed,
    SurveyApproved,
)
from contracts.tickets import TicketAssigned, TicketCreated, TicketEscalated, TicketReopened, TicketResolved

__all__ = [
    "EVENT_TYPES", "AreaCreated", "AreaUpdated", "Envelope", "Event", "HouseholdCreated", "HouseholdMoved",
    "HouseholdUpdated", "PersonDeceased", "PersonMerged", "PersonRegistered", "PersonUpdated", "SurveyApproved",
    "stream_for_subject",
]
__all__ += ["PersonDuplicateDismissed", "PersonDuplicateLinked", "RoundClosed"]
__all__ += ["EntryPosted", "EntryReversed", "FlagDecided", "FlagRaised"]
__all__ += ["TicketAssigned", "TicketCreated", "TicketEscalated", "TicketReopened", "TicketResolved"]
__all__ += ["DoseRecorded", "MessageDelivered", "MessageFailed", "OptOutRecorded"]
__all__ += ["BookingAssigned", "BookingCancelled", "BookingCompleted", "BookingCreated", "ComplaintRaised",
            "RatingPosted"]
