"""Templates, contacts (from registry events), messages and their delivery log, opt-outs,
the versioned immunisation schedule, doses given and anganwadi workers."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import SQLModel

from kernel.areas import area_code_type
from services.notify import SERVICE

METADATA = SQLModel.metadata
NOW = text("now()")


def _uuid_pk() -> Column:  # type: ignore[type-arg]
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


template = Table(
    "template", METADATA, _uuid_pk(),
    Column("key", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("category", Text, nullable=False),  # transactional, service, promotional (DLT categories)
    Column("body", Text, nullable=False),
    Column("variables", ARRAY(Text), nullable=False),
    Column("dlt_entity_id", Text, nullable=False),
    Column("dlt_template_id", Text, nullable=False),
    Column("dlt_header", Text, nullable=False),
    Column("dlt_text", Text, nullable=False),
    Column("voice_text", Text),  # what a fallback call says (variables as in body)
    Column("audio_url", Text),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("created_by", Text, nullable=False),
    UniqueConstraint("key", "language", "version", name="uq_template_key_language_version"),
    CheckConstraint("category IN ('transactional', 'service', 'promotional')", name="ck_template_category"),
    schema=SERVICE,
)

contact = Table(
    "contact", METADATA,
    Column("person_id", UUID(as_uuid=True), primary_key=True),
    Column("area_code", area_code_type(), nullable=False),
    Column("full_name", Text, nullable=False),
    Column("sex", Text, nullable=False),
    Column("birth_date", Date),
    Column("pregnant", Boolean, nullable=False, server_default=text("false")),
    Column("pregnancy_registered_on", Date),
    Column("phones", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("preferred_language", Text),
    Column("prefers_voice", Boolean, nullable=False, server_default=text("false")),
    Column("time_zone", Text),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_contact_area_birth", "area_code", "birth_date"),
    schema=SERVICE,
)

opt_out = Table(
    "opt_out", METADATA,
    Column("phone", Text, primary_key=True),
    Column("person_id", UUID(as_uuid=True)),
    Column("source", Text, nullable=False),
    Column("reason", Text),
    Column("actor", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("source IN ('voice_keypress', 'missed_call', 'operator', 'provider')", name="ck_opt_out_source"),
    schema=SERVICE,
)

message = Table(
    "message", METADATA, _uuid_pk(),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("channel", Text, nullable=False),
    Column("source", Text, nullable=False),  # api, reminder, rule, campaign, fallback
    Column("template_id", UUID(as_uuid=True)),
    Column("template_key", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("to_phone", Text, nullable=False),
    Column("person_id", UUID(as_uuid=True)),
    Column("area_code", area_code_type(), nullable=False),
    Column("body", Text, nullable=False),
    Column("variables", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("twiml", Text),
    Column("encoding", Text, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("estimated_cost", Float, nullable=False),
    Column("status", Text, nullable=False),
    Column("provider", Text, nullable=False, server_default=text("'twilio'")),
    Column("provider_id", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True)),
    Column("urgent", Boolean, nullable=False, server_default=text("false")),
    Column("attempted_at", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("final_at", DateTime(timezone=True)),
    Column("error_code", Integer),
    Column("error", Text),
    Column("cancel_key", Text),
    Column("fallback_of", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("channel IN ('sms', 'voice')", name="ck_message_channel"),
    Index("uq_message_provider_id", "provider_id", unique=True, postgresql_where=text("provider_id IS NOT NULL")),
    Index("ix_message_due", "not_before", postgresql_where=text("status = 'pending'")),
    Index("ix_message_attempting", "attempted_at", postgresql_where=text("status = 'attempting'")),
    Index("ix_message_cancel_key", "cancel_key", postgresql_where=text("cancel_key IS NOT NULL")),
    Index("ix_message_created", "created_at", "id"),
    Index("ix_message_to_phone", "to_phone"),
    schema=SERVICE,
)

message_event = Table(
    "message_event", METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("message_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("kind", Text, nullable=False),  # attempt, accepted, callback, retry, expired, ...
    Column("status", Text),
    Column("applied", Boolean, nullable=False, server_default=text("true")),
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_message_event_message", "message_id", "id"),
    schema=SERVICE,
)

schedule_version = Table(
    "schedule_version", METADATA,
    Column("version", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("false")),
    Column("source", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("uq_schedule_version_active", "active", unique=True, postgresql_where=text("active")),
    schema=SERVICE,
)

schedule_item = Table(
    "schedule_item", METADATA,
    Column("version", Text, nullable=False),
    Column("code", Text, nullable=False),  # e.g. penta-2
    Column("vaccine", Text, nullable=False),
    Column("dose", Integer, nullable=False),
    Column("target", Text, nullable=False),  # child or pregnancy
    Column("min_age_days", Integer, nullable=False),
    Column("upper_age_days", Integer),
    Column("predecessor", Text),
    Column("min_gap_days", Integer, nullable=False, server_default=text("0")),
    Column("predecessor_before_age_days", Integer),
    Column("lead_days", Integer, nullable=False, server_default=text("7")),
    Column("grace_days", Integer, nullable=False, server_default=text("28")),
    Column("area_prefixes", ARRAY(Text)),
    PrimaryKeyConstraint("version", "code"),
    CheckConstraint("target IN ('child', 'pregnancy')", name="ck_schedule_item_target"),
    schema=SERVICE,
)

dose_given = Table(
    "dose_given", METADATA,
    Column("person_id", UUID(as_uuid=True), nullable=False),
    Column("code", Text, nullable=False),
    Column("given_on", Date, nullable=False),
    Column("source", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    PrimaryKeyConstraint("person_id", "code"),
    schema=SERVICE,
)

worker = Table(
    "worker", METADATA,
    Column("id", Text, primary_key=True),  # the operator's subject, e.g. aww-0001
    Column("name", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("area_code", area_code_type(), nullable=False),
    Column("language", Text, nullable=False),
    Column("role", Text, nullable=False, server_default=text("'anganwadi_worker'")),
    Index("ix_worker_area", "area_code"),
    schema=SERVICE,
)

NOTIFY_TABLES = [template, contact, opt_out, message, message_event, schedule_version, schedule_item,
                 dose_given, worker]

# Which event sends which template to whom (migration 0005): data, not code.
event_rule = Table(
    "event_rule", METADATA, _uuid_pk(),
    Column("name", Text, nullable=False, unique=True),
    Column("subject", Text, nullable=False),  # e.g. tickets.ticket.resolved.v1
    Column("template_key", Text, nullable=False),
    Column("phone_field", Text),  # the event field holding the recipient's phone, or
    Column("person_field", Text),  # the field holding a registry person id
    Column("language_field", Text),
    Column("key_field", Text),  # the event's own idempotency field; the event id otherwise
    Column("variables", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # template var -> event field
    Column("constants", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # template var -> fixed text
    Column("urgent", Boolean, nullable=False, server_default=text("false")),
    Column("valid_for_minutes", Integer, nullable=False, server_default=text("1440")),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("(phone_field IS NULL) <> (person_field IS NULL)", name="ck_event_rule_recipient"),
    Index("ix_event_rule_subject", "subject", postgresql_where=text("enabled")),
    schema=SERVICE,
)

# Webhooks for partner and department systems (migration 0006).
webhook_subscription = Table(
    "webhook_subscription", METADATA, _uuid_pk(),
    Column("owner", Text, nullable=False),  # the subject of the client or operator that created it
    Column("description", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),  # subject patterns: tickets.ticket.*.v1, benefits.>
    Column("area_code", area_code_type(), nullable=False),  # only events about this area (or beneath it)
    Column("secret_encrypted", Text, nullable=False),  # Fernet token of whsec_...
    Column("previous_secret_encrypted", Text),  # still signed with until previous_secret_until (rotation)
    Column("previous_secret_until", DateTime(timezone=True)),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("paused_reason", Text),
    Column("paused_at", DateTime(timezone=True)),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("retry_at", DateTime(timezone=True)),  # a failing endpoint gets no attempt before this
    Column("contact_phone", Text),  # told by SMS when the subscription is paused
    Column("contact_language", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("status IN ('active', 'paused', 'disabled')", name="ck_webhook_subscription_status"),
    Index("ix_webhook_subscription_owner", "owner", "created_at", "id"),
    Index("ix_webhook_subscription_active", "status", postgresql_where=text("status = 'active'")),
    schema=SERVICE,
)

webhook_delivery = Table(
    "webhook_delivery", METADATA, _uuid_pk(),
    Column("subscription_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("lane", Text, nullable=False),  # ordering key: the entity (ticket:<id>), else the delivery itself
    Column("entity_version", Integer),
    Column("seq", BigInteger, Identity(always=True), nullable=False),  # arrival order inside a lane
    Column("body", Text, nullable=False),  # the exact bytes signed and sent, identical on every retry
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("redeliveries", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_delivery_event"),
    CheckConstraint("status IN ('pending', 'delivered', 'failed', 'cancelled')", name="ck_webhook_delivery_status"),
    Index("ix_webhook_delivery_lane", "subscription_id", "lane", "entity_version", "seq",
          postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_delivery_log", "subscription_id", "created_at", "id"),
    schema=SERVICE,
)

webhook_attempt = Table(
    "webhook_attempt", METADATA,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("delivery_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("effect_key", Text, nullable=False),
    Column("uncertain", Boolean, nullable=False),  # an earlier try of this key may have reached the receiver
    Column("signed_at", BigInteger, nullable=False),  # the webhook-timestamp sent
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float, nullable=False),
    Index("ix_webhook_attempt_delivery", "delivery_id", "id"),
    schema=SERVICE,
)

WEBHOOK_TABLES = [webhook_subscription, webhook_delivery, webhook_attempt]

# Broadcast campaigns and surveys (migration 0007).
campaign = Table(
    "campaign", METADATA, _uuid_pk(),
    Column("name", Text, nullable=False),
    Column("template_key", Text, nullable=False),
    Column("language", Text),  # None: each recipient's own
    Column("channel", Text, nullable=False),  # auto, sms, voice
    Column("variables", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # the same for everyone
    Column("audience", JSONB, nullable=False),  # how it was selected (area, kind, roles, ages, or an uploaded list)
    Column("area_code", area_code_type(), nullable=False),  # the audience's area: who may see and run it
    Column("rate_per_minute", Integer, nullable=False),
    Column("valid_for_minutes", Integer, nullable=False),
    Column("survey", JSONB),  # {"question": ..., "options": 5}: answers by keypress or SMS link
    Column("status", Text, nullable=False, server_default=text("'draft'")),
    Column("total", Integer, nullable=False, server_default=text("0")),
    Column("queued", Integer, nullable=False, server_default=text("0")),
    Column("skipped", Integer, nullable=False, server_default=text("0")),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("status IN ('draft', 'running', 'paused', 'cancelled', 'done')", name="ck_campaign_status"),
    CheckConstraint("rate_per_minute > 0", name="ck_campaign_rate"),
    Index("ix_campaign_created", "created_at", "id"),
    schema=SERVICE,
)

campaign_recipient = Table(
    "campaign_recipient", METADATA,
    Column("campaign_id", UUID(as_uuid=True), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("phone", Text, nullable=False),
    Column("person_id", UUID(as_uuid=True)),
    Column("area_code", area_code_type(), nullable=False),
    Column("language", Text),
    Column("name", Text),
    Column("token", Text, nullable=False, unique=True),  # the survey link's secret (random, 92 bits)
    Column("state", Text, nullable=False, server_default=text("'waiting'")),  # waiting, queued, skipped
    Column("skip_reason", Text),
    Column("message_id", UUID(as_uuid=True)),
    PrimaryKeyConstraint("campaign_id", "seq"),
    UniqueConstraint("campaign_id", "phone", name="uq_campaign_recipient_phone"),
    Index("ix_campaign_recipient_waiting", "campaign_id", "seq", postgresql_where=text("state = 'waiting'")),
    Index("ix_campaign_recipient_message", "message_id", postgresql_where=text("message_id IS NOT NULL")),
    schema=SERVICE,
)

survey_response = Table(
    "survey_response", METADATA,
    Column("campaign_id", UUID(as_uuid=True), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("answer", Integer, nullable=False),
    Column("channel", Text, nullable=False),  # voice (keypress) or sms (link)
    Column("area_code", area_code_type(), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("campaign_id", "seq"),  # one answer per recipient; a second one replaces it
    schema=SERVICE,
)

CAMPAIGN_TABLES = [campaign, campaign_recipient, survey_response]

# Sending rates shared by every dispatcher of every replica (migration 0008): token buckets in the database.
rate_bucket = Table(
    "rate_bucket", METADATA,
    Column("name", Text, primary_key=True),  # sms-sender:<from>, sms-account:<sid>, voice-account:<sid>
    Column("tokens", Float, nullable=False),
    Column("rate", Float, nullable=False),  # tokens added per second
    Column("capacity", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # the database's clock_timestamp()
    schema=SERVICE,
)

# Doses each person can be called for, kept up to date from registry events, recorded doses and schedule
# activations (migration 0009): the daily due list is a range filter on this table, not a person × schedule
# evaluation.  One row per (person, schedule item) whose dose is not given and whose predecessor (if any)
# was given in time; its due date is fixed by then, only the day of the list decides due/overdue/missed.
actionable_dose = Table(
    "actionable_dose", METADATA,
    Column("person_id", UUID(as_uuid=True), nullable=False),
    Column("code", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("area_code", area_code_type(), nullable=False),
    Column("target", Text, nullable=False),
    Column("vaccine", Text, nullable=False),
    Column("dose", Integer, nullable=False),
    Column("min_age_days", Integer, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("list_from", Date, nullable=False),  # due - lead days: listed (and reminded) from this day
    Column("grace_until", Date, nullable=False),  # due + grace days: "due" until then, "overdue" after
    Column("list_until", Date),  # base + upper age: missed (no longer listed) after this day
    PrimaryKeyConstraint("person_id", "code"),
    Index("ix_actionable_dose_area", "area_code", "list_from"),
    schema=SERVICE,
)
