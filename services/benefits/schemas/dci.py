"""DCI-style (SPDCI / IBR) beneficiary API: "is this person enrolled in programme X; what did they get"
(``enrolled``) and "every programme this person is enrolled in" (``search``).

The envelope follows the registry's DCI API: ``{signature, header, message}`` with the same header
fields; each batch item is answered on its own (``succ`` or ``rjct`` with a reason code)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

Text99 = Field(min_length=1, max_length=99)


class MsgHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "1.0.0"
    message_id: str = Field(min_length=1, max_length=200)
    message_ts: AwareDatetime
    action: str = Field(min_length=1, max_length=50)
    sender_id: str = Field(min_length=1, max_length=200)
    receiver_id: str | None = Field(default=None, max_length=200)
    total_count: StrictInt = Field(ge=0)
    is_msg_encrypted: bool = False


class QueryItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    reference_id: str = Text99
    timestamp: Any = None
    enrolled_criteria: dict[str, Any] | None = Field(
        default=None, description="enrolled: {programme_code, query_type: idtype-value, query: {type, value}, period?}")
    search_criteria: dict[str, Any] | None = Field(
        default=None, description="search: {query_type: idtype-value, query: {type, value}}")

    def criteria(self) -> dict[str, Any]:
        return self.enrolled_criteria or self.search_criteria or {}


class EnrolledRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    enrolled_request: list[QueryItem] = Field(min_length=1, max_length=100)


class EnrolledEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "header": {"version": "1.0.0", "message_id": "ibr-2026-12-07-0001", "message_ts": "2026-12-07T10:30:00+06:00",
                   "action": "enrolled", "sender_id": "ibr.bd", "receiver_id": "gramsetu-benefits", "total_count": 2},
        "message": {"transaction_id": "t-2026-12-07-0001", "enrolled_request": [
            {"reference_id": "r1", "enrolled_criteria": {"programme_code": "BD-OAA", "query_type": "idtype-value",
                                                         "query": {"type": "NID", "value": "2698765432101"}}},
            {"reference_id": "r2", "enrolled_criteria": {"programme_code": "BD-WIDOW", "query_type": "idtype-value",
                                                         "query": {"type": "NID", "value": "2698765432101"},
                                                         "period": "2026-11"}},
        ]}}]})

    signature: str | None = None
    header: MsgHeader
    message: EnrolledRequest


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    search_request: list[QueryItem] = Field(min_length=1, max_length=100)


class SearchEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "header": {"version": "1.0.0", "message_id": "ibr-2026-12-07-0002", "message_ts": "2026-12-07T10:31:00+06:00",
                   "action": "search", "sender_id": "ibr.bd", "receiver_id": "gramsetu-benefits", "total_count": 1},
        "message": {"transaction_id": "t-2026-12-07-0002", "search_request": [
            {"reference_id": "s1", "search_criteria": {"query_type": "idtype-value",
                                                       "query": {"type": "NID", "value": "2698765432101"}}},
        ]}}]})

    signature: str | None = None
    header: MsgHeader
    message: SearchRequest
