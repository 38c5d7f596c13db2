"""Twilio's test-credential magic numbers and the stand-in's own delivery outcomes.

Creation errors follow Twilio's "Test Credentials" page.  Test credentials never produce
status callbacks, so what happens after acceptance is the stand-in's choice; the numbers
below (and any number set through ``POST /_standin/outcomes``) give each outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

VALID_TEST_FROM = "+15005550006"

SMS_FROM_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21212, "The 'From' number +15005550001 is not a valid phone number, shortcode, "
                            "or alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number "
                            "for this destination/account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages."),
}
SMS_TO_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated "
                            "by the 'To' number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
CALL_TO_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21217, "Phone number does not appear to be valid"),
    "+15005550002": (21214, "'To' phone number cannot be reached"),
    "+15005550003": (21215, "Geo Permission configuration is not permitting call"),
    "+15005550004": (21216, "Call blocked by Twilio blocklist"),
}


@dataclass(frozen=True)
class Outcome:
    """The final status of an accepted message or call, and its error code if it did not arrive."""

    status: str
    error_code: int | None = None

    @classmethod
    def parse(cls, text: str) -> Outcome:
        """``delivered`` / ``undelivered:30003`` / ``failed:30006`` / ``no-answer`` ..."""
        status, _, code = text.partition(":")
        return cls(status, int(code) if code else None)


DEFAULT_SMS_OUTCOMES: dict[str, Outcome] = {
    "+15005550010": Outcome("undelivered", 30003),  # unreachable handset
    "+15005550011": Outcome("undelivered", 30005),  # unknown destination
    "+15005550012": Outcome("failed", 30006),  # landline or unreachable carrier
}
DEFAULT_CALL_OUTCOMES: dict[str, Outcome] = {
    "+15005550010": Outcome("no-answer"),
    "+15005550011": Outcome("busy"),
}
SMS_ERROR_MESSAGES = {
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
}
