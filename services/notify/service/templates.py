"""Templates: registration with the DLT check, and the preview shown before sending."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Identity
from kernel.errors import ValidationProblem
from services.notify.repository import contacts as contacts_repo
from services.notify.repository import templates as repo
from services.notify.rules.encoding import MAX_BODY_CHARS, encode_info, estimated_cost
from services.notify.rules.planner import plan_send
from services.notify.rules.templates import TemplateError, check_registration, matches_dlt, render, variables_of
from services.notify.schemas import Preview, PreviewRequest, TemplateCreate
from services.notify.schemas.templates import PlanRead, PlanRequest
from services.notify.service.common import template_problem
from services.notify.settings import get_notify_settings


async def create_template(session: AsyncSession, identity: Identity, body: TemplateCreate) -> RowMapping:
    try:
        check_registration(body.body, body.dlt_text)
        if body.voice_text:
            render(body.voice_text, {name: "x" for name in variables_of(body.body)})
    except TemplateError as exc:
        raise template_problem(exc) from exc
    version = await repo.next_version(session, body.key, body.language)
    return await repo.insert(session, {**body.model_dump(), "variables": variables_of(body.body),
                                       "version": version, "created_by": identity.subject})


async def current_template(session: AsyncSession, key: str, language: str) -> RowMapping:
    found = await repo.current(session, key, language)
    if found is None:
        # ICDS rule: a message goes only in the recipient's language; never fall back silently.
        raise ValidationProblem(f"No active template {key!r} in language {language!r}",
                                errors=[{"field": "template_key", "reason": f"no {language} version"}])
    return found


def cost_per_segment(area_code: str | None) -> float:
    table = get_notify_settings().cost_per_segment
    return table.get((area_code or "IN")[:2].upper(), max(table.values(), default=0.0))


def render_checked(tpl: RowMapping, variables: dict[str, str]) -> str:
    """The text to send; refuses a text the DLT template would not accept (a 422 naming the cause)."""
    try:
        text = render(tpl["body"], variables)
    except TemplateError as exc:
        raise template_problem(exc) from exc
    if len(text) > MAX_BODY_CHARS:
        raise ValidationProblem("The rendered text is longer than 1600 characters",
                                errors=[{"field": "variables", "reason": "text too long"}])
    if not matches_dlt(text, tpl["dlt_text"]):
        raise ValidationProblem(
            f"The rendered text does not match DLT template {tpl['dlt_template_id']}: operators would reject it "
            "(a variable longer than 30 characters, or text added around it)",
            errors=[{"field": "variables", "reason": "rendered text does not match the registered DLT template"}],
            dlt_template_id=tpl["dlt_template_id"])
    return text


async def preview(session: AsyncSession, body: PreviewRequest) -> Preview:
    tpl = await current_template(session, body.template_key, body.language)
    text = render_checked(tpl, body.variables)
    info = encode_info(text)
    per = cost_per_segment(None)
    unused = sorted(set(body.variables) - set(tpl["variables"]))
    extra: dict[str, Any] = {}
    if body.to:
        extra["recipient_opted_out"] = await contacts_repo.opted_out(session, body.to) is not None
    return Preview(text=text, template_id=tpl["id"], template_version=tpl["version"],
                   dlt_template_id=tpl["dlt_template_id"], dlt_match=True, encoding=info.encoding,
                   characters=len(text), segments=info.segments, cost_per_message=estimated_cost(info.segments, per),
                   estimated_cost=estimated_cost(info.segments * body.recipients, per), unused_variables=unused,
                   **extra)


async def plan(session: AsyncSession, body: PlanRequest) -> PlanRead:
    """The duration planner for a broadcast of this template to ``recipients`` people."""
    settings = get_notify_settings()
    tpl = await current_template(session, body.template_key, body.language)
    info = encode_info(render_checked(tpl, body.variables))
    rate = body.segments_per_second or settings.sender_messages_per_second
    planned = plan_send(body.recipients, info.segments, rate, settings.provider_queue_validity_seconds)
    cost = estimated_cost(planned.total_segments, cost_per_segment(None))
    return PlanRead(**planned.__dict__, estimated_cost=cost)
