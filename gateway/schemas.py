"""Request and response bodies of the gateway's own API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6749 token type, not a secret
    expires_in: int
    scope: str = ""


class OAuthError(BaseModel):
    error: str = Field(description="RFC 6749 §5.2 error code")
    error_description: str | None = None


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"username": "asha.devi", "password": "a-long-passphrase"}]})

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "district-portal", "scopes": ["registry:read"], "area_scope": ["BD-40-87"],
        "cors_origins": ["https://portal.example.org"]}]})

    name: str = Field(min_length=1, max_length=100, examples=["district-portal"])
    scopes: list[str] = Field(max_length=50, examples=[["registry:read"]])
    area_scope: list[str] = Field(default=[], max_length=200, description="Area codes; empty: every country")
    cors_origins: list[str] = Field(default=[], max_length=20, examples=[["https://portal.example.org"]])
    rate_per_minute: float | None = Field(default=None, gt=0, le=1e9)
    roles: list[str] = Field(default=[], max_length=20, examples=[["department_officer"]],
                             description="Operator roles a system acting for people carries (docs/roles.md)")


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scopes: list[str]
    area_scope: list[str]
    cors_origins: list[str]
    rate_per_minute: float | None
    roles: list[str] = []
    created_at: datetime
    revoked_at: datetime | None


class ClientCredentials(BaseModel):
    """Shown once: store the secret and the API key now, the gateway keeps only their hashes."""

    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    client_secret: str
    api_key: str
    scopes: list[str]
    area_scope: list[str]
    old_credentials_expire_at: datetime | None = None


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]})

    overlap_seconds: int = Field(default=86400, ge=0, le=30 * 86400)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "username": "asha.devi", "password": "a-long-passphrase", "roles": ["e_volunteer"],
        "area_scope": ["BD-40-87-90-54-08"], "display_name": "Asha Devi"}]})

    username: str = Field(min_length=3, max_length=64, examples=["asha.devi"])
    password: str = Field(min_length=12, max_length=256)
    roles: list[str] = Field(min_length=1, max_length=11, examples=[["e_volunteer"]])
    area_scope: list[str] = Field(min_length=1, max_length=200, examples=[["IN-23-0456"]])
    display_name: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "roles": ["ward_member"], "area_scope": ["BD-40-87-90-54-08"]}]})

    roles: list[str] | None = Field(default=None, min_length=1, max_length=11)
    area_scope: list[str] | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=12, max_length=256)
    disabled: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str | None
    roles: list[str]
    area_scope: list[str]
    created_at: datetime
    disabled_at: datetime | None


class SigningKeyRotated(BaseModel):
    kid: str
