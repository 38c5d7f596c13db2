"""Gateway business rules: clients, credentials, operators, tokens and authentication.

Admin operations are plain functions on a connection (the CLI and the admin API share them).
:class:`IdentityService` is the per-process hot path: it authenticates every proxied request
from in-memory caches and touches PostgreSQL only on a cache miss.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import tokens
from gateway.config import GatewayConfig
from gateway.models import (
    ROLES,
    ClientRecord,
    IssuedCredentials,
    Principal,
    UserRecord,
)
from gateway.repository import GatewayRepository
from gateway.security import (
    credential_hash,
    hash_password,
    new_api_key,
    new_client_secret,
    new_id,
    verify_password,
)
from kernel import roles
from kernel.areas import InvalidAreaCode, parse_area_code
from kernel.auth import Identity, sign_identity
from kernel.errors import Conflict, NotFound, Problem, Unauthorized, ValidationProblem
from kernel.settings import Settings

_SCOPE = re.compile(r"^(\*|[a-z][a-z_]*:(\*|[a-z][a-z_]*))$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._\-]{0,99}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._\-@]{2,63}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$")
ALL_COUNTRIES = ["IN", "BD"]

# What each operator role may do, derived from the one table (kernel/roles.py, docs/roles.md);
# the area scope then limits *where*.
ROLE_SCOPES: dict[str, list[str]] = roles.role_scopes()


class InvalidClient(Problem):
    status, type_slug, title = 401, "invalid-client", "Client authentication failed"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------- validation
def validate_scopes(scopes: Iterable[str]) -> list[str]:
    out = sorted({s.strip() for s in scopes if s.strip()})
    bad = [s for s in out if not _SCOPE.match(s)]
    if bad:
        raise ValidationProblem(
            f"Invalid scope(s) {', '.join(bad)}: use service:action, e.g. registry:read",
            errors=[{"field": "scopes", "reason": f"invalid scope {s!r}"} for s in bad],
        )
    return out


def validate_areas(areas: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in areas:
        try:
            out.append(parse_area_code(raw).value)
        except InvalidAreaCode as exc:
            raise ValidationProblem(f"Invalid area code {raw!r}: {exc}",
                                    errors=[{"field": "area_scope", "reason": str(exc)}]) from exc
    return sorted(set(out))


def validate_roles(names: Iterable[str], *, allow_empty: bool = False) -> list[str]:
    out = sorted({r.strip() for r in names if r.strip()})
    bad = [r for r in out if r not in ROLES]
    if bad or (not out and not allow_empty):
        raise ValidationProblem(
            f"Unknown or missing role(s) {', '.join(bad)}; roles are: {', '.join(ROLES)}",
            errors=[{"field": "roles", "reason": "unknown role"}],
        )
    return out


def _validate_origins(origins: Iterable[str]) -> list[str]:
    out = sorted({o.strip().rstrip("/") for o in origins if o.strip()})
    bad = [o for o in out if not _ORIGIN.match(o)]
    if bad:
        raise ValidationProblem(f"Invalid CORS origin(s) {', '.join(bad)}: use scheme://host[:port]",
                                errors=[{"field": "cors_origins", "reason": "invalid origin"}])
    return out


def scopes_for_roles(names: Iterable[str]) -> list[str]:
    return roles.scopes_for_roles(names)


# ---------------------------------------------------------------- clients (admin)
async def _issue(repo: GatewayRepository, client: ClientRecord) -> tuple[str, str]:
    api_key, secret = new_api_key(), new_client_secret()
    await repo.add_credential(id=new_id("key_"), client_id=client.id, kind="api_key", hash=credential_hash(api_key))
    await repo.add_credential(id=new_id("sec_"), client_id=client.id, kind="secret", hash=credential_hash(secret))
    return api_key, secret


async def create_client(
    conn: AsyncConnection,
    name: str,
    scopes: Iterable[str],
    area_scope: Iterable[str] | None = None,
    *,
    cors_origins: Iterable[str] = (),
    rate_per_minute: float | None = None,
    roles: Iterable[str] = (),
) -> IssuedCredentials:
    if not _NAME.match(name):
        raise ValidationProblem("Client names are 1-100 letters, digits, spaces, dots, dashes or underscores.",
                                errors=[{"field": "name", "reason": "invalid"}])
    if rate_per_minute is not None and not 0 < rate_per_minute <= 1e9:
        raise ValidationProblem("rate_per_minute must be in (0, 1e9]",
                                errors=[{"field": "rate_per_minute", "reason": "out of range"}])
    repo = GatewayRepository(conn)
    if await repo.client_exists(name):
        raise Conflict(f"A client named {name!r} already exists.")
    areas = validate_areas(area_scope) if area_scope else list(ALL_COUNTRIES)
    try:
        client = await repo.insert_client(
            id=new_id("cl_"), name=name, scopes=validate_scopes(scopes), area_scope=areas,
            cors_origins=_validate_origins(cors_origins), rate_per_minute=rate_per_minute,
            roles=validate_roles(roles, allow_empty=True),
        )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise Conflict(f"A client named {name!r} already exists.") from exc
    api_key, secret = await _issue(repo, client)
    return IssuedCredentials(client.id, client.name, secret, api_key, client.scopes, client.area_scope)


async def _live_client(repo: GatewayRepository, id_or_name: str) -> ClientRecord:
    client = await repo.get_client(id_or_name)
    if client is None or client.revoked_at is not None:
        raise NotFound(f"No active client {id_or_name!r}.")
    return client


async def rotate_client(conn: AsyncConnection, id_or_name: str, overlap_seconds: int) -> IssuedCredentials:
    """New API key and secret; the old ones keep working for ``overlap_seconds``."""
    if not 0 <= overlap_seconds <= 30 * 86400:
        raise ValidationProblem("overlap must be between 0 and 30 days",
                                errors=[{"field": "overlap_seconds", "reason": "out of range"}])
    repo = GatewayRepository(conn)
    client = await _live_client(repo, id_or_name)
    until = _utcnow() + timedelta(seconds=overlap_seconds)
    await repo.expire_credentials(client.id, until)
    api_key, secret = await _issue(repo, client)
    return IssuedCredentials(client.id, client.name, secret, api_key, client.scopes, client.area_scope, until)


async def revoke_client(conn: AsyncConnection, id_or_name: str) -> ClientRecord:
    repo = GatewayRepository(conn)
    client = await _live_client(repo, id_or_name)
    await repo.revoke_client(client.id, _utcnow())
    return (await repo.get_client(client.id)) or client


async def list_clients(conn: AsyncConnection, *, include_revoked: bool = False) -> list[ClientRecord]:
    return await GatewayRepository(conn).list_clients(include_revoked=include_revoked)


# ---------------------------------------------------------------- operators (admin)
def _check_password(password: str) -> None:
    if not 12 <= len(password) <= 256:
        raise ValidationProblem("Passwords are 12-256 characters.", errors=[{"field": "password", "reason": "length"}])


async def create_user(
    conn: AsyncConnection, username: str, password: str, roles: Iterable[str], area_scope: Iterable[str],
    *, display_name: str | None = None,
) -> UserRecord:
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationProblem("Usernames are 3-64 lower-case letters, digits, . _ - or @.",
                                errors=[{"field": "username", "reason": "invalid"}])
    _check_password(password)
    role_list = validate_roles(roles)
    areas = validate_areas(area_scope)
    if not areas:
        raise ValidationProblem("An operator needs an area scope (at least one area code).",
                                errors=[{"field": "area_scope", "reason": "empty"}])
    repo = GatewayRepository(conn)
    if await repo.get_user(username) is not None:
        raise Conflict(f"User {username!r} already exists.")
    try:
        return await repo.insert_user(username=username, password_hash=hash_password(password),
                                      roles=role_list, area_scope=areas, display_name=display_name)
    except IntegrityError as exc:
        raise Conflict(f"User {username!r} already exists.") from exc


async def update_user(
    conn: AsyncConnection, username: str, *, roles: Iterable[str] | None = None,
    area_scope: Iterable[str] | None = None, password: str | None = None, disabled: bool | None = None,
) -> UserRecord:
    values: dict[str, Any] = {}
    if roles is not None:
        values["roles"] = validate_roles(roles)
    if area_scope is not None:
        values["area_scope"] = validate_areas(area_scope)
        if not values["area_scope"]:
            raise ValidationProblem("area_scope cannot be empty", errors=[{"field": "area_scope", "reason": "empty"}])
    if password is not None:
        _check_password(password)
        values["password_hash"] = hash_password(password)
    if disabled is not None:
        values["disabled_at"] = _utcnow() if disabled else None
    repo = GatewayRepository(conn)
    user = await repo.update_user(username, **values) if values else (await repo.get_user(username) or (None,))[0]
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


async def list_users(conn: AsyncConnection) -> list[UserRecord]:
    return await GatewayRepository(conn).list_users()


# ---------------------------------------------------------------- signing keys
async def ensure_signing_key(conn: AsyncConnection, passphrase: str, *, rotate: bool = False) -> None:
    repo = GatewayRepository(conn)
    await repo.lock_signing_keys()
    if rotate or not await repo.has_active_signing_key():
        kid, pem, jwk = tokens.generate_key(passphrase)
        await repo.add_signing_key(kid=kid, private_pem=pem, public_jwk=jwk, at=_utcnow())


# ---------------------------------------------------------------- the hot path
class IdentityService:
    """Authenticates requests and issues tokens for one gateway process."""

    CACHE_LIMIT = 50_000

    def __init__(self, engine: AsyncEngine, settings: Settings, config: GatewayConfig) -> None:
        self.engine = engine
        self.settings = settings
        self.config = config
        self.passphrase = config.key_passphrase or settings.identity_secret
        self.keys: dict[str, tokens.SigningKey] = {}
        self.active_key: tokens.SigningKey | None = None
        self._keys_loaded_at = 0.0
        self._api_keys: dict[str, tuple[Principal | None, float]] = {}
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._alive: dict[str, tuple[Grant | None, float]] = {}

    # -- signing keys
    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await ensure_signing_key(conn, self.passphrase)
        await self.reload_keys()

    async def reload_keys(self) -> None:
        grace = _utcnow() - timedelta(seconds=self.config.signing_key_grace_seconds)
        async with self.engine.connect() as conn:
            rows = await GatewayRepository(conn).signing_keys(grace)
        keys: dict[str, tokens.SigningKey] = {}
        for row in rows:
            known = self.keys.get(row["kid"])
            retired = row["retired_at"].timestamp() if row["retired_at"] else None
            if known is not None:
                known.retired_at = retired
                keys[row["kid"]] = known
            else:
                keys[row["kid"]] = tokens.load_key(row["kid"], row["private_pem"], row["public_jwk"],
                                                   self.passphrase, row["created_at"].timestamp(), retired)
        self.keys = keys
        active = [k for k in keys.values() if k.retired_at is None]
        self.active_key = max(active, key=lambda k: k.created_at) if active else None
        self._keys_loaded_at = time.monotonic()

    async def rotate_signing_key(self) -> str:
        async with self.engine.begin() as conn:
            await ensure_signing_key(conn, self.passphrase, rotate=True)
        await self.reload_keys()
        assert self.active_key is not None
        return self.active_key.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in sorted(self.keys.values(), key=lambda k: -k.created_at)]}

    # -- token issuance
    def _mint(self, subject: str, *, kind: str, scopes: list[str], area_scope: list[str], roles: list[str],
              client_id: str | None, ttl: int) -> dict[str, Any]:
        if self.active_key is None:
            raise Problem("No signing key is available.", status=503, type_slug="service-unavailable",
                          title="Service unavailable")
        now = int(time.time())
        claims = {
            "iss": self.config.issuer, "aud": self.config.audience, "sub": subject, "iat": now, "nbf": now,
            "exp": now + ttl, "jti": uuid.uuid4().hex, "kind": kind, "scope": " ".join(scopes),
            "roles": roles, "area_scope": area_scope, "client_id": client_id,
        }
        return {"access_token": tokens.sign(claims, self.active_key), "token_type": "Bearer",
                "expires_in": ttl, "scope": " ".join(scopes)}

    async def client_credentials_token(self, client_id: str, client_secret: str,
                                       requested: str | None) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            client = await GatewayRepository(conn).client_by_credential(credential_hash(client_secret), "secret")
        if client is None or client.id != client_id:
            raise InvalidClient("Unknown client or wrong secret.")
        granted = client_scopes(client)
        scopes = granted
        if requested is not None:
            wanted = requested.split()
            if not wanted or any(not _covered(s, granted) for s in wanted):
                raise Problem("The requested scope exceeds what this client was granted.",
                              type_slug="invalid-scope", title="Invalid scope")
            scopes = sorted(set(wanted))
        return self._mint(client.id, kind="client", scopes=scopes, area_scope=client.area_scope,
                          roles=client.roles, client_id=client.id, ttl=self.config.client_token_ttl_seconds)

    async def login(self, username: str, password: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            found = await GatewayRepository(conn).get_user(username.strip().lower())
        user, password_hash = found if found else (None, None)
        ok = await verify_password(password_hash, password)
        if user is None or not ok or user.disabled_at is not None:
            raise Unauthorized("Wrong username or password.")
        return self._mint(user.username, kind="user", scopes=scopes_for_roles(user.roles),
                          area_scope=user.area_scope, roles=user.roles, client_id=None,
                          ttl=self.config.user_token_ttl_seconds)

    # -- authentication of proxied requests
    async def authenticate(self, api_key: str | None, bearer: str | None) -> Principal:
        if bearer is not None:
            return await self._from_token(bearer)
        if api_key is not None:
            return await self._from_api_key(api_key)
        raise Unauthorized("Authentication required: send X-API-Key or Authorization: Bearer <token>.",
                           headers={"WWW-Authenticate": 'Bearer realm="gramsetu"'}, reason="missing")

    async def _from_api_key(self, api_key: str) -> Principal:
        digest = credential_hash(api_key)
        now = time.monotonic()
        cached = self._api_keys.get(digest)
        if cached is None or cached[1] < now:
            async with self.engine.connect() as conn:
                client = await GatewayRepository(conn).client_by_credential(digest, "api_key")
            cached = (_client_principal(client) if client else None, now + self.config.credential_cache_seconds)
            self._remember(self._api_keys, digest, cached)
        principal = cached[0]
        if principal is None:
            raise Unauthorized("Unknown, rotated-out or revoked API key.",
                               headers={"WWW-Authenticate": 'Bearer realm="gramsetu"'}, reason="bad_api_key")
        return principal

    async def _from_token(self, token: str) -> Principal:
        now = time.time()
        cached = self._tokens.get(token)
        if cached is not None and cached[1] > now:
            principal = cached[0]
        else:
            claims = await self._verify(token)
            principal = _token_principal(claims)
            self._remember(self._tokens, token, (principal, float(claims["exp"])))
        grant = await self._current_grant(principal)
        if grant is None:
            raise Unauthorized("This token's client or user has been revoked or disabled.",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, reason="revoked")
        if principal.grant is not grant:
            _apply_grant(principal, grant)
        return principal

    async def _verify(self, token: str) -> dict[str, Any]:
        kid = tokens.unverified_kid(token)
        key = self.keys.get(kid or "")
        stale = time.monotonic() - self._keys_loaded_at > self.config.signing_key_reload_seconds
        if kid and ((key is None and time.monotonic() - self._keys_loaded_at > 1.0) or stale):
            await self.reload_keys()  # a key another replica just rotated in, or periodic refresh
            key = self.keys.get(kid)
        if key is None:
            raise _bad_token("The token is not signed by a key this gateway publishes.", "forged")
        try:
            return tokens.verify(token, key, issuer=self.config.issuer, audience=self.config.audience)
        except jwt.ExpiredSignatureError as exc:
            raise _bad_token("The token has expired.", "expired") from exc
        except jwt.PyJWTError as exc:
            raise _bad_token("The token is invalid.", "forged") from exc

    async def _current_grant(self, principal: Principal) -> Grant | None:
        """What the database grants this token's user or client now (None: revoked or disabled).

        Checked again every ``credential_cache_seconds``, so revoking a client, disabling a user
        and changing an operator's roles or area scope all reach tokens already issued.
        """
        key = f"{principal.kind}:{principal.subject}"
        now = time.monotonic()
        cached = self._alive.get(key)
        if cached is None or cached[1] < now:
            async with self.engine.connect() as conn:
                repo = GatewayRepository(conn)
                grant: Grant | None = None
                if principal.kind == "client":
                    client = await repo.get_client(principal.subject)
                    if client is not None and client.revoked_at is None:
                        grant = Grant.of_client(client)
                else:
                    found = await repo.get_user(principal.subject)
                    if found is not None and found[0].disabled_at is None:
                        grant = Grant.of_user(found[0])
            cached = (grant, now + self.config.credential_cache_seconds)
            self._remember(self._alive, key, cached)
        return cached[0]

    def _remember(self, cache: dict[str, Any], key: str, value: Any) -> None:
        if len(cache) >= self.CACHE_LIMIT:
            cache.clear()  # crude but bounded; entries are cheap to rebuild
        cache[key] = value

    def forget(self) -> None:
        """Drop every cached credential (after an admin change on this replica)."""
        self._api_keys.clear()
        self._tokens.clear()
        self._alive.clear()

    def identity_headers(self, principal: Principal) -> dict[str, str]:
        now = time.time()
        if principal.signed is None or principal.signed_until < now:
            ttl = self.settings.identity_ttl_seconds
            identity = Identity(subject=principal.subject, kind=principal.kind, roles=principal.roles,
                                scopes=principal.scopes, area_scope=principal.area_scope,
                                client_id=principal.client_id, expires_at=now + ttl)
            principal.signed = sign_identity(identity, self.settings.identity_secret)
            principal.signed_until = now + ttl / 2  # re-sign well before services would refuse it
        return principal.signed


def _covered(scope: str, granted: list[str]) -> bool:
    return Principal("", "", granted, []).has_scope(scope) if _SCOPE.match(scope) else False


def _bad_token(detail: str, reason: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, reason=reason)


def client_scopes(client: ClientRecord) -> list[str]:
    """A client's own scopes plus those of the roles it carries."""
    return sorted(set(client.scopes) | set(scopes_for_roles(client.roles)))


