"""Outbound DCI callbacks: where they may go (SSRF guard, OWASP API7) and how they are sent.

A callback goes only to a URL under one of the sender's onboarded allow-list prefixes, over
https (plain http only to a loopback host, and never in production), with no credentials in
the URL and no redirects followed; so a caller cannot make the registry reach internal hosts.
Retries are the scheduler's: a failed POST raises and the job runs again with backoff.
Every POST carries an ``Idempotency-Key`` header (the callback's effect key, recorded as attempted
by kernel.effects before the POST leaves, see dci_jobs): a repeat after a crash or a lost answer
comes with the same key and the same DCI ``message_id``, so the receiver can drop it.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from kernel.settings import get_settings
from services.registry.service import dci_signing
from services.registry.settings_dci import get_dci_settings

# Callback endpoint per reply action: the path the caller serves, relative to its DCI base.
CALLBACK_PATHS = {
    "on-search": "/on-search",
    "on-subscribe": "/on-subscribe",
    "on-unsubscribe": "/on-unsubscribe",
    "txn-on-status": "/txn/on-status",
    "notify": "/notify",
}
_LOOPBACK_NAMES = {"localhost"}


class CallbackRefused(ValueError):
    """The URL is not an allowed callback target (error code err.sender_uri.invalid)."""


class CallbackFailed(RuntimeError):
    """The receiver did not accept the callback; the scheduler retries."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url_shape(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable callback URL, or :class:`CallbackRefused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackRefused("The callback URL cannot be parsed") from exc
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise CallbackRefused("The callback URL must be an absolute https URL")
    if parts.username or parts.password or parts.fragment:
        raise CallbackRefused("The callback URL must not carry credentials or a fragment")
    if parts.scheme == "http" and (not _is_loopback(host) or get_settings().is_production):
        raise CallbackRefused("Callbacks go over https (plain http only to a loopback host in development)")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), parts.path or "/"


def is_allowed(url: str, allowlist: Sequence[str]) -> bool:
    scheme, host, port, path = check_url_shape(url)
    for entry in allowlist:
        try:
            e_scheme, e_host, e_port, e_path = check_url_shape(entry)
        except CallbackRefused:
            continue
        prefix = e_path if e_path.endswith("/") else e_path + "/"
        if (scheme, host, port) == (e_scheme, e_host, e_port) and (path == e_path or path.startswith(prefix)):
            return True
    return False


def callback_base(sender_uri: str) -> str:
    """The caller's DCI base URL: ``sender_uri`` may name the base or one of its callback endpoints."""
    base = sender_uri.rstrip("/")
    for path in CALLBACK_PATHS.values():
        if base.endswith(path):
            return base[: -len(path)]
    return base


def resolve_callback(sender_uri: str | None, sender: Any) -> str:
    """The base URL replies go to: the header's ``sender_uri``, else the onboarded default; allow-listed."""
    uri = sender_uri or sender["default_callback_uri"]
    if not uri:
        raise CallbackRefused("No sender_uri was given and the sender has no default callback URL")
    base = callback_base(uri)
    for action_path in CALLBACK_PATHS.values():
        if not is_allowed(base + action_path, sender["callback_allowlist"]):
            raise CallbackRefused("The callback URL is not in the sender's onboarded allow-list")
    return base


def callback_header(action: str, *, message_key: str, receiver_id: str, status: str, total: int, completed: int,
                    reason_code: str | None = None) -> dict[str, Any]:
    settings = get_dci_settings()
    header: dict[str, Any] = {
        "version": "1.0.0",
        # Stable across retries, so the receiver can drop a callback it already processed.
        "message_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"gramsetu:dci:{action}:{message_key}")),
        "message_ts": datetime.now(timezone.utc).isoformat(),
        "action": action,
        "status": status,
        "total_count": total,
        "completed_count": completed,
        "sender_id": settings.registry_id,
        "receiver_id": receiver_id,
        "is_msg_encrypted": False,
    }
    if reason_code:
        header["status_reason_code"] = reason_code
    return header


def signed_envelope(header: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    settings = get_dci_settings()
    key = dci_signing.private_key_from_seed(settings.signing_key)
    signature = dci_signing.sign(header, message, key, sender_id=settings.registry_id, key_id=settings.key_id,
                                 ttl=settings.signature_ttl_seconds)
    return {"signature": signature, "header": header, "message": message}


async def post(base: str, action: str, envelope: dict[str, Any], allowlist: Sequence[str], *,
               idempotency_key: str) -> dict[str, Any]:
    """POST one callback; returns what is stored as the effect's result (the receiver's HTTP status)."""
    url = base + CALLBACK_PATHS[action]
    if not is_allowed(url, allowlist):  # the allow-list may have shrunk since the request
        raise CallbackFailed("callback URL no longer allowed for this sender")
    settings = get_dci_settings()
    seconds = settings.callback_timeout_seconds
    timeout = aiohttp.ClientTimeout(total=seconds, connect=min(5.0, seconds))
    body = json.dumps(envelope, separators=(",", ":"), default=str)
    headers = {"Content-Type": "application/json", "Signature": envelope["signature"],
               "Idempotency-Key": idempotency_key}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as client, client.post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            if not 200 <= response.status < 300:
                raise CallbackFailed(f"callback answered HTTP {response.status}")
            return {"http_status": response.status, "message_id": envelope["header"]["message_id"]}
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CallbackFailed(f"callback failed: {type(exc).__name__}") from exc
