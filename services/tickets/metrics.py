"""Prometheus metrics of the tickets service (no ids in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_HOURS = (300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 86400, 7 * 86400, 21 * 86400)

CREATED = Counter("gramsetu_tickets_created_total", "Tickets raised", ["level", "category", "channel"])
ESCALATIONS = Counter("gramsetu_tickets_escalations_total", "Escalations to the next level",
                      ["from_level", "to_level", "cause"])
BREACHES = Counter("gramsetu_tickets_sla_breaches_total", "SLA deadlines breached", ["level", "kind"])
RESOLVED = Counter("gramsetu_tickets_resolved_total", "Tickets resolved", ["level", "category"])
CLOSED = Counter("gramsetu_tickets_closed_total", "Tickets closed", ["cause"])  # reporter | agent | auto
REOPENED = Counter("gramsetu_tickets_reopened_total", "Tickets reopened", ["cause"])
FIRST_RESPONSE = Histogram("gramsetu_tickets_first_response_seconds",
                           "Wall-clock seconds from reaching a level to its first response", ["level"], buckets=_HOURS)
RESOLUTION = Histogram("gramsetu_tickets_resolution_seconds", "Wall-clock seconds from creation to resolution",
                       ["level"], buckets=_HOURS)
OPEN = Gauge("gramsetu_tickets_open", "Open tickets", ["level", "category"])
NEAR_BREACH = Gauge("gramsetu_tickets_near_breach", "Live SLA clocks within the near-breach window",
                    ["level", "category"])
BREACHED = Gauge("gramsetu_tickets_breached", "Live SLA clocks past their deadline (top level, or not yet escalated)",
                 ["level", "category"])
TRACK_LOOKUPS = Counter("gramsetu_tickets_track_lookups_total",
                        "Public status-page lookups by tracking number (a surge of misses is someone guessing)",
                        ["result"])  # found | missing | malformed
