"""Template bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.notify.schemas.common import Key, Language, Phone, ShortText, Text, VarValue

DltId = Annotated[str, StringConstraints(pattern=r"^[0-9]{10,25}$")]
Header = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3,6}$")]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "key": "vaccination_due", "language": "hi", "category": "service",
        "body": "ग्रामसेतु: {child} का {vaccine} टीका {date} को लगना है। कृपया आंगनवाड़ी केंद्र आएँ।",
        "dlt_entity_id": "1101234567890123456", "dlt_template_id": "1107170000000000102", "dlt_header": "GRMSTU",
        "dlt_text": "ग्रामसेतु: {#var#} का {#var#} टीका {#var#} को लगना है। कृपया आंगनवाड़ी केंद्र आएँ।",
        "voice_text": "{child} का {vaccine} टीका {date} को लगना है। कृपया आंगनवाड़ी केंद्र आएँ।"}]})

    key: Key = Field(examples=["vaccination_due"])
    language: Language
    category: Literal["transactional", "service", "promotional"] = "service"
    body: Text = Field(description="Text with {variable} placeholders",
                       examples=["{child} को {vaccine} का टीका {date} को"])
    dlt_entity_id: DltId
    dlt_template_id: DltId
    dlt_header: Header = Field(description="The registered 3-6 letter sender header", examples=["GRMSTU"])
    dlt_text: Text = Field(description="The DLT-registered text, with {#var#} where the body has variables")
    voice_text: Text | None = Field(default=None, description="What a voice call says (the body if absent)")
    audio_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s\x00]{1,500}$")] | None = None


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    language: str
    version: int
    category: str
    body: str
    variables: list[str]
    dlt_entity_id: str
    dlt_template_id: str
    dlt_header: str
    dlt_text: str
    voice_text: str | None
    audio_url: str | None
    active: bool
    created_at: datetime


class TemplatePage(BaseModel):
    items: list[TemplateRead]
    total: int
    limit: int
    offset: int


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"template_key": "vaccination_due", "language": "hi",
         "variables": {"child": "आरव", "vaccine": "पेंटावैलेंट-2", "date": "14 दिसंबर"}, "to": "+919812345678"},
        {"template_key": "vaccination_due", "language": "bn",
         "variables": {"child": "আয়েশা", "vaccine": "পেন্টা-২", "date": "১৪ ডিসেম্বর"}, "recipients": 22812},
    ]})

    template_key: Key
    language: Language
    variables: dict[Key, VarValue] = Field(default_factory=dict, max_length=20)
    to: Phone | None = None
    recipients: int = Field(default=1, ge=1, le=10_000_000, description="How many recipients (cost estimate)")


class Preview(BaseModel):
    text: str
    template_id: uuid.UUID
    template_version: int
    dlt_template_id: str
    dlt_match: bool
    encoding: str
    characters: int
    segments: int
    cost_per_message: float
    estimated_cost: float
    currency: str = "USD"
    recipient_opted_out: bool | None = None
    unused_variables: list[ShortText] = []


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"template_key": "vaccination_due", "language": "hi",
         "variables": {"child": "आरव", "vaccine": "पेंटावैलेंट-2", "date": "14 दिसंबर"},
         "recipients": 22812, "segments_per_second": 10}]})

    template_key: Key
    language: Language
    variables: dict[Key, VarValue] = Field(default_factory=dict, max_length=20)
    recipients: int = Field(ge=1, le=10_000_000, examples=[22812])
    segments_per_second: float | None = Field(default=None, gt=0, le=10_000,
                                              description="The sender's throughput; default: this deployment's rate")


class PlanRead(BaseModel):
    recipients: int
    segments_per_message: int
    total_segments: int
    segments_per_second: float
    seconds: float
    queue_validity_seconds: int
    fits: bool
    needed_segments_per_second: float
    senders_needed: int
    warning: str | None
    estimated_cost: float
