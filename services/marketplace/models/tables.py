"""Every marketplace table, declared on a given ``MetaData`` (see the package docstring)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.types import UserDefinedType

from kernel.areas import area_code_type
from services.marketplace import SERVICE

SCHEMA = SERVICE
NOW = text("now()")
BOOKING_STATUSES = ("requested", "offered", "assigned", "en_route", "at_location", "in_progress", "completed",
                    "rated", "cancelled")
CHANNELS = ("app", "call_centre", "department", "beckn")
ITEM_KINDS = ("job", "extra", "visit")
VERIFICATION_KINDS = ("identity", "background_check", "skill_test")
VERIFICATION_STATUSES = ("pending", "passed", "failed")
# Why a call-centre call ended without a booking (a call that booked is its booking, channel call_centre).
CALL_OUTCOMES = ("no_worker", "price", "enquiry", "out_of_area", "later", "dropped", "other")
LINK_STATUSES = ("pending", "verified", "mismatch", "deceased")
PERSON_STATUSES = ("active", "deceased", "merged")
EMPTY_SCHEDULE = '{"shifts": [], "exceptions": []}'


class Point(UserDefinedType[Any]):
    """PostgreSQL's built-in ``point`` (x = longitude, y = latitude); asyncpg maps it to a tuple."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "point"


def key() -> Text:
    """Codes compared byte by byte (no language order)."""
    return Text(collation="C")


def _id() -> Column[Any]:
    return Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def _ref(table: str, column: str = "id", **kw: Any) -> ForeignKey:
    return ForeignKey(f"{SCHEMA}.{table}.{column}", **kw)


