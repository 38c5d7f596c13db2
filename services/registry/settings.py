"""Registry-only settings (``GRAMSETU_REGISTRY_*``): the keys protecting national identifiers.

Identifiers are stored three ways (see ``service/identifiers.py``): a keyed hash (HMAC-SHA256
under ``id_hmac_key``) of the matching key for lookups and uniqueness, the value encrypted
(Fernet under ``id_encryption_key``) for the rare authorised disclosure and key rotation, and
the last four characters for display.  The development defaults (and empty keys) are refused
outside development and tests.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.settings import refuse_weak_secrets

_DEV_HMAC = "dev-only-registry-id-hmac-key"
_DEV_ENC = base64.urlsafe_b64encode(hashlib.sha256(b"dev-only-registry-id-encryption-key").digest()).decode()


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_REGISTRY_", env_file=".env", extra="ignore")

    id_hmac_key: str = _DEV_HMAC
    id_encryption_key: str = _DEV_ENC  # a Fernet key: 32 bytes, urlsafe base64
    k_anonymity_threshold: int = 5  # statistics cells below this are suppressed
    export_max_rows: int = 100_000

    def check_production(self, environment: str) -> None:
        """Outside development and tests, both keys must be set and not the development values."""
        try:
            refuse_weak_secrets(environment, {
                "GRAMSETU_REGISTRY_ID_HMAC_KEY": (self.id_hmac_key, _DEV_HMAC),
                "GRAMSETU_REGISTRY_ID_ENCRYPTION_KEY": (self.id_encryption_key, _DEV_ENC),
            })
        except ValueError as exc:
            raise RuntimeError(str(exc)) from exc


@lru_cache
def get_registry_settings() -> RegistrySettings:
    return RegistrySettings()
