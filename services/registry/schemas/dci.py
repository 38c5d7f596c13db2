"""DCI (SPDCI social registry v1.0.0) message shapes we parse, and the sender onboarding API.

Only what must hold for the whole message is checked here (a failure is an ``ERR`` ack);
each batch item's criteria are checked one by one so a bad item is rejected (``rjct``) with
its own reason code while the rest of the batch is answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

Text99 = Field(min_length=1, max_length=99)


class MsgHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "1.0.0"
    message_id: str = Field(min_length=1, max_length=200)
    message_ts: AwareDatetime
    action: str = Field(min_length=1, max_length=50)
    sender_id: str = Field(min_length=1, max_length=200)
    sender_uri: str | None = Field(default=None, max_length=2000)
    receiver_id: str | None = Field(default=None, max_length=200)
    total_count: StrictInt = Field(ge=0)
    is_msg_encrypted: bool = False
    meta: dict[str, Any] | None = None


class BatchItem(BaseModel):
    """A search/subscribe batch item; its criteria are validated separately (per-item reject)."""

    model_config = ConfigDict(extra="allow")

    reference_id: str = Text99
    timestamp: Any = None
    locale: str | None = Field(default=None, pattern=r"^[a-z]{3}$")


class SearchItem(BatchItem):
    search_criteria: dict[str, Any]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    search_request: list[SearchItem] = Field(min_length=1)


class Pagination(BaseModel):
    page_size: int = Field(ge=1)
    page_number: int = Field(default=1, ge=1)


class SortItem(BaseModel):
    attribute_name: str = Field(min_length=1, max_length=64)
    sort_order: Literal["asc", "desc"] = "asc"


class SearchCriteria(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "1.0.0"
    reg_type: str | None = Field(default=None, max_length=200)
    reg_record_type: str | None = Field(default=None, max_length=200)
    query_type: Literal["idtype-value", "expression", "predicate"]
    query: dict[str, Any] | list[Any]
    response_entity: Literal["Group", "Member"] = "Member"
    sort: list[Any] = Field(default_factory=list, max_length=5)
    pagination: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    authorize: dict[str, Any] | None = None


class Frequency(BaseModel):
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    frequency: str | None = Field(default=None, max_length=100)


class SubscribeCriteria(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "1.0.0"
    reg_type: str | None = Field(default=None, max_length=200)
    reg_event_type: str = Field(min_length=1, max_length=200)
    frequency: Frequency | None = None
    filter_type: Literal["idtype-value", "expression", "predicate", "graphql"] | None = None
    filter: dict[str, Any] | list[Any]
    notify_record_type: str = Field(min_length=1, max_length=200)
    authorize: dict[str, Any] | None = None


class SubscribeItem(BatchItem):
    subscribe_criteria: dict[str, Any]


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    subscribe_request: list[SubscribeItem] = Field(min_length=1)


class UnsubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    timestamp: AwareDatetime
    # SubscriptionCode is a string of at most 99 characters in the spec.
    subscription_codes: list[Annotated[str, Field(min_length=1, max_length=99)]] = Field(min_length=1,
                                                                                       max_length=100)

    @classmethod
    def parse(cls, message: dict[str, Any]) -> UnsubscribeRequest:
        # The CRVS/FR specs misspell the field as ``sunscription_codes`` (known defect): accept both.
        if "subscription_codes" not in message and "sunscription_codes" in message:
            message = {**message, "subscription_codes": message["sunscription_codes"]}
        return cls.model_validate(message)


class TxnStatusQuery(BaseModel):
    reference_id: str = Text99
    txn_type: Literal["search", "subscribe", "receipt"]
    attribute_type: Literal["transaction_id", "reference_id_list", "correlation_id"]
    # anyOf (not oneOf, a known defect): a transaction/correlation id or a list of reference ids.
    attribute_value: str | list[str]
    locale: str | None = Field(default=None, pattern=r"^[a-z]{3}$")


class TxnStatusRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    transaction_id: str = Text99
    txnstatus_request: TxnStatusQuery


# ------------------------------------------------------------------ sender onboarding (native API)
class SenderIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "client_id": "cl_5e1f0a9b7c3d2e10", "name": "Department of Social Welfare",
        "callback_allowlist": ["https://dsw.example.gov.bd/dci/"],
        "default_callback_uri": "https://dsw.example.gov.bd/dci/registry",
        "public_keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
                         "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}],
        "require_signature": True,
    }]})

    client_id: str = Field(min_length=1, max_length=100, description="The gateway OAuth2 client of this system")
    name: str = Field(min_length=1, max_length=200)
    callback_allowlist: list[str] = Field(
        default_factory=list, max_length=20,
        description="URL prefixes callbacks may go to (https; plain http only to loopback outside production)",
    )
    default_callback_uri: str | None = Field(default=None, max_length=2000)
    public_keys: list[dict[str, Any]] = Field(default_factory=list, max_length=10,
                                              description="Ed25519 public JWKs (kty OKP, crv Ed25519, kid, x)")
    require_signature: bool = Field(
        default=True,
        description="Verify every envelope's Ed25519 signature against public_keys. false: accept unsigned "
                    "envelopes (each transaction records accepted_unsigned); refused outside development unless "
                    "GRAMSETU_REGISTRY_DCI_ALLOW_UNSIGNED_SENDERS=true",
    )

    @field_validator("public_keys")
    @classmethod
    def _keys_have_ids(cls, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from services.registry.service.dci_signing import public_key_from_jwk

        for key in keys:
            if not isinstance(key.get("kid"), str) or not key["kid"]:
                raise ValueError("every public key needs a kid")
            public_key_from_jwk(key)
        return [{k: key[k] for k in ("kty", "crv", "x", "kid") if k in key} for key in keys]


class SenderOut(BaseModel):
    sender_id: str
    client_id: str
    name: str
    callback_allowlist: list[str]
    default_callback_uri: str | None
    public_keys: list[dict[str, Any]]
    require_signature: bool
    created_at: datetime
    updated_at: datetime
