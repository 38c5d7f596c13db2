"""Opt-outs recorded by an operator on the person's request (keypress and missed call come as callbacks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from kernel.db import DbSession
from kernel.errors import NotFound
from services.notify.repository import contacts as repo
from services.notify.routes.common import Limit, Now, Offset, OptOutRecorder, Reader
from services.notify.schemas import OptOutCreate, OptOutPage, OptOutRead
from services.notify.service.common import mask_phone
from services.notify.service.optouts import record_opt_out

router = APIRouter(prefix="/opt-outs", tags=["opt-outs"])
PhonePath = Annotated[str, Path(pattern=r"^\+[1-9][0-9]{7,14}$", examples=["+919812345678"],
                               description="The phone in E.164 form (+91..., +880...)")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OptOutRead,
             responses={200: {"description": "The phone had already opted out"}},
             summary="Record an opt-out the person asked an operator for; pending messages are cancelled")
async def create_opt_out(body: OptOutCreate, session: DbSession, identity: OptOutRecorder, now: Now,
                         response: Response) -> OptOutRead:
    """The person asked, in person or by phone, to get no more messages: the phone is opted out and
    its pending messages are cancelled. (A keypress on a call or a missed call to the service number
    does the same through the provider's callbacks.) Recording it again answers 200.

    **Who:** `notify:opt_out` (help desks, anganwadi workers, department officers); the gateway admits the route
    with it alone.

    **Errors:** 403 without `notify:opt_out`; 422 a phone not in E.164 form, an empty reason.
    """
    added = await record_opt_out(session, phone=body.phone, source="operator", actor=identity.subject, now=now,
                                 person_id=body.person_id, reason=body.reason)
    if not added:
        response.status_code = status.HTTP_200_OK
    row = await repo.opted_out(session, body.phone)
    assert row is not None
    return OptOutRead(phone_masked=mask_phone(row["phone"]), person_id=row["person_id"], source=row["source"],
                      reason=row["reason"], created_at=row["created_at"])


@router.get("", response_model=OptOutPage, summary="Opt-outs, newest first")
async def list_opt_outs(session: DbSession, identity: Reader, limit: Limit = 100, offset: Offset = 0) -> OptOutPage:
    """Every opt-out, newest first: masked phone, person, source (operator, keypress, missed call,
    provider) and reason.

    **Who:** `notify:read` (help desks, anganwadi workers, department officers, auditors).

    **Errors:** 422 `limit` or `offset` out of range.
    """
    rows, total = await repo.list_opt_outs(session, limit=limit, offset=offset)
    return OptOutPage(items=[OptOutRead(phone_masked=mask_phone(r["phone"]), person_id=r["person_id"],
                                        source=r["source"], reason=r["reason"], created_at=r["created_at"])
                             for r in rows], total=total, limit=limit, offset=offset)


@router.delete("/{phone}", status_code=status.HTTP_204_NO_CONTENT, summary="The person opted back in")
async def delete_opt_out(phone: PhonePath, session: DbSession, identity: OptOutRecorder) -> Response:
    """The person asked to get messages again: the opt-out is lifted (new messages only; cancelled
    ones stay cancelled).

    **Who:** `notify:opt_out` (help desks, anganwadi workers, department officers); the gateway admits the route
    with it alone.

    **Errors:** 403 without `notify:opt_out`; 404 this phone has not opted out; 422 a phone not in
    E.164 form.
    """
    if not await repo.remove_opt_out(session, phone):
        raise NotFound("This phone has not opted out.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
