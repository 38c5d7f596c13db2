"""Notify tables (schema ``notify``): SQLAlchemy Core tables on the shared SQLModel metadata."""

from sqlmodel import SQLModel

from kernel.area_replica import area_replica_table
from kernel.tables import kernel_tables
from services.notify import SERVICE
from services.notify.models.tables import (
    NOTIFY_TABLES,
    actionable_dose,
    campaign,
    campaign_recipient,
    contact,
    dose_given,
    event_rule,
    message,
    message_event,
    opt_out,
    rate_bucket,
    schedule_item,
    schedule_version,
    survey_response,
    template,
    webhook_attempt,
    webhook_delivery,
    webhook_subscription,
    worker,
)

KERNEL = kernel_tables(SQLModel.metadata, SERVICE)
AREA = area_replica_table(SQLModel.metadata, SERVICE)

__all__ = [
    "AREA", "KERNEL", "NOTIFY_TABLES", "actionable_dose", "campaign", "campaign_recipient", "contact", "dose_given",
    "event_rule", "message", "message_event", "opt_out", "rate_bucket",
    "schedule_item", "schedule_version", "survey_response", "template", "webhook_attempt", "webhook_delivery",
    "webhook_subscription", "worker",
]
