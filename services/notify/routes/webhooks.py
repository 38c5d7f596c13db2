"""Webhooks for partner and department systems: subscriptions, the delivery log, redelivery."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
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
    """Deliveries are signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
    `webhook-signature: v1,<base64 HMAC-SHA256>`); see docs/notify.md for verifying them."""
    row, secret = await service.create_subscription(
        session, identity, url=body.url, description=body.description, event_types=body.event_types,
        area_code=body.area_code, contact_phone=body.contact_phone, contact_language=body.contact_language, now=now)
    return SubscriptionCreated.model_validate({**subscription_read(row).model_dump(), "secret": secret})


@router.get("/subscriptions", response_model=SubscriptionPage,
            summary="Your webhook subscriptions (every one for notify:admin)")
async def list_subscriptions(session: DbSession, identity: WebhookOwner, limit: Limit = 100,
                             offset: Offset = 0) -> SubscriptionPage:
    owner = None if roles.holds(identity, "notify:admin") else identity.subject
    rows, total = await repo.list_subscriptions(session, owner=owner, limit=limit, offset=offset)
    return SubscriptionPage(items=[subscription_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead,
            summary="One subscription, with its deliveries counted by status")
async def get_subscription(subscription_id: uuid.UUID, session: DbSession,
                           identity: WebhookOwner) -> SubscriptionRead:
    row = await service.visible_subscription(session, identity, subscription_id)
    return subscription_read(row, await repo.delivery_counts(session, row["id"]))


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Unsubscribe (pending deliveries are cancelled)")
async def delete_subscription(subscription_id: uuid.UUID, session: DbSession, identity: WebhookOwner,
                              now: Now) -> Response:
    await service.disable(session, identity, subscription_id, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionRead,
             summary="Resume a paused subscription: waiting deliveries are tried at once")
async def resume_subscription(subscription_id: uuid.UUID, session: DbSession, identity: WebhookOwner,
                              now: Now) -> SubscriptionRead:
    return subscription_read(await service.resume(session, identity, subscription_id, now))


@router.post("/subscriptions/{subscription_id}/secret", response_model=SubscriptionCreated,
             summary="Rotate the signing secret (the old one keeps signing beside it for 24 h)")
async def rotate_secret(subscription_id: uuid.UUID, session: DbSession, identity: WebhookOwner,
                        now: Now) -> SubscriptionCreated:
    row, secret = await service.rotate_secret(session, identity, subscription_id, now)
    return SubscriptionCreated.model_validate({**subscription_read(row).model_dump(), "secret": secret})


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage,
            summary="The delivery log of a subscription, newest first")
async def list_deliveries(
    subscription_id: uuid.UUID, session: DbSession, identity: WebhookOwner, limit: Limit = 100, offset: Offset = 0,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(pending|delivered|failed|cancelled)$")] = None,
    event_type: Annotated[str | None, Query(pattern=r"^[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$")] = None,
) -> DeliveryPage:
    await service.visible_subscription(session, identity, subscription_id)
    rows, total = await repo.deliveries_page(session, subscription_id, status=status_, event_type=event_type,
                                             limit=limit, offset=offset)
    return DeliveryPage(items=[delivery_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail,
            summary="One delivery: the payload sent and every attempt (status code, error, time)")
async def get_delivery(delivery_id: uuid.UUID, session: DbSession, identity: WebhookOwner) -> DeliveryDetail:
    row = await service.visible_delivery(session, identity, delivery_id)
    attempts = [AttemptRead.model_validate(a) for a in await repo.attempts_of(session, delivery_id)]
    return DeliveryDetail.model_validate({**delivery_read(row).model_dump(), "payload": json.loads(row["body"]),
                                          "attempt_log": attempts})


@router.post("/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED,
             response_model=DeliveryRead,
             summary="Send a delivery again (same webhook-id, so a receiver that processed it drops the copy)")
async def redeliver(delivery_id: uuid.UUID, session: DbSession, identity: WebhookOwner, now: Now) -> DeliveryRead:
    return delivery_read(await service.redeliver(session, identity, delivery_id, now))
