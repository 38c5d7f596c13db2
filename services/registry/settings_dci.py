"""DCI API settings (``GRAMSETU_REGISTRY_DCI_*``): who we are, our signing key, limits.

The development signing key is derived from a constant and refused outside development and tests.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.settings import LOCAL_ENVIRONMENTS, refuse_weak_secrets

_DEV_SIGNING_KEY = base64.b64encode(hashlib.sha256(b"dev-only-registry-dci-signing-key").digest()).decode()


class DciSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_REGISTRY_DCI_", env_file=".env", extra="ignore")

    registry_id: str = "gramsetu-registry"  # our sender_id in callbacks; the receiver_id callers address
    signing_key: str = _DEV_SIGNING_KEY  # base64 of the 32-byte Ed25519 private seed
    key_id: str = "k1"
    # Senders onboarded with require_signature=false are served without a verified signature in
    # development and tests; anywhere else only when the operator turns this on explicitly.
    allow_unsigned_senders: bool = False
    signature_max_skew_seconds: int = 60  # how far in the future `created` may be
    signature_ttl_seconds: int = 300
    max_batch: int = 50  # search_request / subscribe_request items per message
    max_page_size: int = 500
    default_page_size: int = 100
    max_body_bytes: int = 1 << 20
    callback_timeout_seconds: float = 10.0
    callback_max_attempts: int = 8  # the scheduler retries with exponential backoff

    def unsigned_allowed(self, environment: str) -> bool:
        return self.allow_unsigned_senders or environment in LOCAL_ENVIRONMENTS

    def check_production(self, environment: str) -> None:
        """Outside development and tests the signing key must be set and not the development value."""
        try:
            refuse_weak_secrets(environment,
                                {"GRAMSETU_REGISTRY_DCI_SIGNING_KEY": (self.signing_key, _DEV_SIGNING_KEY)})
        except ValueError as exc:
            raise RuntimeError(str(exc)) from exc


@lru_cache
def get_dci_settings() -> DciSettings:
    return DciSettings()
