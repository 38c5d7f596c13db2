"""Notify's own metrics: the delivery funnel per template and district, provider latency, retries,
opt-outs, stale drops, segments and estimated cost.  Labels carry no IDs or phone numbers."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

FUNNEL = Counter("gramsetu_notify_messages_total", "Messages by funnel stage (queued, sent, delivered, failed)",
                 ["template", "district", "channel", "stage"])
PROVIDER_LATENCY = Histogram("gramsetu_notify_provider_request_seconds", "Provider API calls",
                             ["provider", "operation", "outcome"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RETRIES = Counter("gramsetu_notify_retries_total", "Sends retried after a transient provider error", ["code"])
OPT_OUTS = Counter("gramsetu_notify_opt_outs_total", "Opt-outs recorded", ["source"])
DROPPED_STALE = Counter("gramsetu_notify_dropped_stale_total", "Messages dropped because they expired unsent",
                        ["template"])
SEGMENTS = Counter("gramsetu_notify_segments_total", "SMS segments handed to the provider", ["template", "encoding"])
COST = Counter("gramsetu_notify_estimated_cost_usd_total", "Estimated provider cost of accepted sends (USD)",
               ["template"])
CALLBACKS = Counter("gramsetu_notify_callbacks_total", "Provider callbacks by result (applied, stale, forged)",
                    ["kind", "result"])
RECONCILED = Counter("gramsetu_notify_reconciled_total",
                     "Attempts without a known answer, settled from the provider's message list", ["result"])
REMINDERS = Counter("gramsetu_notify_reminders_total", "Immunisation reminders by outcome (queued, cancelled)",
                    ["outcome"])


def district(area_code: str) -> str:
    """The district part of an area code (IN-23-0456-... -> IN-23-0456): a bounded label."""
    return "-".join(area_code.split("-")[:3])
WEBHOOK_DELIVERIES = Counter("gramsetu_notify_webhook_deliveries_total",
                             "Webhook deliveries by outcome (queued, delivered, retry, failed, redelivery)",
                             ["event_type", "outcome"])
WEBHOOK_LATENCY = Histogram("gramsetu_notify_webhook_request_seconds", "Webhook POSTs to partner endpoints",
                            ["outcome"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
WEBHOOK_PAUSED = Counter("gramsetu_notify_webhook_paused_total",
                         "Webhook subscriptions paused (endpoint kept failing, or answered 410 Gone)", ["reason"])
CAMPAIGN_RECIPIENTS = Counter("gramsetu_notify_campaign_recipients_total",
                              "Campaign recipients handled by the ticks (queued, or skipped: no template in their "
                              "language, text too long for the DLT slot)", ["outcome"])
SURVEY_ANSWERS = Counter("gramsetu_notify_survey_answers_total", "Survey answers recorded, by channel (voice "
                         "keypress, sms link)", ["channel"])
