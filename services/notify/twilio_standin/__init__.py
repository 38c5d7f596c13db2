"""A local stand-in for Twilio's REST API (Messages, Calls) used by ``make run``, the tests and the bench.

It answers the real ``twilio`` SDK's requests with Twilio-shaped JSON and errors, imitates
Twilio's test-credential magic numbers, and plays delivery back as status callbacks signed
the way Twilio signs them (``X-Twilio-Signature``).  Nothing here is imported by the service's
sending path: the service talks to it only over HTTP, through the SDK.
"""

from services.notify.twilio_standin.app import create_standin_app
from services.notify.twilio_standin.signing import twilio_signature

__all__ = ["create_standin_app", "twilio_signature"]
