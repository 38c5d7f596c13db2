"""The gateway's own endpoints: tokens, login, JWKS, the merged API description, admin, ops."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from gateway import service
from gateway.metrics import AUTH_FAILURES, RATE_LIMITED
from gateway.models import Principal
from gateway.ratelimit import source_address
from gateway.schemas import (
    ClientCreate,
    ClientCredentials,
    ClientRead,
    LoginRequest,
    OAuthError,
    RotateRequest,
    SigningKeyRotated,
    TokenResponse,
    UserCreate,
    UserRead,
    UserUpdate,
)
from kernel.errors import Forbidden, Problem, Unauthorized

if TYPE_CHECKING:
    from gateway.app import GatewayState

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
router = APIRouter()
admin = APIRouter(prefix="/admin", tags=["gateway"])


async def _state(request: Request) -> GatewayState:  # async: called inline, not in the thread pool
    return request.app.state.gateway  # type: ignore[no-any-return]


State = Annotated["GatewayState", Depends(_state)]


# ---------------------------------------------------------------- OAuth2 client credentials
def _oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> JSONResponse:
    """RFC 6749 §5.2 error body (with the problem-details members alongside, for our own clients)."""
    headers = dict(NO_STORE)
    if basic and error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="gramsetu"'
    body = {"error": error, "error_description": description,
            "type": f"https://gramsetu.org/problems/oauth-{error.replace('_', '-')}",
            "title": error.replace("_", " ").capitalize(), "status": status, "detail": description}
    return JSONResponse(body, status_code=status, headers=headers)


_TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "scope": {"type": "string", "maxLength": 1000},
                "client_id": {"type": "string", "maxLength": 100},
                "client_secret": {"type": "string", "maxLength": 200},
            },
        }}},
    }
}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError, "description": "invalid_request, unsupported_grant_type or invalid_scope"},
    401: {"model": OAuthError, "description": "invalid_client"},
}


@router.post("/oauth2/token", tags=["gateway"], response_model=TokenResponse, responses=_OAUTH_ERRORS,
             openapi_extra=_TOKEN_FORM, summary="OAuth2 client-credentials grant (RFC 6749 §4.4)",
             description=(
                 "A partner or department system exchanges its client id and secret (HTTP Basic, or `client_id`/"
                 "`client_secret` form fields) for a short-lived RS256 bearer token. `scope` narrows the token to "
                 "some of the client's scopes (space-separated). Send the token as `Authorization: Bearer ...`; "
                 "verify it with the keys at `/.well-known/jwks.json`.\n\n"
                 "**Who:** any client (created with `gramsetu clients create` or POST /admin/clients); no other "
                 "credentials.\n\n"
                 "**Errors** (RFC 6749 §5.2 bodies): 400 `invalid_request` (not a form, two authentication "
                 "methods), `unsupported_grant_type`, `invalid_scope` (more than the client was granted); 401 "
                 "`invalid_client` (unknown, revoked or a wrong secret)."))
async def token(request: Request, state: State) -> JSONResponse:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "Send the request as application/x-www-form-urlencoded.")
    try:
        form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    except Exception:
        return _oauth_error(400, "invalid_request", "The form body could not be parsed.")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if fields.get("grant_type") != "client_credentials":
        code = "invalid_request" if "grant_type" not in fields else "unsupported_grant_type"
        return _oauth_error(400, code, "Only grant_type=client_credentials is supported.")
    basic_header = request.headers.get("authorization")
    basic = service.parse_basic(basic_header) if basic_header else None
    if basic_header and basic is None:
        AUTH_FAILURES.labels("bad_client").inc()
        return _oauth_error(401, "invalid_client", "Malformed HTTP Basic credentials.", basic=True)
    if basic and "client_secret" in fields:
        return _oauth_error(400, "invalid_request", "Use one client authentication method, not two.")
    client_id, secret = basic or (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not secret or len(client_id) > 100 or len(secret) > 200:
        AUTH_FAILURES.labels("bad_client").inc()
        return _oauth_error(401, "invalid_client", "Client authentication is required.", basic=basic is not None)
    try:
        issued = await state.identity.client_credentials_token(client_id, secret, fields.get("scope"))
    except service.InvalidClient as exc:
        AUTH_FAILURES.labels("bad_client").inc()
        return _oauth_error(401, "invalid_client", exc.detail, basic=basic is not None)
    except Problem as exc:
        return _oauth_error(400, "invalid_scope", exc.detail)
    return JSONResponse(issued, headers=NO_STORE)


@router.get("/.well-known/jwks.json", tags=["gateway"], summary="Public keys that verify gateway-issued JWTs",
            description="The JSON Web Key Set of the gateway's signing keys (RS256). A key that stopped signing stays "
                        "here until every token it signed has expired. Cache it for up to five minutes.\n\n"
                        "**Who:** anyone, with no credentials: the keys are public.\n\n"
                        "**Errors:** none of its own: it never answers 401 or 403.")
async def jwks(state: State) -> JSONResponse:
    return JSONResponse(state.identity.jwks(), headers={"Cache-Control": "public, max-age=300"})


# ---------------------------------------------------------------- operator login
@router.post("/auth/login", tags=["gateway"], response_model=TokenResponse,
             summary="Operator login: a JWT carrying roles and area scope",
             description=(
                 "An operator (e-volunteer, ward member, help-desk agent, officer) logs in with the username and "
                 "password an administrator created (`gramsetu users create`). The bearer token carries their roles "
                 "and area scope; what each role may do is in docs/roles.md.\n\n"
                 "**Who:** any operator account (roles such as `e_volunteer`, `ward_member`, "
                 "`department_officer`); no other credentials.\n\n"
                 "**Errors:** 401 wrong username or password, or a disabled account; 422 a malformed body; 429 "
                 "too many attempts for this account from this source, or from this source (wait for "
                 "`Retry-After`)."))
async def login(body: LoginRequest, request: Request, state: State) -> JSONResponse:
    # Throttled per account and source, across replicas: guessing from one place cannot lock the
    # operator out elsewhere; a source spraying many names meets its own ceiling.
    source = login_source(request, state.config.trusted_proxies)
    checks = [(f"login:{body.username.strip().lower()}:{source}", state.config.login_limit),
              (f"login-source:{source}", state.config.login_source_limit)]
    for key, limit in checks:
        decision = await state.limiter.take(key, limit)
        if not decision.allowed:
            RATE_LIMITED.labels("login", "anonymous").inc()
            raise Problem("Too many login attempts; wait before trying again.", status=429,
                          type_slug="too-many-requests", title="Too many requests",
                          headers={k.decode(): v.decode() for k, v in decision.headers()})
    try:
        issued = await state.identity.login(body.username, body.password)
    except Unauthorized:
        AUTH_FAILURES.labels("bad_password").inc()
        raise
    return JSONResponse(issued, headers=NO_STORE)


def login_source(request: Request, trusted_proxies: list[str]) -> str:
    """The caller's address: the peer, or behind trusted proxies the last address they did not add."""
    return source_address(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"), trusted_proxies)


# ---------------------------------------------------------------- API description
@router.get("/openapi.json", include_in_schema=False)
async def openapi(state: State) -> JSONResponse:
    assert state.proxy.session is not None
    return JSONResponse(await state.openapi.document(state.proxy.session))


# ---------------------------------------------------------------- admin
async def _admin(request: Request, state: State) -> Principal:
    principal = await state.proxy._authenticate(request.scope["headers"])
    if not principal.is_admin:
        AUTH_FAILURES.labels("not_admin").inc()
        raise Forbidden("Only administrators may manage clients and users.")
    return principal


Admin = Annotated[Principal, Depends(_admin)]
ClientRef = Annotated[str, Path(description="The client's id (`cl_...`) or its name", examples=["district-portal"])]
Username = Annotated[str, Path(description="The operator's username", examples=["asha.devi"])]
_WHO_ADMIN = ("\n\n**Who:** an administrator: the `admin` role, or a client with the `gateway:admin` (or `*`) "
              "scope.")
_ADMIN_REFUSALS = "401 no or a bad credential; 403 not an administrator"


@admin.get("/clients", response_model=list[ClientRead], summary="List clients",
           description="Every API client (partner app or department system) with its scopes, area scope and roles; "
                       "`include_revoked=true` lists revoked ones too. Never a key or secret: only their "
                       "prefixes." + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS + ".")
async def list_clients(state: State, _: Admin, include_revoked: Annotated[bool, Query(
        description="Also list revoked clients")] = False) -> list[ClientRead]:
    async with state.engine.connect() as conn:
        return [ClientRead.model_validate(c) for c in await service.list_clients(conn, include_revoked=include_revoked)]


@admin.post("/clients", status_code=201, response_model=ClientCredentials,
            summary="Create a client (secrets shown once)",
            description="Issues an API key and an OAuth2 client secret for a partner app or department system. "
                        "They are in this answer only: the gateway stores their hashes. An empty `area_scope` "
                        "means every area. `roles` (docs/roles.md) give a system acting for people the scopes "
                        "of those roles." + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS + "; 409 a client "
                        "of that name exists; 422 a malformed scope, area code, CORS origin or name, an unknown "
                        "role.")
async def create_client(body: ClientCreate, state: State, _: Admin) -> JSONResponse:
    async with state.engine.begin() as conn:
        issued = await service.create_client(conn, body.name, body.scopes, body.area_scope,
                                             cors_origins=body.cors_origins, rate_per_minute=body.rate_per_minute,
                                             roles=body.roles)
    state.changed()
    return JSONResponse(ClientCredentials(**asdict(issued)).model_dump(mode="json"), status_code=201,
                        headers=NO_STORE)


@admin.post("/clients/{client}/rotate", response_model=ClientCredentials,
            summary="New key and secret; the old ones work until the overlap ends",
            description="`client` is the client's id or name. The old key and secret keep working for "
                        "`overlap_seconds` (default one day) so the partner can switch without downtime. The new "
                        "ones are in this answer only." + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS
                        + "; 404 no active client of that id or name; 422 an overlap over 30 days.")
async def rotate_client(client: ClientRef, state: State, _: Admin, body: RotateRequest | None = None) -> JSONResponse:
    overlap = body.overlap_seconds if body else state.config.rotation_overlap_seconds
    async with state.engine.begin() as conn:
        issued = await service.rotate_client(conn, client, overlap)
    state.changed()
    return JSONResponse(ClientCredentials(**asdict(issued)).model_dump(mode="json"), headers=NO_STORE)


@admin.post("/clients/{client}/revoke", response_model=ClientRead, summary="Revoke a client and all its credentials",
            description="Its API keys, secrets and issued tokens stop working at once on this gateway replica "
                        "and within the credential cache time on the others." + _WHO_ADMIN + "\n\n**Errors:** "
                        + _ADMIN_REFUSALS + "; 404 no active client of that id or name.")
async def revoke_client(client: ClientRef, state: State, _: Admin) -> ClientRead:
    async with state.engine.begin() as conn:
        record = await service.revoke_client(conn, client)
    state.changed()
    return ClientRead.model_validate(record)


@admin.get("/users", response_model=list[UserRead], summary="List operators",
           description="Every operator account with roles, area scope and whether it is disabled; never a password "
                       "hash." + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS + ".")
async def list_users(state: State, _: Admin) -> list[UserRead]:
    async with state.engine.connect() as conn:
        return [UserRead.model_validate(u) for u in await service.list_users(conn)]


@admin.post("/users", status_code=201, response_model=UserRead, summary="Create an operator",
            description="An account that logs in at `/auth/login`. Roles are those of docs/roles.md; the area "
                        "scope is the subtree of areas the operator works in. Passwords have at least 12 characters."
                        + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS + "; 409 the username exists; 422 a "
                        "short password, a malformed username or area code, an unknown role, no area scope.")
async def create_user(body: UserCreate, state: State, _: Admin) -> UserRead:
    async with state.engine.begin() as conn:
        user = await service.create_user(conn, body.username, body.password, body.roles, body.area_scope,
                                         display_name=body.display_name)
    return UserRead.model_validate(user)


@admin.patch("/users/{username}", response_model=UserRead, summary="Change roles, area scope, password or disable",
             description="Only the fields sent change. A change of roles or area scope, or `disabled: true`, "
                         "applies to tokens already issued, not just to the next login." + _WHO_ADMIN
                         + "\n\n**Errors:** " + _ADMIN_REFUSALS + "; 404 no such user; 422 an unknown role, an "
                         "empty area scope, a short password.")
async def update_user(username: Username, body: UserUpdate, state: State, _: Admin) -> UserRead:
    async with state.engine.begin() as conn:
        user = await service.update_user(conn, username, **body.model_dump(exclude_unset=True))
    state.changed()
    return UserRead.model_validate(user)


@admin.post("/signing-keys/rotate", response_model=SigningKeyRotated,
            summary="Sign new tokens with a fresh key; the old one stays published for its tokens",
            description="Rotate the JWT signing key (e.g. on a schedule or after a suspected leak). Tokens signed "
                        "with the previous key stay valid until they expire; its public key stays in the JWKS."
                        + _WHO_ADMIN + "\n\n**Errors:** " + _ADMIN_REFUSALS + ".")
async def rotate_signing_key(state: State, _: Admin) -> SigningKeyRotated:
    return SigningKeyRotated(kid=await state.identity.rotate_signing_key())
