"""A call-centre call that ended without a booking."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.marketplace.schemas.common import AreaCode, Code, Text500

Outcome = Literal["no_worker", "price", "enquiry", "out_of_area", "later", "dropped", "other"]


class CallIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"area_code": "IN-09-0162-0820", "category_code": "plumbing", "outcome": "no_worker",
         "note": "Wanted a plumber tonight; none free within 10 km"},
        {"area_code": "IN-09-0162-0820", "outcome": "enquiry", "note": "Asked the rate for fan repair"},
    ]})

    area_code: AreaCode = Field(description="Where the caller needs the work (or lives)", examples=["IN-09-0162-0820"])
    category_code: Code | None = Field(default=None, description="The trade asked about, if any",
                                       examples=["plumbing"])
    outcome: Outcome = Field(description="Why the call ended without a booking: no_worker (none free), price "
                             "(the caller declined the rate), enquiry (a question only), out_of_area (not served "
                             "there), later (will call back), dropped (the line dropped), other")
    note: Text500 | None = Field(default=None, description="The agent's note; never the caller's ID or phone")


class CallOut(BaseModel):
    id: uuid.UUID
    area_code: str
    category_code: str | None
    outcome: str
    note: str | None
    agent: str
    created_at: datetime
