"""Microsoft Graph v1.0 users/groups emulator, with the Microsoft identity platform token endpoint.

Token endpoint: ``POST /{tenant}/oauth2/v2.0/token`` takes the client-credentials form (``client_id``,
``client_secret``, ``scope=https://graph.microsoft.com/.default``, ``grant_type=client_credentials``) and
answers ``{"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}``, or the AADSTS error
shape ``{"error", "error_description", "error_codes", "trace_id", "correlation_id", ...}`` (unknown tenant
or client 400, wrong secret 401 ``invalid_client``, bad scope 400 ``invalid_scope``).

Graph, under ``/v1.0``, with ``Authorization: Bearer <issued, unexpired token>`` (else 401
``InvalidAuthenticationToken``):
- ``GET /users/{id | userPrincipalName}`` and ``GET /users?$filter=mail eq '...'`` (or
  ``userPrincipalName eq``; other filters 400 ``Request_UnsupportedQuery``). ``$select`` is honoured and,
  as in Graph, ``accountEnabled`` is not among the default properties.
- ``PATCH /users/{id}`` with ``passwordProfile`` (complexity checked; on-premises synced users refused)
  and/or ``accountEnabled``; 204. Setting a password ends a smart lockout, as an admin reset does.
- ``GET /users/{id}/memberOf``: direct memberships, ``$top`` (capped by ``max_page_size``), ``$skiptoken``
  paging with an absolute ``@odata.nextLink``.
- ``POST /groups/{id}/members/$ref`` with ``{"@odata.id": ".../directoryObjects/{id}"}``; 204, or 400
  "One or more added object references already exist ..." when already a member.
Errors use ``{"error": {"code", "message", "innerError"}}``. Faults (429 with ``Retry-After``, 5xx,
latency) come from the harness's ``/_behavior``.

Control endpoints: ``GET /_state`` (users, groups with members, counters), ``POST /_reset`` (back to the
seeds, no tokens), ``POST /_revoke_tokens``.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.emulators.harness import EmulatorState, build_emulator_app

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_DEFAULT_USER_FIELDS = ("id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "jobTitle")
_USER_FIELDS = set(_DEFAULT_USER_FIELDS) | {"accountEnabled", "onPremisesSyncEnabled"}
_FILTER = re.compile(r"^(?P<field>mail|userPrincipalName) eq '(?P<value>(?:[^']|'')*)'$")
_OBJECT_REF = re.compile(r"/(?:directoryObjects|users)/(?P<id>[0-9a-fA-F-]{36})$")
_ALREADY_EXIST = (
    "One or more added object references already exist for the following modified properties: 'members'."
)


@dataclass(frozen=True)
class GraphUserSeed:
    """One user of the tenant."""

    id: str
    user_principal_name: str
    mail: str | None
    display_name: str
    account_enabled: bool = True
    on_premises_sync_enabled: bool = False
    locked_out: bool = False


@dataclass(frozen=True)
class GraphGroupSeed:
    """One security group and its direct members (user ids)."""

    id: str
    display_name: str
    members: tuple[str, ...] = ()


class GraphError(Exception):
    """A Graph error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TokenError(Exception):
    """A token endpoint error response."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


@dataclass
class _Tenant:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)

    def load(self, users: Sequence[GraphUserSeed], groups: Sequence[GraphGroupSeed]) -> None:
        """Forget every change: the seeded users and groups, no tokens, no counters."""
        self.users = {seed.id.lower(): _user_record(seed) for seed in users}
        self.groups = {seed.id: {"id": seed.id, "displayName": seed.display_name} for seed in groups}
        self.members = {seed.id: [member.lower() for member in seed.members] for seed in groups}
        self.tokens = {}
        self.counters = Counter()


def build_app(
    users: Sequence[GraphUserSeed],
    groups: Sequence[GraphGroupSeed],
    *,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    token_lifetime_s: int = 3599,
    max_page_size: int = 999,
) -> tuple[FastAPI, EmulatorState]:
    """A tenant holding ``users`` and ``groups``, for one app registration (client id and secret)."""
    app, state = build_emulator_app("msgraph")
    tenant = _Tenant()
    tenant.load(users, groups)

    @app.exception_handler(GraphError)
    async def graph_error(_: Request, exc: GraphError) -> JSONResponse:
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        body = {"error": {"code": exc.code, "message": exc.message, "innerError": inner}}
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(TokenError)
    async def token_error(_: Request, exc: TokenError) -> JSONResponse:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": exc.error,
            "error_description": (
                f"AADSTS{exc.code}: {exc.description}\r\nTrace ID: {trace}\r\n"
                f"Correlation ID: {correlation}\r\nTimestamp: {now}"
            ),
            "error_codes": [exc.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={exc.code}",
        }
        return JSONResponse(body, status_code=exc.status)

    @app.post("/{tenant_key}/oauth2/v2.0/token")
    async def token(tenant_key: str, request: Request) -> JSONResponse:
        tenant.counters["token_requests"] += 1
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        if tenant_key != tenant_id:
            raise TokenError(400, "invalid_request", 90002, f"Tenant '{tenant_key}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise TokenError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant.")
        if form.get("client_id") != client_id:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
            )
        if form.get("client_secret") != client_secret:
            raise TokenError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != GRAPH_SCOPE:
            raise TokenError(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        issued = secrets.token_urlsafe(32)
        tenant.tokens[issued] = time.monotonic() + token_lifetime_s
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": token_lifetime_s,
                "ext_expires_in": token_lifetime_s,
                "access_token": issued,
            }
        )

    def guard(request: Request) -> None:
        header = request.headers.get("authorization", "")
        presented = header[7:] if header.startswith("Bearer ") else ""
        if not presented:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        expiry = tenant.tokens.get(presented)
        if expiry is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if time.monotonic() >= expiry:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )

    def find(key: str) -> dict[str, Any]:
        user = tenant.users.get(key.lower()) or next(
            (u for u in tenant.users.values() if u["userPrincipalName"].lower() == key.lower()), None
        )
        if user is None:
            raise GraphError(404, "Request_ResourceNotFound", _not_found(key))
        return user

    @app.get("/v1.0/users/{key}")
    async def get_user(key: str, request: Request) -> JSONResponse:
        guard(request)
        return JSONResponse(_render(find(key), request.query_params.get("$select")))

    @app.get("/v1.0/users")
    async def list_users(request: Request) -> JSONResponse:
        guard(request)
        expression = request.query_params.get("$filter")
        matches = list(tenant.users.values())
        if expression is not None:
            match = _FILTER.match(expression.strip())
            if match is None:
                raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
            wanted = match["value"].replace("''", "'").lower()
            matches = [u for u in matches if (u.get(match["field"]) or "").lower() == wanted]
        select = request.query_params.get("$select")
        return JSONResponse(
            {
                "@odata.context": f"{_base(request)}/v1.0/$metadata#users",
                "value": [_render(user, select) for user in matches],
            }
        )

    @app.patch("/v1.0/users/{user_id}")
    async def update_user(user_id: str, request: Request) -> Response:
        guard(request)
        user = find(user_id)
        body = await request.json()
        if not isinstance(body, dict) or not set(body) <= {"passwordProfile", "accountEnabled"}:
            raise GraphError(400, "Request_BadRequest", "Unsupported property update.")
        profile = body.get("passwordProfile")
        if profile is not None:
            if user["onPremisesSyncEnabled"]:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "Unable to update the specified properties for on-premises mastered Directory Sync "
                    "objects or objects currently undergoing migration.",
                )
            password = profile.get("password") if isinstance(profile, dict) else None
            if not isinstance(password, str) or not _complex_enough(password):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "The specified password does not comply with password complexity requirements. "
                    "Please provide a different password.",
                )
            user["_password"] = password
            user["_forceChangePasswordNextSignIn"] = bool(profile.get("forceChangePasswordNextSignIn"))
            user["_lockedOut"] = False
            tenant.counters["password_resets"] += 1
        if "accountEnabled" in body:
            user["accountEnabled"] = bool(body["accountEnabled"])
            tenant.counters["account_enabled_changes"] += 1
        return Response(status_code=204)

    @app.get("/v1.0/users/{user_id}/memberOf")
    async def member_of(user_id: str, request: Request) -> JSONResponse:
        guard(request)
        user = find(user_id)
        params = request.query_params
        try:
            top = int(params.get("$top", "100"))
            offset = int(params.get("$skiptoken", "0"))
        except ValueError:
            raise GraphError(400, "Request_BadRequest", "Invalid $top or $skiptoken.") from None
        if not 1 <= top <= 999:
            raise GraphError(400, "Request_BadRequest", f"Invalid page size specified: '{top}'.")
        size = min(top, max_page_size)
        groups_of_user = [
            {"@odata.type": "#microsoft.graph.group", **tenant.groups[gid], "securityEnabled": True}
            for gid, ids in tenant.members.items()
            if user["id"] in ids
        ]
        page = groups_of_user[offset : offset + size]
        select = params.get("$select")
        values = [
            {"@odata.type": g["@odata.type"], **{k: v for k, v in g.items() if k in select.split(",")}}
            if select
            else g
            for g in page
        ]
        body: dict[str, Any] = {"@odata.context": f"{_base(request)}/v1.0/$metadata#directoryObjects"}
        if offset + size < len(groups_of_user):
            query = {k: v for k, v in params.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(offset + size)
            body["@odata.nextLink"] = f"{_base(request)}{request.url.path}?{urlencode(query)}"
        body["value"] = values
        return JSONResponse(body)

    @app.post("/v1.0/groups/{group_id}/members/$ref")
    async def add_member(group_id: str, request: Request) -> Response:
        guard(request)
        body = await request.json()
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        match = _OBJECT_REF.search(reference) if isinstance(reference, str) else None
        if match is None:
            raise GraphError(400, "Request_BadRequest", f"Invalid object identifier '{reference}'.")
        if group_id not in tenant.groups:
            raise GraphError(404, "Request_ResourceNotFound", _not_found(group_id))
        member_id = match["id"].lower()
        if member_id not in tenant.users:
            raise GraphError(404, "Request_ResourceNotFound", _not_found(member_id))
        if member_id in tenant.members[group_id]:
            raise GraphError(400, "Request_BadRequest", _ALREADY_EXIST)
        tenant.members[group_id].append(member_id)
        tenant.counters["membership_additions"] += 1
        return Response(status_code=204)

    @app.get("/_state")
    async def get_state() -> dict[str, Any]:
        return {
            "users": {
                uid: {
                    "userPrincipalName": u["userPrincipalName"],
                    "accountEnabled": u["accountEnabled"],
                    "lockedOut": u["_lockedOut"],
                    "forceChangePasswordNextSignIn": u["_forceChangePasswordNextSignIn"],
                    "password": u["_password"],
                }
                for uid, u in tenant.users.items()
            },
            "groups": {gid: {"members": list(tenant.members[gid])} for gid in tenant.groups},
            "counters": {
                name: tenant.counters[name]
                for name in (
                    "token_requests",
                    "password_resets",
                    "membership_additions",
                    "account_enabled_changes",
                )
            },
            "tokens_valid": sum(1 for expiry in tenant.tokens.values() if expiry > time.monotonic()),
        }

    @app.post("/_reset")
    async def reset() -> dict[str, bool]:
        tenant.load(users, groups)
        return {"reset": True}

    @app.post("/_revoke_tokens")
    async def revoke_tokens() -> dict[str, int]:
        revoked = len(tenant.tokens)
        tenant.tokens.clear()
        return {"revoked": revoked}

    return app, state


def _user_record(seed: GraphUserSeed) -> dict[str, Any]:
    given, _, surname = seed.display_name.partition(" ")
    return {
        "id": seed.id.lower(),
        "userPrincipalName": seed.user_principal_name,
        "mail": seed.mail,
        "displayName": seed.display_name,
        "givenName": given,
        "surname": surname or None,
        "jobTitle": None,
        "accountEnabled": seed.account_enabled,
        "onPremisesSyncEnabled": seed.on_premises_sync_enabled or None,
        "_password": None,
        "_forceChangePasswordNextSignIn": False,
        "_lockedOut": seed.locked_out,
    }


def _render(user: dict[str, Any], select: str | None) -> dict[str, Any]:
    """The user as Graph shows it: the default property set, or exactly ``$select`` (unknown: 400)."""
    fields = [f.strip() for f in select.split(",") if f.strip()] if select else list(_DEFAULT_USER_FIELDS)
    unknown = [f for f in fields if f not in _USER_FIELDS]
    if unknown:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'.",
        )
    return {f: user[f] for f in fields}


def _complex_enough(password: str) -> bool:
    """Entra's default rule: 8 to 256 characters from at least three of the four character classes."""
    classes = [
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    return 8 <= len(password) <= 256 and sum(classes) >= 3


def _not_found(key: str) -> str:
    return (
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
