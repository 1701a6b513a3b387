"""Okta as an ``IdentityProvider``, through the Okta Users and Groups API (``/api/v1``) with an SSWS token.

Vendor JSON stops here: callers only see ``DirectoryUser`` / ``PasswordReset``.

Okta answers a rate limit with 429 and ``X-Rate-Limit-Reset`` (UTC epoch seconds), not ``Retry-After``
(read by ``_retry_delay``), and pages with ``Link: <...>; rel="next"`` headers (``JsonReply.next_url``).
"""

from __future__ import annotations

import logging
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, Unpack
from urllib.parse import quote, urlsplit

import httpx

from connectors.errors import (
    AuthError,
    ConflictError,
    ConnectorError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions, HttpAdapter, connector_error, retry_after_header
from connectors.models import DirectoryUser, PasswordReset

logger = logging.getLogger(__name__)

SYSTEM = "okta"
_USERS = "api/v1/users"
_GROUPS = "api/v1/groups"
# Okta object ids are short alphanumeric strings (``00ub0oNGTSWTBKOLGLNR``); anything else is refused
# before it reaches a URL path.
_OKTA_ID = re.compile(r"^[A-Za-z0-9]{4,64}$")
_LOCKED_OUT = "LOCKED_OUT"
# Statuses in which an account can sign in or be recovered; STAGED, PROVISIONED (never activated),
# SUSPENDED and DEPROVISIONED accounts cannot.
_ACTIVE_STATUSES = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})
_RESETTABLE_STATUSES = _ACTIVE_STATUSES
_GROUPS_PAGE_SIZE = 200  # the documented maximum of ``limit`` for GET /users/{id}/groups


def _retry_delay(response: httpx.Response) -> float | None:
    """``Retry-After`` when Okta sends one, else for a 429 the time until ``X-Rate-Limit-Reset``."""
    delay = retry_after_header(response)
    if delay is None and response.status_code == 429:
        delay = _rate_limit_delay(response.headers)
    return delay


def _rate_limit_delay(headers: httpx.Headers) -> float | None:
    """Seconds until ``X-Rate-Limit-Reset``, measured against the response's ``Date`` (Okta's own clock,
    so our clock skew does not matter); None when the header is absent or unreadable."""
    try:
        reset = int(headers.get("x-rate-limit-reset", ""))
    except ValueError:
        return None
    now = time.time()
    date = headers.get("date")
    if date:
        try:
            now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return float(max(0, int(reset - now)))


