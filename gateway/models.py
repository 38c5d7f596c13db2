"""Gateway tables (schema ``gateway``) and the domain objects built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, DateTime, Double, ForeignKey, Index, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from gateway import SERVICE
from kernel import roles

metadata = MetaData(schema=SERVICE)
_now = text("now()")

ROLES: tuple[str, ...] = tuple(roles.ROLES)  # the one table: kernel/roles.py, docs/roles.md
SERVICE_NAMES: tuple[str, ...] = ("registry", "benefits", "tickets", "notify", "marketplace")
ADMIN_SCOPE = "gateway:admin"

clients = Table(
    "client",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("area_scope", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("cors_origins", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # A client acting for a system (a department's survey back office) may carry operator roles:
    # it then holds those roles' permissions as well as its own scopes.
    Column("roles", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("rate_per_minute", Double, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# API keys and OAuth2 client secrets: only a SHA-256 of each is kept (they are 256-bit random,
# so a fast hash is enough; slow hashes are for human-chosen passwords).
credentials = Table(
    "credential",
    metadata,
    Column("id", Text, primary_key=True),
    Column("client_id", Text, ForeignKey(f"{SERVICE}.client.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),  # api_key | secret
    Column("hash", Text, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("expires_at", DateTime(timezone=True), nullable=True),  # set on rotation: the overlap end
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_gateway_credential_client", "client_id"),
)

users = Table(
    "operator",
    metadata,
    Column("username", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("display_name", Text, nullable=True),
    Column("roles", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("area_scope", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

signing_keys = Table(
    "signing_key",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_pem", Text, nullable=False),  # encrypted PKCS#8
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("retired_at", DateTime(timezone=True), nullable=True),  # stops signing; still verifies
)

rate_buckets = Table(
    "rate_bucket",
    metadata,
    Column("key", Text, primary_key=True),
    Column("tokens", Double, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)


@dataclass
class Principal:
    """Who an authenticated request comes from; becomes the forwarded identity context."""

    subject: str
    kind: str  # client | user
    scopes: list[str]
    area_scope: list[str]
    roles: list[str] = field(default_factory=list)
    client_id: str | None = None
    name: str = ""
    cors_origins: list[str] = field(default_factory=list)
    rate_per_minute: float | None = None
    # Cached signed identity headers and when they must be re-signed (a hot-path saving).
    signed: dict[str, str] | None = None
    signed_until: float = 0.0
    # The scopes the token was issued with, and the stored grant last applied (see gateway.service).
    token_scopes: list[str] = field(default_factory=list)
    grant: object | None = None

    def has_scope(self, scope: str) -> bool:
        service = scope.split(":", 1)[0]
        return scope in self.scopes or f"{service}:*" in self.scopes or "*" in self.scopes

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles or ADMIN_SCOPE in self.scopes or "*" in self.scopes


class _FromRow:
    """Build a record dataclass from the columns of a SQL row that share its field names."""

    @classmethod
    def from_row(cls: type[_R], row: Any) -> _R:
        m = row._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})  # type: ignore[attr-defined]


_R = TypeVar("_R", bound=_FromRow)


@dataclass
class ClientRecord(_FromRow):
    id: str
    name: str
    scopes: list[str]
    area_scope: list[str]
    cors_origins: list[str]
    rate_per_minute: float | None
    created_at: datetime
    revoked_at: datetime | None
    roles: list[str] = field(default_factory=list)



@dataclass
class UserRecord(_FromRow):
    username: str
    display_name: str | None
    roles: list[str]
    area_scope: list[str]
    created_at: datetime
    disabled_at: datetime | None



@dataclass
class IssuedCredentials:
    """Shown once, at creation or rotation; never stored in clear."""

    client_id: str
    name: str
    client_secret: str
    api_key: str
    scopes: list[str]
    area_scope: list[str]
    old_credentials_expire_at: datetime | None = None
