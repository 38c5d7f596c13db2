"""Marketplace-only settings (``GRAMSETU_MARKETPLACE_*``).

The OTP key and the BPP's Ed25519 signing seed have development defaults that are refused in
production.  ``beckn_domain`` is configurable because ONDC's service domain codes move
(SRV10/11/... across drafts)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_OTP = "dev-only-marketplace-otp-key"
_DEV_SEED = base64.b64encode(hashlib.sha256(b"dev-only-marketplace-bpp-key").digest()).decode()


class MarketplaceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_MARKETPLACE_", env_file=".env", extra="ignore")

    otp_key: str = _DEV_OTP
    default_radius_km: float = 15.0
    max_radius_km: float = 50.0
    candidates: int = 24  # nearest workers fetched before re-ranking by distance, rating and load
    rematch_after_seconds: int = 300  # nobody free: look again this often
    rematch_attempts: int = 12  # then the booking is cancelled as unmatched (no fee)
    default_slot_minutes: int = 120
    # The registry copy is current while its newest event is at most this old: then a link to a person
    # (or identifier type) it does not know is refused; beyond it such a link is kept as pending.
    registry_copy_max_lag_seconds: int = 900

    bpp_id: str = "marketplace.gramsetu.example"
    bpp_uri: str = "http://127.0.0.1:8105/beckn"
    bpp_unique_key_id: str = "k1"
    bpp_signing_seed: str = _DEV_SEED  # base64 of the 32-byte Ed25519 private seed
    beckn_domain: str = "ONDC:SRV11"
    beckn_version: str = "1.1.0"
    beckn_country: str = "IND"
    beckn_max_clock_skew_seconds: int = 300
    # The network registry subscriber keys are looked up in (beckn/registry.py); empty: the keys an
    # administrator put in the subscriber table (a private network, development).
    beckn_registry_url: str = ""
    beckn_registry_cache_seconds: int = 300
    beckn_registry_miss_cache_seconds: int = 30
    beckn_registry_timeout_seconds: float = 3.0
    callback_timeout_seconds: float = 10.0

    def check_production(self, environment: str) -> None:
        if environment == "production" and (self.otp_key == _DEV_OTP or self.bpp_signing_seed == _DEV_SEED):
            raise RuntimeError("set GRAMSETU_MARKETPLACE_OTP_KEY and GRAMSETU_MARKETPLACE_BPP_SIGNING_SEED "
                               "in production")


@lru_cache
def get_marketplace_settings() -> MarketplaceSettings:
    return MarketplaceSettings()
