"""Helpers every marketplace service module uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from contracts.base import Event
from kernel.auth import Identity
from kernel.errors import Conflict, Forbidden, ValidationProblem
from kernel.outbox import add_event
from kernel.scheduler import Clock
from services.marketplace import SERVICE
from services.marketplace.repository.common import RawTx, Tx


def utcnow(clock: Clock | None) -> datetime:
    return clock.now() if clock is not None else datetime.now(timezone.utc)


def mask_phone(phone: str | None) -> str | None:
    return None if phone is None else "*" * max(len(phone) - 4, 0) + phone[-4:]


async def publish(session: AsyncSession, event: Event) -> None:
    await add_event(session, SERVICE, event, source=SERVICE)


def invalid(field: str, reason: str, detail: str | None = None) -> ValidationProblem:
    return ValidationProblem(detail or f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


def require_area(identity: Identity, area_code: str) -> None:
    """Writing outside one's own area is refused openly: the caller named the area themselves."""
    if not identity.can_access_area(area_code):
        raise Forbidden(f"Area {area_code} is outside your area scope.")


@contextmanager
def unique_as_conflict(message: str) -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        cause = getattr(exc.orig, "__cause__", None)
        state = getattr(cause, "sqlstate", None)
        if state == "23505":
            raise Conflict(message, constraint=getattr(cause, "constraint_name", None)) from exc
        if state == "23503":
            raise ValidationProblem(f"{message}: a referenced record does not exist",
                                    errors=[{"field": "body", "reason": "unknown reference"}]) from exc
        raise


# ---------------------------------------------------------------- after commit

_AFTER_COMMIT = "marketplace.after_commit"


def after_commit(session: Tx, action: Callable[[], None]) -> None:
    """Run ``action`` (a metric's increment) once the session's transaction has committed; never if
    it rolls back, nor if the savepoint it was registered in does (a Beckn confirm that failed).
    On a raw transaction (``POST /bookings``) the route runs them after its COMMIT."""
    if isinstance(session, RawTx):
        session.after.append(action)
        return
    sync = session.sync_session
    here = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_AFTER_COMMIT, []).append((here, action))


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _committed(sync: Session) -> None:
    if sync.get_nested_transaction() is not None:  # a savepoint released: the outer transaction goes on
        return
    for _, action in sync.info.pop(_AFTER_COMMIT, []):
        action()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(sync: Session, previous: SessionTransaction) -> None:
    pending = sync.info.get(_AFTER_COMMIT)
    if pending:
        sync.info[_AFTER_COMMIT] = [(tx, action) for tx, action in pending if not _within(tx, previous)]
