"""Prometheus metrics of the tickets service (no ids in labels)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


class RefreshedGauges(Collector):
    """The open, near-breach and breached counts as the last refresh found them, each sample stamped with the
    time of that refresh.  One replica runs the ``tickets.refresh_gauges`` job per interval, so the others
    hold older counts: stamped, those drop out of Prometheus queries once older than its lookback (5 min),
    and ``max`` across pods takes the fresh ones, never a stale higher count."""

    _labelnames = ("level", "category")
    NAMES = {
        "gramsetu_tickets_open": "Open tickets",
        "gramsetu_tickets_near_breach": "Live SLA clocks within the near-breach window",
        "gramsetu_tickets_breached": "Live SLA clocks past their deadline (top level, or not yet escalated)",
    }

    def __init__(self) -> None:
        self.values: dict[str, dict[tuple[str, str], float]] = {name: {} for name in self.NAMES}
        self.at: float | None = None

    def set(self, values: dict[str, dict[tuple[str, str], float]], at: datetime) -> None:
        self.values, self.at = {name: dict(values.get(name, {})) for name in self.NAMES}, at.timestamp()

    REFRESHED = "gramsetu_tickets_gauges_refreshed_timestamp_seconds"
    REFRESHED_DOC = "When this process last refreshed the ticket gauges (absent everywhere: the job is not running)"

    def describe(self) -> list[GaugeMetricFamily]:
        return [*(GaugeMetricFamily(name, doc, labels=self._labelnames) for name, doc in self.NAMES.items()),
                GaugeMetricFamily(self.REFRESHED, self.REFRESHED_DOC)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, doc in self.NAMES.items():
            family = GaugeMetricFamily(name, doc, labels=self._labelnames)
            for labels, value in sorted(self.values[name].items()):
                family.add_metric(list(labels), value, timestamp=self.at)
            yield family
        refreshed = GaugeMetricFamily(self.REFRESHED, self.REFRESHED_DOC)
        if self.at is not None:
            refreshed.add_metric([], self.at, timestamp=self.at)
        yield refreshed


GAUGES = RefreshedGauges()
REGISTRY.register(GAUGES)
TRACK_LOOKUPS = Counter("gramsetu_tickets_track_lookups_total",
                        "Public status-page lookups by tracking number (a surge of misses is someone guessing)",
                        ["result"])  # found | missing | malformed
