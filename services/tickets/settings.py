"""Tickets-only settings (``GRAMSETU_TICKETS_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class TicketsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_TICKETS_", env_file=".env", extra="ignore")

    # Targets when no SLA policy names the level and category (business minutes).
    default_first_response_minutes: int = 240
    default_resolution_minutes: int = 1440
    near_breach_seconds: int = 3600  # a live deadline this close counts as near breach
    metrics_refresh_seconds: int = 30  # how often the open/near-breach/breached gauges are recounted
    sse_heartbeat_seconds: float = 15.0
    public_base_path: str = "/tickets"  # gateway prefix of this service, for links in events and pages

    def check_production(self, environment: str) -> None:
        """Nothing secret here; kept for the shape every service shares."""


@lru_cache
def get_tickets_settings() -> TicketsSettings:
    return TicketsSettings()
