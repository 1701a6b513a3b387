"""What the ITSM adapters (Jira, ServiceNow, Zendesk) share: statuses, draft text, time and webhook checks.

Their HTTP plumbing (one client; reads retried, writes sent once except after a 429) is
:class:`connectors.http.HttpAdapter` with ``idempotent=False`` on writes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.errors import AuthError, RemoteRejectedError
from connectors.http import connector_error
from connectors.models import ExternalTicketStatus, TicketDraft

TERMINAL_STATUSES = frozenset(
    {ExternalTicketStatus.RESOLVED, ExternalTicketStatus.CLOSED, ExternalTicketStatus.CANCELLED}
)
"""Statuses ``resolve_ticket`` leaves alone (the ticket is already done with)."""


def draft_description(draft: TicketDraft, *extra: str) -> str:
    """The draft's description, then "Requested by <name> <<e-mail>> via Deskpilot.", then ``extra``;
    empty parts are dropped and the rest separated by blank lines."""
    requester = draft.requester_email
    if draft.requester_name:
        requester = f"{draft.requester_name} <{draft.requester_email}>"
    parts = [draft.description.strip(), f"Requested by {requester} via Deskpilot.", *extra]
    return "\n\n".join(part for part in parts if part)


def parse_iso_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are taken as UTC); None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---- webhooks ------------------------------------------------------------------------------------------


def hmac_sha256(secret: str, data: bytes) -> bytes:
    """The raw HMAC-SHA256 of ``data`` keyed with ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def b64_hmac_sha256(secret: str, data: bytes) -> str:
    """The base64 of :func:`hmac_sha256`, as ServiceNow and Zendesk send it."""
    return base64.b64encode(hmac_sha256(secret, data)).decode()


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, its name matched case-insensitively and its value stripped; '' when absent."""
    wanted = name.lower()
    return next((value.strip() for key, value in headers.items() if key.lower() == wanted), "")


def verify_webhook_signature(
    system: str, secret: str | None, given: str, expected: Callable[[str], str]
) -> None:
    """Refuse a webhook (``AuthError``) unless a secret is configured and the signature ``given`` equals
    ``expected(secret)``, compared in constant time. An empty ``given`` is always refused."""
    if not secret:
        raise connector_error(
            AuthError, system, "webhook secret not configured; refusing an unverifiable webhook"
        )
    if not given or not hmac.compare_digest(given.encode(), expected(secret).encode()):
        raise connector_error(AuthError, system, "webhook signature missing or wrong")


def webhook_json(system: str, payload: bytes) -> dict[str, Any]:
    """A webhook body that must be a JSON object (``RemoteRejectedError`` otherwise)."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise connector_error(RemoteRejectedError, system, "webhook body is not JSON") from None
    except RecursionError:  # json.loads recurses per nesting level: a 1 MB body can nest far deeper
        raise connector_error(RemoteRejectedError, system, "webhook body is JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise connector_error(RemoteRejectedError, system, "webhook body is not a JSON object")
    return body


__all__ = [
    "TERMINAL_STATUSES",
    "b64_hmac_sha256",
    "draft_description",
    "header",
    "hmac_sha256",
    "parse_iso_time",
    "verify_webhook_signature",
    "webhook_json",
]
