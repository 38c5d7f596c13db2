"""Typed DCI request and response bodies with complete examples, for the OpenAPI document and /docs.

The DCI routes read the raw envelope themselves (a malformed one must be answered as the DCI
error acknowledgement, not as FastAPI's 422), so these models describe the bodies for
partners; ``services/registry/schemas/dci.py`` is what the handlers validate with.  The same
examples are the ones ``docs/dci.md`` shows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.registry.schemas.dci import (
    BatchItem,
    MsgHeader,
    SearchCriteria,
    SubscribeCriteria,
    TxnStatusRequest,
    UnsubscribeRequest,
)

SIGNATURE = Field(
    default=None,
    description='Ed25519 signature, draft-cavage style: namespace="dci", kidId="{sender_id}|{key_id}|ed25519", '
                'algorithm="ed25519", created, expires, headers="(created) (expires) digest", signature (docs/dci.md). '
                "Optional only for a sender onboarded with require_signature=false.",
)


class SearchItemDoc(BatchItem):
    search_criteria: SearchCriteria


class SearchMessage(BaseModel):
    transaction_id: str = Field(max_length=99)
    search_request: list[SearchItemDoc] = Field(min_length=1)


class SubscribeItemDoc(BatchItem):
    subscribe_criteria: SubscribeCriteria


class SubscribeMessage(BaseModel):
    transaction_id: str = Field(max_length=99)
    subscribe_request: list[SubscribeItemDoc] = Field(min_length=1)


class SearchEnvelope(BaseModel):
    signature: str | None = SIGNATURE
    header: MsgHeader
    message: SearchMessage


class SubscribeEnvelope(BaseModel):
    signature: str | None = SIGNATURE
    header: MsgHeader
    message: SubscribeMessage


class UnsubscribeEnvelope(BaseModel):
    signature: str | None = SIGNATURE
    header: MsgHeader
    message: UnsubscribeRequest


class TxnStatusEnvelope(BaseModel):
    signature: str | None = SIGNATURE
    header: MsgHeader
    message: TxnStatusRequest


# ------------------------------------------------------------------------------------- responses
class DciErrorBody(BaseModel):
    code: str = Field(examples=["err.signature.invalid"])
    message: str


class AckMessage(BaseModel):
    ack_status: Literal["ACK", "NACK", "ERR"]
    timestamp: str
    correlation_id: str
    error: DciErrorBody | None = None


class DciAck(BaseModel):
    """The immediate answer: ``ACK`` (async calls) or, with an HTTP 4xx, ``ERR`` and the error code."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"message": {"ack_status": "ACK", "timestamp": "2026-12-07T04:00:00.120000+00:00",
                     "correlation_id": "0b7e2f3a-52b4-4d7e-9c1e-2a6a4c1f0d11"}},
        {"message": {"ack_status": "ERR", "timestamp": "2026-12-07T04:00:00.120000+00:00",
                     "correlation_id": "5d1c9a77-2f7e-4b0a-8d55-1e9d3c7b2a40",
                     "error": {"code": "err.signature.missing", "message": "The envelope has no signature"}}},
    ]})

    message: AckMessage


class CallbackHeader(MsgHeader):
    status: Literal["rcvd", "pdng", "succ", "rjct"]
    status_reason_code: str | None = None
    completed_count: int | None = None


class SearchData(BaseModel):
    version: str = "1.0.0"
    reg_type: str
    reg_record_type: str
    reg_records: list[dict[str, Any]] = Field(description="Member records (SRPerson) or Group records")


class PageInfo(BaseModel):
    page_size: int
    page_number: int
    total_count: int


class SearchResponseItem(BaseModel):
    reference_id: str
    timestamp: str
    status: Literal["succ", "rjct"]
    status_reason_code: str | None = Field(default=None, examples=["rjct.search_criteria.invalid"])
    status_reason_message: str | None = None
    data: SearchData | None = None
    pagination: PageInfo | None = None


class SearchResponseMessage(BaseModel):
    transaction_id: str
    correlation_id: str
    search_response: list[SearchResponseItem]


class SyncSearchReply(BaseModel):
    """The signed ``on-search`` envelope, in the response body (sync) or POSTed to the callback (async)."""

    signature: str
    header: CallbackHeader
    message: SearchResponseMessage


class TxnStatusResponse(BaseModel):
    txn_type: str
    txn_status: dict[str, Any]


class TxnStatusMessage(BaseModel):
    transaction_id: str
    correlation_id: str
    txnstatus_response: TxnStatusResponse


class SyncTxnStatusReply(BaseModel):
    signature: str
    header: CallbackHeader
    message: TxnStatusMessage


# -------------------------------------------------------------------------------------- examples
_HEADER = {"version": "1.0.0", "message_id": "5a1f7e0c-8d2b-4c55-9b1a-3f0e6d2c9a71",
           "message_ts": "2026-12-07T10:00:00+06:00", "sender_id": "dept-social-welfare",
           "sender_uri": "https://dsw.example.gov.bd/dci/registry", "receiver_id": "gramsetu-registry",
           "total_count": 1, "is_msg_encrypted": False}