class OktaIdentityProvider(HttpAdapter):
    """Accounts and groups of one Okta org, with an API token (``Authorization: SSWS <token>``).

    The token's admin needs to manage the users and groups concerned (Help Desk Administrator for
    resets and unlocks, Group Membership Administrator for memberships). Only Okta-mastered accounts can
    be unlocked or reset; Active Directory-sourced ones answer with an error, raised as ours.
    """

    SYSTEM = SYSTEM

    def __init__(
        self, base_url: str, api_token: str, timeout_s: float = 10.0, **options: Unpack[ClientOptions]
    ) -> None:
        super().__init__(
            base_url,
            headers={"Authorization": f"SSWS {api_token}"},
            timeout_s=timeout_s,
            retry_delay=_retry_delay,
            **options,
        )

    def find_user(self, email: str) -> DirectoryUser | None:
        """The account whose login is ``email`` or, failing that, whose primary e-mail is ``email``.

        Raises ``ConflictError`` when several live accounts share that e-mail (guessing could reset the
        wrong person's password).
        """
        email = email.strip()
        if "@" not in email or '"' in email or "\\" in email or any(ch.isspace() for ch in email):
            return None
        try:
            return _to_user(self._http.request_json("GET", f"{_USERS}/{quote(email, safe='@')}"))
        except RemoteNotFoundError:
            pass
        found = self._http.request_json(
            "GET", _USERS, params={"search": f'profile.email eq "{email}"', "limit": 10}
        )
        if not isinstance(found, list):
            raise _malformed("user search answered without a list")
        users = [_to_user(record) for record in found]
        live = [user for user in users if user.active] or users
        if len(live) > 1:
            raise _error(ConflictError, f"{len(live)} accounts share this e-mail; refusing to pick one")
        return live[0] if live else None

    def reset_password(self, user_id: str) -> PasswordReset:
        """A one-time reset link (``resetPasswordUrl``), not e-mailed by Okta (``sendEmail=false``): the
        caller delivers it privately. Each call issues a new link and moves the account to RECOVERY."""
        record = self._get_record(user_id)
        user, status = _to_user(record), _status_of(record)
        if status not in _RESETTABLE_STATUSES:
            raise _error(RemoteRejectedError, f"a password reset is not allowed for an account in {status}")
        body = self._http.request_json(
            "POST", f"{_USERS}/{user.user_id}/lifecycle/reset_password", params={"sendEmail": "false"}
        )
        url = body.get("resetPasswordUrl") if isinstance(body, dict) else None
        if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http"):
            raise _malformed("reset_password answered without a resetPasswordUrl")
        logger.info("password reset link issued", extra={"system": SYSTEM, "user_id": user.user_id})
        return PasswordReset(user_id=user.user_id, reset_url=url)

    def unlock(self, user_id: str) -> DirectoryUser:
        """Unlock a LOCKED_OUT account; any other status is returned unchanged without a call.

        Okta refuses to unlock an account that is not locked (E0000032, "Unlock is not allowed for this
        user"); when that happens because someone unlocked it between our read and our call, the fresh
        state is returned instead of the error.
        """
        user = self._get_user(user_id)
        if not user.locked:
            return user
        try:
            self._http.request_json("POST", f"{_USERS}/{user.user_id}/lifecycle/unlock")
        except (AuthError, RemoteRejectedError):
            current = self._get_user(user.user_id)
            if current.locked:
                raise
            return current
        logger.info("account unlocked", extra={"system": SYSTEM, "user_id": user.user_id})
        return self._get_user(user.user_id)

    def is_member(self, user_id: str, group_id: str) -> bool:
        """True when the user is a direct member of the group (walks the user's groups, page by page)."""
        path: str | None = f"{_USERS}/{_checked_id(user_id, 'user')}/groups"
        params: dict[str, Any] | None = {"limit": _GROUPS_PAGE_SIZE}
        group_id = _checked_id(group_id, "group")
        while path is not None:
            page = self._http.request("GET", path, params=params)
            if not isinstance(page.body, list):
                raise _malformed("user groups answered without a list")
            if any(isinstance(group, dict) and group.get("id") == group_id for group in page.body):
                return True
            path, params = self._next_page(page.next_url, remote="the Okta org"), None
        return False

    def add_to_group(self, user_id: str, group_id: str) -> bool:
        """Add the user to an Okta-mastered group; False (and no call) when already a direct member."""
        if self.is_member(user_id, group_id):  # validates both ids
            return False
        self._http.request_json("PUT", f"{_GROUPS}/{group_id}/users/{user_id}")
        logger.info("group member added", extra={"system": SYSTEM, "user_id": user_id, "group_id": group_id})
        return True

    def _get_record(self, user_id: str) -> Any:
        return self._http.request_json("GET", f"{_USERS}/{_checked_id(user_id, 'user')}")

    def _get_user(self, user_id: str) -> DirectoryUser:
        return _to_user(self._get_record(user_id))


def _to_user(record: Any) -> DirectoryUser:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise _malformed("user record without an id")
    raw_profile = record.get("profile")
    profile: dict[str, Any] = raw_profile if isinstance(raw_profile, dict) else {}
    login = profile.get("login") if isinstance(profile.get("login"), str) else ""
    email = profile.get("email") if isinstance(profile.get("email"), str) else ""
    display = profile.get("displayName")
    if not isinstance(display, str) or not display.strip():
        names = [profile.get("firstName"), profile.get("lastName")]
        display = " ".join(name for name in names if isinstance(name, str) and name) or None
    status = _status_of(record)
    return DirectoryUser(
        user_id=record["id"],
        email=email or login,
        display_name=display,
        active=status in _ACTIVE_STATUSES,
        locked=status == _LOCKED_OUT,
    )


def _status_of(record: Any) -> str:
    status = record.get("status") if isinstance(record, dict) else None
    return status if isinstance(status, str) else "UNKNOWN"


def _checked_id(value: str, kind: str) -> str:
    if not _OKTA_ID.match(value):
        raise _error(RemoteRejectedError, f"not an Okta {kind} id")
    return value


def _error(kind: type[ConnectorError], message: str) -> ConnectorError:
    return connector_error(kind, SYSTEM, message)


def _malformed(message: str) -> RemoteUnavailableError:
    return connector_error(RemoteUnavailableError, SYSTEM, message)
