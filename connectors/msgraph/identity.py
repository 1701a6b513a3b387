"""Microsoft Entra ID as an ``IdentityProvider``, through Microsoft Graph v1.0 with app-only credentials.

Vendor JSON stops here: callers only see ``DirectoryUser`` / ``PasswordReset``.

Choices the Graph documentation settles:
- Password reset is ``PATCH /users/{id}`` with ``passwordProfile`` (``forceChangePasswordNextSignIn: true``,
  as the docs recommend). ``passwordAuthenticationMethod: resetPassword`` is not usable here: it supports
  delegated permissions only ("Application: Not supported") and is a long-running operation. The app needs
  ``User-PasswordProfile.ReadWrite.All`` (the least privileged application permission for this property).
- Membership is read from ``GET /users/{id}/memberOf``, which lists *direct* memberships and, without
  ``$filter``/``$search``, needs no ``ConsistencyLevel: eventual`` index (so an addition is seen at once);
  ``checkMemberGroups`` is transitive and would report nested memberships.
- ``POST /groups/{id}/members/$ref`` answers 400 when the object is already a member, which is read as
  "already a member" only for that documented message.
- There is no unlock API and no lockout property: smart lockout expires by itself (60 s at first, longer
  on repeats) and an administrator password reset unlocks the cloud account, so ``unlock`` raises
  ``RemoteRejectedError`` saying so, and never re-enables a disabled account.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Generator
from typing import Any, Unpack
from urllib.parse import quote

import httpx

from connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions, HttpAdapter, JsonHttpClient, connector_error
from connectors.models import DirectoryUser, PasswordReset

logger = logging.getLogger(__name__)

SYSTEM = "graph"
GRAPH_V1 = "https://graph.microsoft.com/v1.0"
_SCOPE = "https://graph.microsoft.com/.default"
_USER_FIELDS = "id,userPrincipalName,mail,displayName,accountEnabled"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ALREADY_MEMBER = "added object references already exist"
_MEMBER_PAGE_SIZE = 999  # the largest $top directory collections accept
# A token is renewed this long before Entra says it expires (tokens usually live 60-90 minutes).
_TOKEN_RENEWAL_MARGIN_S = 300.0
# Temporary passwords: no look-alike characters, and no Slack mrkdwn or HTML specials, since the password
# is read off a DM. 20 characters from 62 symbols is about 119 bits; one of each class is guaranteed,
# which satisfies Entra's "3 of 4 character classes, 8 to 256 characters" rule.
_PASSWORD_CLASSES = ("abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "!#%+-=?")
_PASSWORD_LENGTH = 20


def generate_temporary_password(length: int = _PASSWORD_LENGTH) -> str:
    """A random password with at least one lower-case letter, upper-case letter, digit and symbol."""
    if length < len(_PASSWORD_CLASSES):
        raise ValueError("length is too short for one character of each class")
    alphabet = "".join(_PASSWORD_CLASSES)
    chars = [secrets.choice(group) for group in _PASSWORD_CLASSES]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class _ClientCredentials:
    """An app-only access token from the OAuth 2.0 client-credentials grant, cached until near expiry.

    The token request is retried like any idempotent call (429, 5xx, timeouts). A 400 of the token
    endpoint (``invalid_client``, ``unauthorized_client``, unknown tenant, bad scope) is an ``AuthError``,
    as is a 401.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float,
        clock: Callable[[], float],
        **options: Unpack[ClientOptions],
    ) -> None:
        self._token_url = token_url
        self._form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": _SCOPE,
            "grant_type": "client_credentials",
        }
        self._clock = clock
        # Named apart from Graph in messages and logs; errors raised from here say ``system = "graph"``.
        self._http = JsonHttpClient(
            system=f"{SYSTEM} token endpoint", base_url=token_url, timeout_s=timeout_s, **options
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"_ClientCredentials(token_url={self._token_url!r})"

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        """The cached token, fetched first when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = self._fetch()
                self._renew_at = self._clock() + max(lifetime - _TOKEN_RENEWAL_MARGIN_S, lifetime / 2)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Graph rejected it (unless another request already replaced it)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        try:
            body = self._http.request_json("POST", self._token_url, data=self._form)
        except RemoteRejectedError as exc:
            raise _graph_error(AuthError(str(exc))) from None
        except ConnectorError as exc:
            raise _graph_error(exc) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise _error(RemoteUnavailableError, "token endpoint answered without an access_token")
        try:
            seconds = float(lifetime) if lifetime is not None else 3600.0
        except (TypeError, ValueError):
            seconds = 3600.0
        logger.info("graph access token obtained", extra={"system": SYSTEM, "expires_in_s": seconds})
        return token, seconds


class _BearerAuth(httpx.Auth):
    """Adds the app token to each Graph request; on a 401, renews the token once and resends."""

    def __init__(self, credentials: _ClientCredentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._credentials.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one retry with a fresh token
            self._credentials.invalidate(token)
            request.headers["Authorization"] = f"Bearer {self._credentials.token()}"
            yield request


class GraphIdentityProvider(HttpAdapter):
    """Users and groups of one Entra ID tenant, through an app registration's client secret.

    Application permissions needed: ``User.Read.All`` (find, memberships),
    ``User-PasswordProfile.ReadWrite.All`` (resets; the app cannot reset administrators' passwords) and
    ``GroupMember.ReadWrite.All`` (additions).
    Users synchronised from on-premises AD keep their password on premises; Graph rejects the reset.
    """

    SYSTEM = SYSTEM

    def __init__(
        self,
        base_url: str = GRAPH_V1,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._credentials = _ClientCredentials(
            token_url or f"https://login.microsoftonline.com/{quote(tenant_id, safe='')}/oauth2/v2.0/token",
            client_id,
            client_secret,
            timeout_s=timeout_s,
            clock=clock,
            **options,
        )
        super().__init__(base_url, auth=_BearerAuth(self._credentials), timeout_s=timeout_s, **options)

    def close(self) -> None:
        """Release both connection pools."""
        super().close()
        self._credentials.close()

    def find_user(self, email: str) -> DirectoryUser | None:
        """The user whose UPN is ``email`` or, failing that, whose ``mail`` is ``email``.

        ``locked`` is always False: Graph exposes no lockout state. Raises ``ConflictError`` when several
        users have that ``mail``.
        """
        email = email.strip()
        if "@" not in email or any(ch.isspace() for ch in email):
            return None
        try:
            record = self._http.request_json(
                "GET", f"users/{quote(email, safe='@')}", params={"$select": _USER_FIELDS}
            )
            return _to_user(record)
        except RemoteNotFoundError:
            pass
        literal = email.replace("'", "''")
        body = self._http.request_json(
            "GET", "users", params={"$filter": f"mail eq '{literal}'", "$select": _USER_FIELDS}
        )
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list):
            raise _error(RemoteUnavailableError, "user list answered without a value list")
        if len(values) > 1:
            raise _error(ConflictError, f"{len(values)} users share this e-mail; refusing to pick one")
        return _to_user(values[0]) if values else None

    def reset_password(self, user_id: str) -> PasswordReset:
        """Set a generated temporary password that must be changed at next sign-in. Each call sets a new
        one; it also ends a smart lockout of the cloud account."""
        user_id = _checked_id(user_id, "user")
        password = generate_temporary_password()
        self._http.request_json(
            "PATCH",
            f"users/{user_id}",
            json={"passwordProfile": {"forceChangePasswordNextSignIn": True, "password": password}},
        )
        logger.info("temporary password set", extra={"system": SYSTEM, "user_id": user_id})
        return PasswordReset(user_id=user_id, temporary_password=password)

    def unlock(self, user_id: str) -> DirectoryUser:
        """Not supported by Entra ID: always raises ``RemoteRejectedError`` (``RemoteNotFoundError`` for an
        unknown user) explaining what to do instead. A disabled account is never re-enabled here."""
        record = self._http.request_json(
            "GET", f"users/{_checked_id(user_id, 'user')}", params={"$select": _USER_FIELDS}
        )
        user = _to_user(record)
        if not user.active:
            raise _error(
                RemoteRejectedError,
                "the account is disabled (accountEnabled=false), not locked out; re-enabling it is an "
                "administrator's decision and is not done automatically",
            )
        raise _error(
            RemoteRejectedError,
            "unlock is not supported by Entra ID (no unlock API, no lockout state); smart lockout ends by "
            "itself after the lockout period, and a password reset unlocks the account at once",
        )

    def is_member(self, user_id: str, group_id: str) -> bool:
        """True when the user is a direct member of the group (``memberOf``, followed page by page)."""
        group_id = _checked_id(group_id, "group")
        url: str | None = f"users/{_checked_id(user_id, 'user')}/memberOf"
        params: dict[str, Any] | None = {"$select": "id", "$top": _MEMBER_PAGE_SIZE}
        while url is not None:
            body = self._http.request_json("GET", url, params=params)
            values = body.get("value") if isinstance(body, dict) else None
            if not isinstance(values, list):
                raise _error(RemoteUnavailableError, "memberOf answered without a value list")
            if any(isinstance(item, dict) and item.get("id") == group_id for item in values):
                return True
            next_link = body.get("@odata.nextLink")
            next_url = next_link if isinstance(next_link, str) else None
            url, params = self._next_page(next_url, remote="Microsoft Graph"), None
        return False

    def add_to_group(self, user_id: str, group_id: str) -> bool:
        """Add the user to the group; False (and no addition) when already a direct member."""
        if self.is_member(user_id, group_id):  # validates both ids
            return False
        try:
            self._http.request_json(
                "POST",
                f"groups/{group_id}/members/$ref",
                json={"@odata.id": f"{self._base_url}/directoryObjects/{user_id}"},
            )
        except RemoteRejectedError as exc:
            if _ALREADY_MEMBER in str(exc):  # added by someone else since our read
                return False
            raise
        logger.info("group member added", extra={"system": SYSTEM, "user_id": user_id, "group_id": group_id})
        return True


def _to_user(record: Any) -> DirectoryUser:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise _error(RemoteUnavailableError, "user record without an id")
    mail = record.get("mail")
    upn = record.get("userPrincipalName")
    display = record.get("displayName")
    return DirectoryUser(
        user_id=record["id"],
        email=mail if isinstance(mail, str) and mail else upn if isinstance(upn, str) else "",
        display_name=display if isinstance(display, str) and display else None,
        active=record.get("accountEnabled") is not False,
        locked=False,
    )


def _checked_id(value: str, kind: str) -> str:
    """Directory object ids are GUIDs; anything else is refused before it reaches a URL path."""
    if not _GUID.match(value):
        raise _error(RemoteRejectedError, f"not an Entra ID {kind} object id")
    return value


def _error(kind: type[ConnectorError], message: str) -> ConnectorError:
    return connector_error(kind, SYSTEM, message)


def _graph_error(error: ConnectorError) -> ConnectorError:
    """``error`` (from the token endpoint's client) said to come from Graph."""
    error.system = SYSTEM
    return error
