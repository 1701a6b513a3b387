"""Okta Users and Groups API emulator (the ``/api/v1`` calls an identity adapter makes).

Speaks Okta's shapes: user objects (``id``, ``status``, ``profile.{login,email,firstName,lastName}``),
group objects (``id``, ``type``, ``profile.name``), errors as ``{"errorCode", "errorSummary", "errorLink",
"errorId", "errorCauses"}``, ``Authorization: SSWS <token>`` (anything else: 401 E0000011), cursor
pagination with ``limit``/``after`` and ``Link: <...>; rel="self"|"next"`` headers, and rate limiting as
429 E0000047 with ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset`` (epoch seconds) and no ``Retry-After``.

Lifecycle rules follow the Users API reference: ``unlock`` only from LOCKED_OUT (else 403 E0000032),
``reset_password`` only from ACTIVE, RECOVERY, PASSWORD_EXPIRED or LOCKED_OUT (else 403 E0000038) and
moves the user to RECOVERY; with ``sendEmail=true`` (Okta's default) the link is e-mailed and the body
is ``{}``. ``PUT /groups/{gid}/users/{uid}`` is idempotent (204 either way). Search supports
``profile.email eq "..."`` / ``profile.login eq "..."`` joined by ``or``; anything else answers 400
E0000031 so that a broken query fails the test.

Control endpoints besides the harness's: ``GET /_state`` (users, groups with members, counters),
``POST /_reset`` (back to the seeds), ``POST /_rate_limit`` ``{"times": n, "reset_in_s": s}`` (the next
n API calls answer 429) and ``POST /_users/{id}/status`` ``{"status": ...}`` (an admin acting elsewhere,
for race tests).
"""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.emulators.harness import EmulatorState, build_emulator_app

RATE_LIMIT_CEILING = 600
_RESETTABLE = {"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"}
_SEARCH_TERM = re.compile(r'^profile\.(?P<field>email|login) eq "(?P<value>(?:[^"\\]|\\.)*)"$')


@dataclass(frozen=True)
class OktaUserSeed:
    """One user of the org."""

    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    status: str = "ACTIVE"


@dataclass(frozen=True)
class OktaGroupSeed:
    """One group and its direct members (user ids)."""

    id: str
    name: str
    members: tuple[str, ...] = ()
    type: str = "OKTA_GROUP"


@dataclass
class _Org:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    reset_links: dict[str, str] = field(default_factory=dict)
    rate_limited: int = 0
    reset_in_s: int = 1

    def load(self, users: Sequence[OktaUserSeed], groups: Sequence[OktaGroupSeed]) -> None:
        """Forget every change: the seeded users and groups, no counters, no pending rate limit."""
        self.users = {seed.id: _user_record(seed) for seed in users}
        self.groups = {seed.id: _group_record(seed) for seed in groups}
        self.members = {seed.id: list(seed.members) for seed in groups}
        self.counters = Counter()
        self.reset_links = {}
        self.rate_limited = 0


