"""How Twilio signs the requests it sends to your webhooks (written from Twilio's description,
independently of ``twilio.request_validator``, so the tests check one against the other)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """Base64 HMAC-SHA1, keyed by the account's auth token, of the full URL followed by each POST
    parameter's name and value, sorted by name (a repeated name contributes each of its values)."""
    payload = url
    for name in sorted(params):
        value = params[name]
        for item in ([value] if isinstance(value, str) else sorted(value)):
            payload += name + item
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
