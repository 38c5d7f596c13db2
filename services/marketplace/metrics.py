"""The marketplace's own Prometheus metrics (no ids in labels; areas only at district level)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BOOKINGS = Counter("gramsetu_marketplace_bookings_total", "Bookings confirmed, by channel, category and district",
                   ["channel", "category", "district"])
BOOKING_TRANSITIONS = Counter("gramsetu_marketplace_booking_transitions_total",
                              "Booking transitions by action and the status reached", ["action", "to_status"])
CANCELLATIONS = Counter("gramsetu_marketplace_cancellations_total", "Cancellations by who cancelled and the status",
                        ["by", "status_before"])
UNMATCHED = Counter("gramsetu_marketplace_unmatched_total",
                    "Times no worker was free for a booking (offered again later), by category", ["category"])
OFFER_TIMEOUTS = Counter("gramsetu_marketplace_offer_timeouts_total", "Offers that lapsed unanswered")
SEARCH_SECONDS = Histogram("gramsetu_marketplace_search_seconds", "Nearest-worker query time",
                           buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
BECKN_REQUESTS = Counter("gramsetu_marketplace_beckn_requests_total", "Beckn requests by action and ACK/NACK",
                         ["action", "ack"])
BECKN_CALLBACKS = Counter("gramsetu_marketplace_beckn_callbacks_total", "Beckn callbacks by action and outcome",
                          ["action", "outcome"])
# Minor units (paise, poisha) so the sum stays exact; the currency label keeps INR and BDT apart.
EARNINGS = Counter("gramsetu_marketplace_earnings_minor_total",
                   "Workers' earnings on completed bookings (job price plus extras), in minor units",
                   ["category", "district", "currency"])
# Every call-centre call: outcome "booked" for an assisted booking, else why it ended without one.
CALLS = Counter("gramsetu_marketplace_calls_total", "Call-centre calls by outcome (booked, or why not) and district",
                ["outcome", "district"])
DEPARTMENT_BOOKINGS = Counter("gramsetu_marketplace_department_bookings_total",
                              "Department requisitions by department", ["department"])


def district_of(area_code: str) -> str:
    """Areas in labels stop at the district, so the label's values stay few."""
    return "-".join(area_code.split("-")[:3])

GAUGES = Gauge("gramsetu_marketplace_adoption", "Adoption gauges: idle_departments (no booking in 30 days), "
               "idle_workers (no job in 30 days), available workers, waiting bookings", ["measure"])

# The registry copy's freshness: time() minus this is its lag; the gauge job sets the lag too, from the
# database, so a process that applies no events (an API replica) shows it as well.
REGISTRY_COPY_LAST_EVENT = Gauge("gramsetu_marketplace_registry_copy_last_event_timestamp_seconds",
                                 "When the newest registry event applied to the marketplace's copy happened")
REGISTRY_COPY_LAG = Gauge("gramsetu_marketplace_registry_copy_lag_seconds",
                          "Seconds since the newest registry event the marketplace's copy applied (gauge job)")
REGISTRY_LINKS = Counter("gramsetu_marketplace_registry_links_total",
                         "Workers' registry links judged (at enrolment or by a registry event), by the status reached",
                         ["status"])