class OktaError(Exception):
    """An Okta error response."""

    def __init__(self, status: int, code: str, summary: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(summary)
        self.status, self.code, self.summary, self.headers = status, code, summary, headers or {}


def build_app(
    users: Sequence[OktaUserSeed],
    groups: Sequence[OktaGroupSeed],
    *,
    api_token: str,
    max_page_size: int = 200,
) -> tuple[FastAPI, EmulatorState]:
    """An Okta org holding ``users`` and ``groups``; ``max_page_size`` caps ``limit`` (small values force
    pagination in tests)."""
    app, state = build_emulator_app("okta")
    org = _Org()
    org.load(users, groups)

    @app.exception_handler(OktaError)
    async def okta_error(_: Request, exc: OktaError) -> JSONResponse:
        body = {
            "errorCode": exc.code,
            "errorSummary": exc.summary,
            "errorLink": exc.code,
            "errorId": "oae" + secrets.token_hex(10),
            "errorCauses": [],
        }
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    def guard(request: Request) -> None:
        """Authentication, then the org-wide rate limit, as every API call meets them."""
        if request.headers.get("authorization") != f"SSWS {api_token}":
            raise OktaError(401, "E0000011", "Invalid token provided")
        if org.rate_limited > 0:
            org.rate_limited -= 1
            raise OktaError(
                429,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
                headers={
                    "X-Rate-Limit-Limit": str(RATE_LIMIT_CEILING),
                    "X-Rate-Limit-Remaining": "0",
                    "X-Rate-Limit-Reset": str(int(time.time()) + org.reset_in_s),
                },
            )

    def user_by_id(user_id: str) -> dict[str, Any]:
        user = org.users.get(user_id)
        if user is None:
            raise OktaError(404, "E0000007", f"Not found: Resource not found: {user_id} (User)")
        return user

    @app.get("/api/v1/users/{key}")
    async def get_user(key: str, request: Request) -> JSONResponse:
        guard(request)
        user = org.users.get(key) or next(
            (u for u in org.users.values() if u["profile"]["login"].lower() == key.lower()), None
        )
        if user is None:
            raise OktaError(404, "E0000007", f"Not found: Resource not found: {key} (User)")
        return JSONResponse(user)

    @app.get("/api/v1/users")
    async def list_users(request: Request) -> JSONResponse:
        guard(request)
        search = request.query_params.get("search")
        if search is None:
            matches = [u for u in org.users.values() if u["status"] != "DEPROVISIONED"]
        else:
            terms = _parse_search(search)
            matches = [
                u for u in org.users.values() if any(u["profile"][f].lower() == v.lower() for f, v in terms)
            ]
        return _paged(request, matches, max_page_size)

    @app.get("/api/v1/users/{user_id}/groups")
    async def list_user_groups(user_id: str, request: Request) -> JSONResponse:
        guard(request)
        user_by_id(user_id)
        groups_of_user = [org.groups[gid] for gid, ids in org.members.items() if user_id in ids]
        return _paged(request, groups_of_user, max_page_size)

    @app.post("/api/v1/users/{user_id}/lifecycle/reset_password")
    async def reset_password(user_id: str, request: Request) -> JSONResponse:
        guard(request)
        user = user_by_id(user_id)
        if user["status"] not in _RESETTABLE:
            raise OktaError(403, "E0000038", "This operation is not allowed in the user's current status.")
        send_email = request.query_params.get("sendEmail", "true").lower() != "false"
        user["status"] = "RECOVERY"
        org.counters["password_resets"] += 1
        if send_email:
            org.counters["reset_emails"] += 1
            return JSONResponse({})
        token = secrets.token_urlsafe(15)
        org.reset_links[user_id] = token
        return JSONResponse({"resetPasswordUrl": f"{_base(request)}/reset_password/{token}"})

    @app.post("/api/v1/users/{user_id}/lifecycle/unlock")
    async def unlock(user_id: str, request: Request) -> JSONResponse:
        guard(request)
        user = user_by_id(user_id)
        if user["status"] != "LOCKED_OUT":
            raise OktaError(403, "E0000032", "Unlock is not allowed for this user.")
        user["status"] = "ACTIVE"
        org.counters["unlocks"] += 1
        return JSONResponse({})

    @app.put("/api/v1/groups/{group_id}/users/{user_id}")
    async def add_member(group_id: str, user_id: str, request: Request) -> Response:
        guard(request)
        group = org.groups.get(group_id)
        if group is None:
            raise OktaError(404, "E0000007", f"Not found: Resource not found: {group_id} (UserGroup)")
        user_by_id(user_id)
        if group["type"] != "OKTA_GROUP":
            raise OktaError(400, "E0000099", "Cannot modify the membership of an app group.")
        if user_id not in org.members[group_id]:
            org.members[group_id].append(user_id)
            org.counters["membership_additions"] += 1
        return Response(status_code=204)

    @app.get("/_state")
    async def get_state() -> dict[str, Any]:
        return {
            "users": {
                uid: {"login": u["profile"]["login"], "status": u["status"]} for uid, u in org.users.items()
            },
            "groups": {gid: {"members": list(org.members[gid])} for gid in org.groups},
            "counters": {
                name: org.counters[name]
                for name in ("password_resets", "reset_emails", "unlocks", "membership_additions")
            },
            "reset_links": dict(org.reset_links),
        }

    @app.post("/_reset")
    async def reset() -> dict[str, bool]:
        org.load(users, groups)
        return {"reset": True}

    @app.post("/_rate_limit")
    async def rate_limit(request: Request) -> dict[str, int]:
        payload = await request.json()
        org.rate_limited = int(payload["times"])
        org.reset_in_s = int(payload.get("reset_in_s", 1))
        return {"rate_limited": org.rate_limited}

    @app.post("/_users/{user_id}/status")
    async def set_status(user_id: str, request: Request) -> dict[str, str]:
        payload = await request.json()
        org.users[user_id]["status"] = str(payload["status"])
        return {"status": org.users[user_id]["status"]}

    return app, state


def _user_record(seed: OktaUserSeed) -> dict[str, Any]:
    return {
        "id": seed.id,
        "status": seed.status,
        "created": "2025-01-06T09:00:00.000Z",
        "activated": "2025-01-06T09:00:00.000Z",
        "statusChanged": "2025-01-06T09:00:00.000Z",
        "lastLogin": None,
        "lastUpdated": "2025-01-06T09:00:00.000Z",
        "passwordChanged": "2025-01-06T09:00:00.000Z",
        "type": {"id": "oty1a2b3c4d5e6f7g8h9"},
        "profile": {
            "firstName": seed.first_name,
            "lastName": seed.last_name,
            "mobilePhone": None,
            "secondEmail": None,
            "login": seed.login,
            "email": seed.email,
        },
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
    }


def _group_record(seed: OktaGroupSeed) -> dict[str, Any]:
    return {
        "id": seed.id,
        "created": "2025-01-06T09:00:00.000Z",
        "lastUpdated": "2025-01-06T09:00:00.000Z",
        "lastMembershipUpdated": "2025-01-06T09:00:00.000Z",
        "objectClass": ["okta:user_group"],
        "type": seed.type,
        "profile": {"name": seed.name, "description": None},
    }


def _parse_search(expression: str) -> list[tuple[str, str]]:
    """``(field, value)`` pairs of a search made of ``eq`` terms joined by ``or``."""
    terms: list[tuple[str, str]] = []
    for part in expression.split(" or "):
        match = _SEARCH_TERM.match(part.strip())
        if match is None:
            raise OktaError(400, "E0000031", "Invalid search criteria.")
        terms.append((match["field"], re.sub(r"\\(.)", r"\1", match["value"])))
    return terms


def _paged(request: Request, items: list[dict[str, Any]], max_page_size: int) -> JSONResponse:
    """One page after the ``after`` cursor (the last id of the previous page), with Link headers."""
    params = request.query_params
    try:
        limit = min(int(params.get("limit", str(max_page_size))), max_page_size)
    except ValueError:
        raise OktaError(400, "E0000001", "Api validation failed: limit") from None
    start = 0
    after = params.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise OktaError(400, "E0000001", "Api validation failed: after")
        start = ids.index(after) + 1
    page = items[start : start + limit]
    base = f"{_base(request)}{request.url.path}"
    kept = {key: value for key, value in params.items() if key not in ("after", "limit")}
    links = [f'<{base}?{urlencode({**kept, "limit": limit})}>; rel="self"']
    if start + limit < len(items):
        cursor = {**kept, "after": page[-1]["id"], "limit": limit}
        links.append(f'<{base}?{urlencode(cursor)}>; rel="next"')
    response = JSONResponse(page)
    for link in links:
        response.headers.append("Link", link)
    return response


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
