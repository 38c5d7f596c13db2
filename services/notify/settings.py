"""Notify-only settings (``GRAMSETU_NOTIFY_*``): the Twilio account, where callbacks reach us, pacing.

In development and tests the Twilio account is the local stand-in's (``twilio_api_base`` points
the real SDK at it); production sets the real account, token and base URL left empty.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "dev-only-twilio-auth-token"  # noqa: S105 (refused in production below)
DEV_WEBHOOK_KEY = "Z3JhbXNldHUtZGV2LW5vdGlmeS13ZWJob29rLWtleSE="  # Fernet key; refused in production below


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_NOTIFY_", env_file=".env", extra="ignore")

    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: str = DEV_AUTH_TOKEN
    # Empty: Twilio itself.  Otherwise the stand-in (or any Twilio-compatible API) at this URL.
    twilio_api_base: str = "http://127.0.0.1:8199"
    twilio_messaging_service_sid: str | None = None
    sms_from: str = "+15005550006"
    voice_from: str = "+15005550006"
    # The public URL Twilio posts status callbacks and keypresses to (this service's /callbacks routes).
    public_callback_base: str = "http://127.0.0.1:8104"
    standin_port: int = 8199  # `gramsetu up` starts the stand-in here when twilio_api_base is local
    provider_timeout_seconds: float = 10.0

    # Sending.
    dispatch_batch_size: int = 200
    dispatch_concurrency: int = 64
    dispatch_poll_interval_seconds: float = 0.2
    max_attempts: int = 5
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # An attempt still "sending" after this long is reconciled with the provider's message list.
    reconcile_after_seconds: float = 60.0
    sender_messages_per_second: float = 100.0
    account_messages_per_second: float = 400.0
    voice_calls_per_second: float = 1.0
    quiet_start_hour: int = 21  # local time of the recipient
    quiet_end_hour: int = 8
    default_validity_hours: int = 24
    provider_queue_validity_seconds: int = 36_000  # Twilio's 10 h
    cost_per_segment: dict[str, float] = {"IN": 0.0832, "BD": 0.3651}  # USD per SMS segment
    cost_per_call_minute: float = 0.0485

    # Campaigns: how often a running campaign queues its next slice of recipients.
    campaign_tick_seconds: int = 10

    # Webhooks for partner and department systems.
    webhook_secret_key: str = DEV_WEBHOOK_KEY  # Fernet key the subscriptions' signing secrets are stored under
    webhook_timeout_seconds: float = 5.0  # a slow endpoint is a failed attempt, never a stuck worker
    webhook_pause_after_failures: int = 15  # consecutive failed attempts before the subscription is paused
    webhook_concurrency: int = 4  # deliveries in flight per process (one scheduler loop each)
    webhook_poll_interval_seconds: float = 0.5
    webhook_lease_seconds: float = 60.0  # a crashed worker's lane jobs are taken over after this
    webhook_allow_http: bool = True  # plain http:// endpoints: honoured in development and tests only

    def check_production(self, environment: str) -> None:
        """Outside development: a real account and token, and Twilio itself (not the local stand-in)."""
        if environment == "development":
            return
        if self.webhook_secret_key in ("", DEV_WEBHOOK_KEY):
            raise RuntimeError("set GRAMSETU_NOTIFY_WEBHOOK_SECRET_KEY (a Fernet key; the development key is "
                               "refused outside development)")
        if self.twilio_auth_token in ("", DEV_AUTH_TOKEN) or self.twilio_account_sid in ("", DEV_ACCOUNT_SID):
            raise RuntimeError("set GRAMSETU_NOTIFY_TWILIO_ACCOUNT_SID and GRAMSETU_NOTIFY_TWILIO_AUTH_TOKEN "
                               "(the development values are refused outside development)")
        if "127.0.0.1" in self.twilio_api_base or "localhost" in self.twilio_api_base:
            raise RuntimeError("GRAMSETU_NOTIFY_TWILIO_API_BASE points at the local stand-in: set it empty "
                               "(Twilio itself) outside development")


@lru_cache
def get_notify_settings() -> NotifySettings:
    return NotifySettings()
