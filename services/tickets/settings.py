"""Tickets-only settings (``GRAMSETU_TICKETS_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class TicketsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRAMSETU_TICKETS_", env_file=".env", extra="ignore")

    # Targets when no SLA policy names the level and category (business minutes).
    default_first_response_minutes: int = 240
    default_resolution_minutes: int = 1440
    # A resolved ticket the reporter neither reopens nor rates poor closes on its own after this many
    # days (a desk may set its own: desk.auto_close_days; 0 there means never).
    auto_close_days: int = 7
    # Clocks recomputed per transaction after an SLA policy or calendar change (the first batch in the
    # admin's request, the rest by the tickets.recompute_deadlines job).
    recompute_batch: int = 500
    near_breach_seconds: int = 3600  # a live deadline this close counts as near breach
    metrics_refresh_seconds: int = 30  # how often the open/near-breach/breached gauges are recounted
    sse_heartbeat_seconds: float = 15.0
    public_base_path: str = "/tickets"  # gateway prefix of this service, for links in events and pages

    def check_production(self, environment: str) -> None:
        """Nothing secret here; kept for the shape every service shares."""


@lru_cache
def get_tickets_settings() -> TicketsSettings:
    return TicketsSettings()
