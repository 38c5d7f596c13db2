"""Template rendering and the India DLT check.

A template's ``body`` names its variables (``Dear {name}, ...``); the DLT-registered text of the
same template has anonymous ``{#var#}`` slots (TRAI TCCCPR 2018).  An operator rejects an SMS whose
text does not match the registered template (``630 TEMPLATE_NOT_FOUND``), so every rendered text
is matched against the registered one before it is queued.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]{0,39})\}")
DLT_SLOT = "{#var#}"
DLT_VAR_MAX = 30  # characters one {#var#} may take on the DLT portals


class TemplateError(ValueError):
    """A template or its values cannot produce a sendable text; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def variables_of(body: str) -> list[str]:
    seen: list[str] = []
    for name in VARIABLE.findall(body):
        if name not in seen:
            seen.append(name)
    return seen


def render(body: str, values: Mapping[str, str]) -> str:
    missing = [name for name in variables_of(body) if name not in values]
    if missing:
        raise TemplateError(f"variables.{missing[0]}", "required by the template")
    for name, value in values.items():
        if "\x00" in str(value):
            raise TemplateError(f"variables.{name}", "cannot contain NUL")
    return VARIABLE.sub(lambda m: str(values[m.group(1)]), body)


def dlt_pattern(dlt_text: str) -> re.Pattern[str]:
    parts = dlt_text.split(DLT_SLOT)
    return re.compile("".join(
        re.escape(part) + (f"(.{{1,{DLT_VAR_MAX}}}?)" if i < len(parts) - 1 else "") for i, part in enumerate(parts)
    ), re.DOTALL)


def matches_dlt(text: str, dlt_text: str) -> bool:
    """Does this rendered text fit the registered template (each slot 1-30 characters)?"""
    return dlt_pattern(dlt_text).fullmatch(text) is not None


def check_registration(body: str, dlt_text: str) -> None:
    """A template whose body cannot match its DLT text is refused when it is registered: its variables
    must stand exactly where the registered text has its slots."""
    if body.count("{#") or dlt_text.count(DLT_SLOT) != len(VARIABLE.findall(body)):
        raise TemplateError("dlt_text", "must have one {#var#} for each variable of the body, in the same places")
    sample = render(body, {name: "x" for name in variables_of(body)})
    if not matches_dlt(sample, dlt_text):
        raise TemplateError("dlt_text", "the body's fixed text differs from the registered DLT template")
