"""JSON logs with the request id, masking national IDs and phone numbers.

Masking is applied to the rendered message and to every string field, so a careless
``log.info("looked up %s", aadhaar)`` still never writes the number in clear.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

from kernel.context import request_id_var

# Order matters: longest digit runs first so a 17-digit BRN is not half-masked as a phone.
_DIGIT_RUNS = re.compile(r"(?<![\w])(\+?\d[\d \-]{8,22}\d)(?![\w])")
_STANDARD_FIELDS = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


def _mask_digits(match: re.Match[str]) -> str:
    raw = match.group(1)
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 10:  # too short to be a national ID or a phone number
        return raw
    return "X" * (len(digits) - 4) + digits[-4:]


def mask_pii(text: str) -> str:
    """Mask anything shaped like an Aadhaar, NID, BRN or phone number, keeping the last 4 digits."""
    return _DIGIT_RUNS.sub(_mask_digits, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": self.service,
            "msg": mask_pii(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            doc["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_FIELDS and not key.startswith("_"):
                doc[key] = _mask_value(value)
        if record.exc_info:
            doc["exc"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).propagate = False
        logging.getLogger(noisy).handlers[:] = []
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