def _stamps() -> list[Column[Any]]:
    return [
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("created_by", Text, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    ]


def _catalog(md: MetaData) -> list[Table]:
    category = Table(
        "category", md,
        Column("code", key(), primary_key=True),
        Column("name", Text, nullable=False),
        Column("name_local", Text),
        # The category's lane in the search index: skill positions are shifted by 400 degrees per
        # lane, so one GiST index answers "nearest plumber" without walking other trades (rules/geo.py).
        Column("skill_no", Integer, nullable=False, unique=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint("skill_no BETWEEN 1 AND 100000", name="ck_category_skill_no"),
        schema=SCHEMA,
    )
    rate_item = Table(
        "rate_item", md,
        Column("code", key(), primary_key=True),
        Column("category_code", key(), _ref("category", "code"), nullable=False),
        Column("kind", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("unit", Text, nullable=False, server_default=text("'job'")),
        CheckConstraint(f"kind IN {ITEM_KINDS!r}", name="ck_rate_item_kind"),
        Index("ix_rate_item_category", "category_code", "kind"),
        schema=SCHEMA,
    )
    rate = Table(
        "rate", md,
        _id(),
        Column("item_code", key(), _ref("rate_item", "code"), nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("valid_from", Date, nullable=False),
        Column("valid_to", Date),  # exclusive; NULL = until replaced
        Column("amount_minor", BigInteger, nullable=False),
        Column("order_ref", Text),  # the government order that fixed it
        Column("created_by", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint("amount_minor >= 0", name="ck_rate_amount"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_rate_period"),
        Index("ix_rate_item_area", "item_code", "area_code", "valid_from"),
        schema=SCHEMA,
    )
    terms = Table(
        "cancellation_terms", md,
        Column("category_code", key(), _ref("category", "code"), primary_key=True),
        # Assigned but not yet on the way: free if the slot starts later than this, else the fixed fee.
        Column("free_before_minutes", Integer, nullable=False, server_default=text("180")),
        Column("assigned_fee_minor", BigInteger, nullable=False, server_default=text("0")),
        # Once the worker is on the way or at the door the visit charge is due.
        Column("dispatched_fee", Text, nullable=False, server_default=text("'visit_charge'")),
        Column("offer_timeout_seconds", Integer, nullable=False, server_default=text("120")),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint("free_before_minutes >= 0 AND assigned_fee_minor >= 0", name="ck_terms_values"),
        CheckConstraint("dispatched_fee IN ('visit_charge', 'none')", name="ck_terms_dispatched"),
        CheckConstraint("offer_timeout_seconds BETWEEN 10 AND 3600", name="ck_terms_offer_timeout"),
        schema=SCHEMA,
    )
    # One row: a fresh random version each time anything a booking is priced from changes (statement
    # triggers on category, rate_item, rate and cancellation_terms; migration 0009).  A process keeps
    # quotes with the version they were read at, and a booking's insert checks it in the same statement
    # (repository/bookings.py), so a cached quote never prices a booking after a change.
    catalog_state = Table(
        "catalog_state", md,
        Column("id", SmallInteger, primary_key=True),
        Column("version", UUID(as_uuid=True), nullable=False),
        CheckConstraint("id = 1", name="ck_catalog_state_one_row"),
        schema=SCHEMA,
    )
    return [category, rate_item, rate, terms, catalog_state]


def _workers(md: MetaData) -> list[Table]:
    vendor = Table(
        "vendor", md,
        _id(),
        Column("code", key(), nullable=False, unique=True),
        Column("name", Text, nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("contact_phone", Text),
        Column("status", Text, nullable=False, server_default=text("'active'")),
        # Gateway subjects or client ids that act for this vendor (its staff and its app).
        Column("members", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        *_stamps(),
        CheckConstraint("status IN ('active', 'suspended')", name="ck_vendor_status"),
        Index("ix_vendor_area", "area_code"),
        Index("ix_vendor_members", "members", postgresql_using="gin"),
        schema=SCHEMA,
    )
    worker = Table(
        "worker", md,
        _id(),
        Column("vendor_id", UUID(as_uuid=True), _ref("vendor"), nullable=False),
        Column("name", Text, nullable=False),
        Column("phone", Text, nullable=False),
        Column("languages", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        Column("home_area_code", area_code_type(), nullable=False),
        Column("service_area_code", area_code_type(), nullable=False),
        Column("home_lat", Float, nullable=False),
        Column("home_lon", Float, nullable=False),
        Column("lat", Float, nullable=False),  # live position (the home until the app reports one)
        Column("lon", Float, nullable=False),
        Column("location_at", DateTime(timezone=True)),
        Column("service_radius_km", Float, nullable=False, server_default=text("15")),
        Column("available", Boolean, nullable=False, server_default=text("false")),
        Column("status", Text, nullable=False, server_default=text("'active'")),
        Column("rating_sum", Integer, nullable=False, server_default=text("0")),
        Column("rating_count", Integer, nullable=False, server_default=text("0")),
        Column("active_jobs", Integer, nullable=False, server_default=text("0")),
        Column("max_jobs", Integer, nullable=False, server_default=text("1")),
        Column("pending_offer", UUID(as_uuid=True)),  # the booking offered to this worker now
        Column("completed_jobs", Integer, nullable=False, server_default=text("0")),
        Column("last_job_at", DateTime(timezone=True)),
        Column("operator_subject", Text),  # the worker's own login, if any
        Column("registry_person_id", UUID(as_uuid=True)),
        Column("registry_identifier_type", Text),
        Column("registry_identifier_last4", Text),
        # The link checked against the local registry copy (registry_person): pending until the copy
        # knows the person, verified, mismatch (the registry does not list that identifier type for
        # them) or deceased (service/registry.py).  NULL when there is no link.
        Column("registry_link_status", Text),
        Column("registry_checked_at", DateTime(timezone=True)),
        # A copy of the worker's rows in worker_shift and worker_shift_exception ({"shifts": [[weekday,
        # starts, ends]...], "exceptions": [[on_date, available, starts, ends]...]}), kept by the
        # repository that writes them: the search reads it from the worker row it reads anyway,
        # instead of two index probes per candidate.
        Column("schedule", JSONB, nullable=False, server_default=text(f"'{EMPTY_SCHEDULE}'::jsonb")),
        *_stamps(),
        Column("updated_by", Text, nullable=False),
        CheckConstraint("status IN ('active', 'suspended')", name="ck_worker_status"),
        CheckConstraint("active_jobs >= 0 AND active_jobs <= max_jobs", name="ck_worker_capacity"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180 "
                        "AND home_lat BETWEEN -90 AND 90 AND home_lon BETWEEN -180 AND 180", name="ck_worker_gps"),
        CheckConstraint("rating_sum >= 0 AND rating_count >= 0", name="ck_worker_rating"),
        CheckConstraint(f"registry_link_status IN {LINK_STATUSES!r}", name="ck_worker_registry_link_status"),
        Index("ix_worker_registry_person", "registry_person_id",
              postgresql_where=text("registry_person_id IS NOT NULL")),
        Index("ix_worker_vendor", "vendor_id", "id"),
        Index("ix_worker_service_area", "service_area_code"),
        Index("uq_worker_operator", "operator_subject", unique=True,
              postgresql_where=text("operator_subject IS NOT NULL")),
        schema=SCHEMA,
    )
    skill = Table(
        "worker_skill", md,
        Column("worker_id", UUID(as_uuid=True), _ref("worker", ondelete="CASCADE"), nullable=False),
        Column("category_code", key(), _ref("category", "code"), nullable=False),
        Column("skill_no", Integer, nullable=False),
        # (lon + 400 * skill_no, lat): this trade's lane of the one KNN index.
        Column("pos", Point(), nullable=False),
        # Can take an offer right now: available, active, capacity left, no offer pending.
        Column("matchable", Boolean, nullable=False, server_default=text("false")),
        PrimaryKeyConstraint("worker_id", "category_code", name="pk_worker_skill"),
        Index("ix_worker_skill_pos_matchable", "pos", postgresql_using="gist", postgresql_where=text("matchable")),
        Index("ix_worker_skill_category", "category_code"),
        schema=SCHEMA,
    )
    verification = Table(
        "worker_verification", md,
        _id(),
        Column("worker_id", UUID(as_uuid=True), _ref("worker", ondelete="CASCADE"), nullable=False),
        Column("kind", Text, nullable=False),
        Column("category_code", key(), _ref("category", "code")),  # the trade a skill test was for
        Column("status", Text, nullable=False),
        Column("verifier", Text, nullable=False),
        Column("verified_on", Date, nullable=False),
        Column("reference", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint(f"kind IN {VERIFICATION_KINDS!r}", name="ck_verification_kind"),
        CheckConstraint(f"status IN {VERIFICATION_STATUSES!r}", name="ck_verification_status"),
        Index("ix_verification_worker", "worker_id", "verified_on"),
        schema=SCHEMA,
    )
    shift = Table(
        "worker_shift", md,
        Column("worker_id", UUID(as_uuid=True), _ref("worker", ondelete="CASCADE"), nullable=False),
        Column("weekday", SmallInteger, nullable=False),  # 0 = Monday
        Column("starts", Time, nullable=False),
        Column("ends", Time, nullable=False),
        PrimaryKeyConstraint("worker_id", "weekday", "starts", name="pk_worker_shift"),
        CheckConstraint("weekday BETWEEN 0 AND 6 AND ends > starts", name="ck_shift_values"),
        schema=SCHEMA,
    )
    exception = Table(
        "worker_shift_exception", md,
        Column("worker_id", UUID(as_uuid=True), _ref("worker", ondelete="CASCADE"), nullable=False),
        Column("on_date", Date, nullable=False),
        Column("available", Boolean, nullable=False),
        Column("starts", Time),
        Column("ends", Time),
        Column("reason", Text),
        PrimaryKeyConstraint("worker_id", "on_date", name="pk_worker_shift_exception"),
        CheckConstraint("(starts IS NULL) = (ends IS NULL) AND (ends IS NULL OR ends > starts)",
                        name="ck_shift_exception_times"),
        schema=SCHEMA,
    )
    return [vendor, worker, skill, verification, shift, exception]


def _departments(md: MetaData) -> list[Table]:
    department = Table(
        "department", md,
        Column("code", key(), primary_key=True),
        Column("name", Text, nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=SCHEMA,
    )
    office = Table(
        "office", md,
        Column("code", key(), primary_key=True),
        Column("department_code", key(), _ref("department", "code"), nullable=False),
        Column("name", Text, nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_office_department", "department_code"),
        schema=SCHEMA,
    )
    return [department, office]


def _bookings(md: MetaData) -> list[Table]:
    booking = Table(
        "booking", md,
        _id(),
        Column("channel", Text, nullable=False),
        Column("status", Text, nullable=False),
        Column("category_code", key(), _ref("category", "code"), nullable=False),
        Column("job_code", key(), _ref("rate_item", "code"), nullable=False),
        Column("area_code", area_code_type(), nullable=False),
        Column("lat", Float, nullable=False),
        Column("lon", Float, nullable=False),
        Column("address", Text, nullable=False),
        Column("slot_start", DateTime(timezone=True), nullable=False),
        Column("slot_end", DateTime(timezone=True), nullable=False),
        Column("customer_name", Text, nullable=False),
        Column("customer_phone", Text, nullable=False),
        Column("customer_subject", Text, nullable=False),  # who booked (app client, agent, office user)
        Column("assisted_by", Text),  # call-centre agent who booked for a caller
        Column("department_code", key(), _ref("department", "code")),
        Column("office_code", key(), _ref("office", "code")),
        Column("purchase_ref", Text),
        Column("beckn_transaction_id", Text),
        Column("beckn_bap_id", Text),
        Column("beckn_bap_uri", Text),
        Column("worker_id", UUID(as_uuid=True), _ref("worker")),
        Column("vendor_id", UUID(as_uuid=True), _ref("vendor")),
        Column("offer_worker_id", UUID(as_uuid=True), _ref("worker")),
        Column("offer_attempt", Integer, nullable=False, server_default=text("0")),
        Column("offer_expires_at", DateTime(timezone=True)),
        Column("tried_workers", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")),
        Column("max_radius_km", Float, nullable=False),
        # The price as confirmed: rate card rows at confirmation, never touched by later rate changes.
        Column("priced_on", Date, nullable=False),
        Column("job_rate_id", UUID(as_uuid=True), _ref("rate"), nullable=False),
        Column("price_minor", BigInteger, nullable=False),
        Column("visit_charge_minor", BigInteger, nullable=False),
        Column("extras_minor", BigInteger, nullable=False, server_default=text("0")),
        Column("terms", JSONB, nullable=False),
        Column("start_otp_hash", Text, nullable=False),
        Column("completion_otp_hash", Text, nullable=False),
        Column("cancelled_by", Text),
        Column("cancel_reason", Text),
        Column("cancellation_fee_minor", BigInteger),
        Column("rating", SmallInteger),
        Column("rating_comment", Text),
        Column("dispute_status", Text),
        Column("assigned_at", DateTime(timezone=True)),
        Column("completed_at", DateTime(timezone=True)),
        Column("cancelled_at", DateTime(timezone=True)),
        *_stamps(),
        CheckConstraint(f"status IN {BOOKING_STATUSES!r}", name="ck_booking_status"),
        CheckConstraint(f"channel IN {CHANNELS!r}", name="ck_booking_channel"),
        CheckConstraint("channel <> 'department' OR (office_code IS NOT NULL AND purchase_ref IS NOT NULL)",
                        name="ck_booking_department_refs"),
        CheckConstraint("channel <> 'call_centre' OR assisted_by IS NOT NULL", name="ck_booking_assisted"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_booking_rating"),
        CheckConstraint("status <> 'offered' OR offer_worker_id IS NOT NULL", name="ck_booking_offer"),
        CheckConstraint("status NOT IN ('assigned', 'en_route', 'at_location', 'in_progress', 'completed', 'rated') "
                        "OR worker_id IS NOT NULL", name="ck_booking_worker"),
        CheckConstraint("slot_end > slot_start", name="ck_booking_slot"),
        # A worker holds one open offer at a time: two bookings can never be offered the same worker.
        Index("uq_booking_open_offer", "offer_worker_id", unique=True, postgresql_where=text("status = 'offered'")),
        Index("ix_booking_created", "created_at", "id"),
        Index("ix_booking_worker", "worker_id", "created_at"),
        Index("ix_booking_vendor", "vendor_id", "created_at"),
        Index("ix_booking_department", "department_code", "completed_at"),
        Index("ix_booking_area", "area_code"),
        Index("uq_booking_beckn_txn", "beckn_bap_id", "beckn_transaction_id", unique=True,
              postgresql_where=text("beckn_transaction_id IS NOT NULL")),
        schema=SCHEMA,
    )
    transition = Table(
        "booking_transition", md,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("booking_id", UUID(as_uuid=True), _ref("booking"), nullable=False),
        Column("from_status", Text),
        Column("to_status", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("actor", Text, nullable=False),
        Column("worker_id", UUID(as_uuid=True)),
        Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("request_id", Text),
        Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_transition_booking", "booking_id", "id"),
        schema=SCHEMA,
    )
    extra = Table(
        "booking_extra", md,
        _id(),
        Column("booking_id", UUID(as_uuid=True), _ref("booking"), nullable=False),
        Column("item_code", key(), _ref("rate_item", "code"), nullable=False),
        Column("rate_id", UUID(as_uuid=True), _ref("rate"), nullable=False),
        Column("quantity", Integer, nullable=False),
        Column("unit_minor", BigInteger, nullable=False),
        Column("amount_minor", BigInteger, nullable=False),
        Column("added_by", Text, nullable=False),
        Column("added_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint("quantity BETWEEN 1 AND 100", name="ck_extra_quantity"),
        Index("ix_extra_booking", "booking_id"),
        schema=SCHEMA,
    )
    # Wrong start/completion codes, written in their own transaction (the request that carried the
    # wrong code answers 422 and rolls back); no foreign key, so the insert never waits on the
    # booking row the request holds locked.
    otp_failure = Table(
        "booking_otp_failure", md,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("booking_id", UUID(as_uuid=True), nullable=False),
        Column("purpose", Text, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Index("ix_otp_failure_booking", "booking_id"),
        schema=SCHEMA,
    )
    return [booking, transition, extra, otp_failure]


def _beckn(md: MetaData) -> list[Table]:
    subscriber = Table(
        "beckn_subscriber", md,
        Column("subscriber_id", Text, nullable=False),
        Column("unique_key_id", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("subscriber_url", Text, nullable=False),
        Column("signing_public_key", Text, nullable=False),  # base64 of the raw 32-byte Ed25519 key
        Column("status", Text, nullable=False, server_default=text("'SUBSCRIBED'")),
        Column("valid_until", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        PrimaryKeyConstraint("subscriber_id", "unique_key_id", name="pk_beckn_subscriber"),
        CheckConstraint("type IN ('BAP', 'BPP', 'BG')", name="ck_beckn_subscriber_type"),
        schema=SCHEMA,
    )
    message = Table(
        "beckn_message", md,
        Column("bap_id", Text, nullable=False),
        Column("message_id", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("transaction_id", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        PrimaryKeyConstraint("bap_id", "message_id", "action", name="pk_beckn_message"),
        schema=SCHEMA,
    )
    callback = Table(
        "beckn_callback", md,
        _id(),
        Column("idempotency_key", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("url", Text, nullable=False),
        Column("body", JSONB, nullable=False),
        Column("status", Text, nullable=False, server_default=text("'pending'")),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Column("response_status", Integer),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        Column("sent_at", DateTime(timezone=True)),
        UniqueConstraint("idempotency_key", name="uq_beckn_callback_key"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_beckn_callback_status"),
        schema=SCHEMA,
    )
    return [subscriber, message, callback]


def _calls(md: MetaData) -> list[Table]:
    # Calls to the call centre that ended without a booking, so the adoption report can count calls
    # per day and how many booked. No caller phone or name: the count is what is needed.
    call = Table(
        "call", md,
        _id(),
        Column("area_code", area_code_type(), nullable=False),
        Column("category_code", key(), _ref("category", "code")),
        Column("outcome", Text, nullable=False),
        Column("note", Text),
        Column("agent", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint(f"outcome IN {CALL_OUTCOMES!r}", name="ck_call_outcome"),
        Index("ix_call_created", "created_at"),
        schema=SCHEMA,
    )
    return [call]


def _registry_copy(md: MetaData) -> list[Table]:
    # What the marketplace keeps of the registry's persons (from registry.person.*.v1): enough to check
    # a worker's link, never names, phones or identifier values.
    person = Table(
        "registry_person", md,
        Column("person_id", UUID(as_uuid=True), primary_key=True),
        Column("status", Text, nullable=False),
        Column("merged_into", UUID(as_uuid=True)),
        Column("identifier_types", ARRAY(Text), nullable=False, server_default=text("'{}'")),
        Column("version", Integer, nullable=False),  # 0: a placeholder a merge created before the person's event
        Column("synced_at", DateTime(timezone=True), nullable=False, server_default=NOW),
        CheckConstraint(f"status IN {PERSON_STATUSES!r}", name="ck_registry_person_status"),
        schema=SCHEMA,
    )
    state = Table(
        "registry_copy", md,
        Column("stream", Text, primary_key=True),
        Column("last_event_at", DateTime(timezone=True), nullable=False),  # when the newest applied event happened
        Column("last_applied_at", DateTime(timezone=True), nullable=False),
        Column("events_applied", BigInteger, nullable=False),
        schema=SCHEMA,
    )
    return [person, state]


def define(md: MetaData) -> dict[str, Table]:
    tables = [*_catalog(md), *_workers(md), *_departments(md), *_bookings(md), *_beckn(md), *_calls(md),
              *_registry_copy(md)]
    return {t.name: t for t in tables}
