"""Webhooks for partner and department systems: subscriptions, the delivery log, redelivery."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.engine import RowMapping

from kernel import roles
from kernel.db import DbSession
from services.notify.repository import webhooks as repo
from services.notify.routes.common import Limit, Now, Offset, WebhookOwner
from services.notify.schemas.webhooks import (
    AttemptRead,
    DeliveryDetail,
    DeliveryPage,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRead,
)
from services.notify.service import webhooks as service
from services.notify.service.common import mask_phone

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id (from POST /webhooks/subscriptions)")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id (from a subscription's delivery log)")]


def subscription_read(row: RowMapping, counts: dict[str, int] | None = None) -> SubscriptionRead:
    return SubscriptionRead.model_validate({
        **row, "contact_phone_masked": mask_phone(row["contact_phone"]) if row["contact_phone"] else None,
        "deliveries": counts or {}})


def delivery_read(row: RowMapping) -> DeliveryRead:
    return DeliveryRead.model_validate({**row, "webhook_id": service.webhook_id(row["id"])})


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated,
             summary="Subscribe an endpoint to event types in an area (the signing secret is shown once)")
async def create_subscription(body: SubscriptionCreate, session: DbSession, identity: WebhookOwner,
                              now: Now) -> SubscriptionCreated:
    """Subscribe your system's HTTPS endpoint to event types (subjects or patterns such as
    `tickets.ticket.*.v1`) about an area inside your scope. Each matching event is POSTed once per
    subscription, retried with backoff; an endpoint that keeps failing is paused and the contact
    phone is told by SMS. Deliveries are signed the Standard Webhooks way (`webhook-id`,
    `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`); see docs/notify.md for
    verifying them. The signing secret is in this answer only.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 403 the area is outside your scope; 422 not an https URL (or one with credentials), an
    event type pattern that is not of tickets, marketplace, benefits or notify.
    """
    row, secret = await service.create_subscription(
        session, identity, url=body.url, description=body.description, event_types=body.event_types,
        area_code=body.area_code, contact_phone=body.contact_phone, contact_language=body.contact_language, now=now)
    return SubscriptionCreated.model_validate({**subscription_read(row).model_dump(), "secret": secret})


@router.get("/subscriptions", response_model=SubscriptionPage,
            summary="Your webhook subscriptions (every one for notify:admin)")
async def list_subscriptions(session: DbSession, identity: WebhookOwner, limit: Limit = 100,
                             offset: Offset = 0) -> SubscriptionPage:
    """Your webhook subscriptions (all of them for `notify:admin`): endpoint, event types, area, status
    (active, paused, or disabled once deleted) and masked contact phone.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 403 without `notify:webhooks`.
    """
    owner = None if roles.holds(identity, "notify:admin") else identity.subject
    rows, total = await repo.list_subscriptions(session, owner=owner, limit=limit, offset=offset)
    return SubscriptionPage(items=[subscription_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead,
            summary="One subscription, with its deliveries counted by status")
async def get_subscription(subscription_id: SubscriptionId, session: DbSession,
                           identity: WebhookOwner) -> SubscriptionRead:
    """One subscription with its deliveries counted by status.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such subscription of yours.
    """
    row = await service.visible_subscription(session, identity, subscription_id)
    return subscription_read(row, await repo.delivery_counts(session, row["id"]))


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Unsubscribe (pending deliveries are cancelled)")
async def delete_subscription(subscription_id: SubscriptionId, session: DbSession, identity: WebhookOwner,
                              now: Now) -> Response:
    """Unsubscribe: no new deliveries, and pending ones are cancelled.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such subscription of yours.
    """
    await service.disable(session, identity, subscription_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionRead,
             summary="Resume a paused subscription: waiting deliveries are tried at once")
async def resume_subscription(subscription_id: SubscriptionId, session: DbSession, identity: WebhookOwner,
                              now: Now) -> SubscriptionRead:
    """Resume a subscription paused after repeated failures (once the endpoint is fixed): the deliveries
    that waited are tried at once.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such subscription of yours.
    """
    return subscription_read(await service.resume(session, identity, subscription_id, now))


@router.post("/subscriptions/{subscription_id}/secret", response_model=SubscriptionCreated,
             summary="Rotate the signing secret (the old one keeps signing beside it for 24 h)")
async def rotate_secret(subscription_id: SubscriptionId, session: DbSession, identity: WebhookOwner,
                        now: Now) -> SubscriptionCreated:
    """A new signing secret, in this answer only. The old one keeps signing beside it (two signatures)
    for 24 hours, so the receiver can switch without rejecting deliveries.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such subscription of yours.
    """
    row, secret = await service.rotate_secret(session, identity, subscription_id, now)
    return SubscriptionCreated.model_validate({**subscription_read(row).model_dump(), "secret": secret})


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage,
            summary="The delivery log of a subscription, newest first")
async def list_deliveries(
    subscription_id: SubscriptionId, session: DbSession, identity: WebhookOwner, limit: Limit = 100, offset: Offset = 0,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(pending|delivered|failed|cancelled)$",
                                         description="pending, delivered, failed or cancelled")] = None,
    event_type: Annotated[str | None, Query(pattern=r"^[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$",
                                            description="Only this event type", examples=["tickets.ticket.resolved.v1"])
                          ] = None,
) -> DeliveryPage:
    """The subscription's delivery log, newest first: event type and id, status, attempts, next try,
    last response code; filter by status and event type.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such subscription of yours; 422 an unknown status or malformed event type.
    """
    await service.visible_subscription(session, identity, subscription_id)
    rows, total = await repo.deliveries_page(session, subscription_id, status=status_, event_type=event_type,
                                             limit=limit, offset=offset)
    return DeliveryPage(items=[delivery_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail,
            summary="One delivery: the payload sent and every attempt (status code, error, time)")
async def get_delivery(delivery_id: DeliveryId, session: DbSession, identity: WebhookOwner) -> DeliveryDetail:
    """One delivery: the payload sent and every attempt with its status code, error and time.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such delivery of yours.
    """
    row = await service.visible_delivery(session, identity, delivery_id)
    attempts = [AttemptRead.model_validate(a) for a in await repo.attempts_of(session, delivery_id)]
    return DeliveryDetail.model_validate({**delivery_read(row).model_dump(), "payload": json.loads(row["body"]),
                                          "attempt_log": attempts})


@router.post("/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             response_model=DeliveryRead,
             summary="Send a delivery again (same webhook-id, so a receiver that processed it drops the copy)")
async def redeliver(delivery_id: DeliveryId, session: DbSession, identity: WebhookOwner, now: Now) -> DeliveryRead:
    """Send a delivery again (after the receiver lost it): queued at once with the same `webhook-id`, so
    a receiver that did process it drops the copy.

    **Who:** `notify:webhooks` (department officers, or a partner or department client given it; the gateway
    admits the route with it alone); you see your own subscriptions, `notify:admin` sees every one.

    **Errors:** 404 no such delivery of yours; 409 the subscription was deleted.
    """
    return delivery_read(await service.redeliver(session, identity, delivery_id, now))
