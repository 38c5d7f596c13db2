"""Benefits-only settings (``GRAMSETU_BENEFITS_*``).

``id_hmac_key`` must equal the registry's ``GRAMSETU_REGISTRY_ID_HMAC_KEY``: the registry's person
events carry the keyed lookup hashes of each person's identifiers (never the values), and benefits
hashes the identifier a department posts against with the same key to find the person in its copy.
When ``GRAMSETU_BENEFITS_ID_HMAC_KEY`` is unset the registry's variable is read, so one secret serves
both.  The ledger's chain heads are signed with an Ed25519 key derived from ``ledger_signing_seed``.
The development defaults are refused in production.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_HMAC = "dev-only-registry-id-hmac-key"  # the registry's development default (they must agree)
_DEV_SEED = base64.urlsafe_b64encode(hashlib.sha256(b"dev-only-benefits-ledger-signing-seed").digest()).decode()


class BenefitsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_BENEFITS_", env_file=".env", extra="ignore")

    id_hmac_key: str = Field(
        default=_DEV_HMAC,
        validation_alias=AliasChoices("GRAMSETU_BENEFITS_ID_HMAC_KEY", "GRAMSETU_REGISTRY_ID_HMAC_KEY"),
    )
    ledger_signing_seed: str = _DEV_SEED  # a strong secret; the Ed25519 seed is its SHA-256
    ledger_key_id: str = "ledger-1"
    dci_sender_id: str = "gramsetu-benefits"  # the DCI replies' sender_id (and the signature's kidId)
    dci_key_id: str = "benefits-dci-1"  # the key is derived from ledger_signing_seed under its own label
    small_cell_threshold: int = 5  # transparency cells with fewer beneficiaries are suppressed
    file_max_bytes: int = 50 * 1024 * 1024
    file_chunk_rows: int = 1000  # rows posted per transaction step of a file (progress granularity)
    sweep_interval_seconds: int = 3600
    verify_interval_seconds: int = 86400
    export_max_rows: int = 200_000

    def check_production(self, environment: str) -> None:
        if environment == "production" and (self.id_hmac_key == _DEV_HMAC or self.ledger_signing_seed == _DEV_SEED):
            raise RuntimeError(
                "set GRAMSETU_BENEFITS_ID_HMAC_KEY (the registry's ID hash key) and "
                "GRAMSETU_BENEFITS_LEDGER_SIGNING_SEED in production"
            )


@lru_cache
def get_benefits_settings() -> BenefitsSettings:
    return BenefitsSettings()
