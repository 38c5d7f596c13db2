"""Helpers the notify service functions share."""

from __future__ import annotations

from kernel.auth import Identity
from kernel.errors import NotFound, ValidationProblem
from services.notify.rules.templates import TemplateError


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:]


def template_problem(exc: TemplateError) -> ValidationProblem:
    return ValidationProblem(str(exc), errors=[{"field": exc.field, "reason": exc.reason}])


def require_area(identity: Identity, area_code: str) -> None:
    if not identity.can_access_area(area_code):
        raise NotFound("No such record in your area.")