@dataclass(frozen=True)
class Grant:
    """What a user or client may do right now, as stored (roles and area scope can change)."""

    roles: list[str]
    scopes: list[str]
    area_scope: list[str]
    is_client: bool
    name: str = ""
    cors_origins: list[str] = field(default_factory=list)
    rate_per_minute: float | None = None

    @classmethod
    def of_client(cls, client: ClientRecord) -> Grant:
        return cls(client.roles, client_scopes(client), client.area_scope, True, client.name, client.cors_origins,
                   client.rate_per_minute)

    @classmethod
    def of_user(cls, user: UserRecord) -> Grant:
        return cls(user.roles, scopes_for_roles(user.roles), user.area_scope, False, user.username)


def _apply_grant(principal: Principal, grant: Grant) -> None:
    """Bring a token's principal to what is granted now; the signed identity is re-made."""
    if grant.is_client:  # a client token keeps the scopes it asked for, as far as they are still granted
        principal.scopes = [s for s in principal.token_scopes if _covered(s, grant.scopes)]
        principal.cors_origins, principal.rate_per_minute = grant.cors_origins, grant.rate_per_minute
    else:
        principal.scopes = grant.scopes
    principal.name = grant.name
    principal.roles, principal.area_scope = grant.roles, grant.area_scope
    principal.grant, principal.signed = grant, None


def _client_principal(client: ClientRecord) -> Principal:
    scopes = client_scopes(client)
    return Principal(subject=client.id, kind="client", scopes=scopes, area_scope=client.area_scope,
                     roles=client.roles, client_id=client.id, name=client.name, cors_origins=client.cors_origins,
                     rate_per_minute=client.rate_per_minute, token_scopes=scopes)


def _token_principal(claims: dict[str, Any]) -> Principal:
    kind = claims.get("kind") if claims.get("kind") in ("client", "user") else "user"
    scopes = str(claims.get("scope", "")).split()
    return Principal(
        subject=str(claims["sub"]), kind=str(kind), scopes=scopes,
        area_scope=[str(a) for a in claims.get("area_scope") or []],
        roles=[str(r) for r in claims.get("roles") or []],
        client_id=claims.get("client_id"), name=str(claims["sub"]) if kind == "user" else "",
        token_scopes=scopes,
    )


def parse_basic(header: str) -> tuple[str, str] | None:
    """RFC 7617 Basic credentials (RFC 6749 §2.3.1 form-urlencodes id and secret first)."""
    from urllib.parse import unquote_plus

    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)