_SIG = ('namespace="dci", kidId="dept-social-welfare|k1|ed25519", algorithm="ed25519", created="1796623200", '
        'expires="1796623500", headers="(created) (expires) digest", signature="<base64 Ed25519 signature>"')
_CONSENT = {"ts": "2026-12-07T10:00:00+06:00", "purpose": {"text": "benefit eligibility check"}}
SEARCH_EXAMPLE = {
    "signature": _SIG,
    "header": {**_HEADER, "action": "search"},
    "message": {"transaction_id": "T-2026-000123", "search_request": [{
        "reference_id": "R-1", "timestamp": "2026-12-07T10:00:00+06:00", "locale": "eng",
        "search_criteria": {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                            "query_type": "idtype-value", "query": {"type": "BRN", "value": "19600000000000011"},
                            "response_entity": "Member", "pagination": {"page_size": 10, "page_number": 1},
                            "consent": _CONSENT}}]},
}
EXPRESSION_QUERY = {"type": "ns:org:QueryType:expression", "value": {"expression": {
    "collection": "Member", "query": {"$and": [{"sex": {"$eq": "female"}}, {"age": {"$gte": 18}}]}}}}
PREDICATE_QUERY = [{"seq_num": 1, "expression1": {"attribute_name": "YOB", "operator": "lt", "attribute_value": "1995"},
                    "condition": "and",
                    "expression2": {"attribute_name": "area_code", "operator": "eq",
                                    "attribute_value": "BD-40-87-90-54-08"}}]
SUBSCRIBE_EXAMPLE = {
    "signature": _SIG,
    "header": {**_HEADER, "action": "subscribe"},
    "message": {"transaction_id": "T-SUB-1", "subscribe_request": [{
        "reference_id": "SUB-1", "timestamp": "2026-12-07T10:00:00+06:00",
        "subscribe_criteria": {"reg_type": "ns:org:RegistryType:Social", "reg_event_type": "REGISTER",
                               "filter_type": "expression",
                               "filter": {"type": "ns:org:QueryType:expression", "value": {"expression": {
                                   "collection": "Member", "query": {"sex": {"$eq": "female"}}}}},
                               "notify_record_type": "Member"}}]},
}
UNSUBSCRIBE_EXAMPLE = {
    "signature": _SIG,
    "header": {**_HEADER, "action": "unsubscribe"},
    "message": {"transaction_id": "T-UNSUB-1", "timestamp": "2026-12-07T11:00:00+06:00",
                "subscription_codes": ["sub-3f1e0c2a"]},
}
TXN_STATUS_EXAMPLE = {
    "signature": _SIG,
    "header": {**_HEADER, "action": "txn-status"},
    "message": {"transaction_id": "T-STATUS-1", "txnstatus_request": {
        "reference_id": "S-1", "txn_type": "search", "attribute_type": "transaction_id",
        "attribute_value": "T-2026-000123"}},
}
SEARCH_REPLY_EXAMPLE = {
    "signature": _SIG.replace("dept-social-welfare|k1", "gramsetu-registry|k1"),
    "header": {**_HEADER, "message_id": "9c0d…", "action": "on-search", "sender_id": "gramsetu-registry",
               "receiver_id": "dept-social-welfare", "status": "succ", "completed_count": 1},
    "message": {"transaction_id": "T-2026-000123", "correlation_id": "0b7e2f3a-52b4-4d7e-9c1e-2a6a4c1f0d11",
                "search_response": [{
                    "reference_id": "R-1", "timestamp": "2026-12-07T04:00:00.120000+00:00", "status": "succ",
                    "data": {"version": "1.0.0", "reg_type": "ns:org:RegistryType:Social",
                             "reg_record_type": "Member", "reg_records": [{
                                 "@type": "Member", "@id": "urn:gramsetu:registry:person:0193a1c2-…",
                                 "demographic_info": {"name": {"given_name": "Amena Khatun"}, "sex": "female",
                                                      "birth_date": "1960-03-01", "identifier": [
                                                          {"@type": "Identifier", "identifier_type": "BRN",
                                                           "identifier_value": "XXXX XXXX 0011"}]}}]},
                    "pagination": {"page_size": 10, "page_number": 1, "total_count": 1}}]},
}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined (refs inside requestBody must not dangle)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def request_body(model: type[BaseModel], examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``openapi_extra`` for a DCI route: the typed envelope and named examples."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": _inline(model.model_json_schema()),
        "examples": {name: {"value": value} for name, value in examples.items()},
    }}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": DciAck, "description": f"{what}: the DCI error acknowledgement (ack_status ERR)"}
    for status, what in ((400, "Bad envelope, header or message"), (401, "No token, or signature missing/invalid"),
                         (403, "Scope, or sender_id not onboarded for this client"), (413, "Message too large"),
                         (415, "Body not sent as Content-Type: application/json"))
}
