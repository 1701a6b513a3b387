"""ServiceNow incidents as a ``TicketSystem``, through the Table API (basic auth).

Vendor JSON stops here: callers only see ``ExternalTicket``, ``ExternalComment``, ``TicketStatusChange`` and
``ResolvedTicket``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from connectors.errors import (
    AuthError,
    ConnectorError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions, HttpAdapter, connector_error
from connectors.models import (
    ExternalComment,
    ExternalTicket,
    ExternalTicketStatus,
    ResolvedTicket,
    TicketDraft,
    TicketStatusChange,
    TicketUrgency,
)
from connectors.servicenow.knowledge import (  # Table API record readers
    _GLIDE_TIME,
    _display_value,
    _glide_time,
    _value,
)
from connectors.ticketing import (
    TERMINAL_STATUSES,
    b64_hmac_sha256,
    draft_description,
    header,
    verify_webhook_signature,
    webhook_json,
)

logger = logging.getLogger(__name__)

SYSTEM = "servicenow"
SIGNATURE_HEADER = "X-Deskpilot-Signature"
_INCIDENT_PATH = "api/now/table/incident"
_USER_PATH = "api/now/table/sys_user"
_JOURNAL_PATH = "api/now/table/sys_journal_field"
_COMMENT_ELEMENTS = ("comments", "work_notes")
_FIELDS = "sys_id,number,short_description,state,correlation_id,close_notes,sys_updated_on"
_STATES: Mapping[str, tuple[ExternalTicketStatus, str]] = {
    "1": (ExternalTicketStatus.NEW, "New"),
    "2": (ExternalTicketStatus.OPEN, "In Progress"),
    "3": (ExternalTicketStatus.PENDING, "On Hold"),
    "6": (ExternalTicketStatus.RESOLVED, "Resolved"),
    "7": (ExternalTicketStatus.CLOSED, "Closed"),
    "8": (ExternalTicketStatus.CANCELLED, "Canceled"),
}
RESOLVED_STATE = "6"
_FEED_FIELDS = (
    "sys_id,number,short_description,description,state,close_notes,category,caller_id,caller_id.email,"
    "assigned_to,resolved_at,sys_updated_on"
)
_FEED_MARGIN = timedelta(days=1)
"""How much earlier than ``since`` the feed's query starts: the instance may read a date-time literal in
the integration user's time zone, so the exact bound is applied to the stored UTC value here."""
# (urgency, impact): priority is computed from both (P2 at most: a chat request is never a major incident).
_URGENCY_IMPACT: Mapping[TicketUrgency, tuple[str, str]] = {
    TicketUrgency.LOW: ("3", "3"),
    TicketUrgency.NORMAL: ("2", "3"),
    TicketUrgency.HIGH: ("2", "2"),
    TicketUrgency.URGENT: ("1", "2"),
}
# Characters that would change the meaning of an encoded query (conditions are joined with "^").
_QUERY_UNSAFE = re.compile(r"[\^\r\n]")
_NUMBER = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def map_state(state: str) -> ExternalTicketStatus:
    """Our status for an incident ``state`` value; custom states count as open."""
    known = _STATES.get(state.strip())
    return known[0] if known else ExternalTicketStatus.OPEN


class ServiceNowTicketSystem(HttpAdapter):
    """Incidents in the ``incident`` table, created by an integration user with basic auth.

    The idempotency key is stored in ``correlation_id`` (at most 100 characters, no ``^``) with
    ``correlation_display`` = ``Deskpilot``; the caller is the ``sys_user`` whose ``email`` matches the
    requester (left empty when none does; the requester is named in the description either way).
    Urgency maps to urgency/impact (low 3/3, normal 2/3, high 2/2, urgent 1/2), i.e. priority 5 to 2.
    ``add_comment`` writes ``comments`` (customer visible) or ``work_notes`` (internal) and reads the
    journal entry back from ``sys_journal_field`` when the user may read it; otherwise the comment id is
    synthesised as ``<incident sys_id>:<field>:<sys_updated_on>``. ``resolve_ticket`` sets ``state`` 6
    with ``close_code`` and ``close_notes`` (the out-of-box data policy makes both mandatory).

    Status webhook: a Business Rule on ``incident`` (after update, condition "State changes" and
    "Correlation display is Deskpilot") posts an outbound REST message whose body is the JSON object
    ``{"number", "state", "close_notes", "sys_updated_on"}`` (values from ``current.getValue``, so the
    time is UTC) with the header ``X-Deskpilot-Signature`` = base64 HMAC-SHA256 of the exact body,
    keyed with ``webhook_secret``. In the rule's script::

        var mac = new GlideCertificateEncryption().generateMac(
            GlideStringUtil.base64Encode(gs.getProperty('deskpilot.webhook_secret')), 'HmacSHA256', body);
        request.setRequestHeader('X-Deskpilot-Signature', mac);

    A body without ``state`` is not a status change. Unsigned webhooks are refused.

    Non-idempotent writes (create, comment) are sent once: a timeout or 5xx there may have been applied,
    so the error goes to the caller, whose retry looks the state up first. Only 429 is retried on those.

    ``resolved_since`` is also a ``ResolvedTicketFeed`` (see its docstring).
    """

    SYSTEM = SYSTEM

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        webhook_secret: str | None = None,
        timeout_s: float = 10.0,
        *,
        close_code: str = "Solution provided",
        correlation_display: str = "Deskpilot",
        **options: Unpack[ClientOptions],
    ) -> None:
        if not close_code.strip():
            raise ValueError("close_code must not be empty")
        super().__init__(base_url, auth=(username, password), timeout_s=timeout_s, **options)
        self._webhook_secret = webhook_secret
        self._close_code = close_code
        self._correlation_display = correlation_display

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        """Create an incident whose ``correlation_id`` is the key (the create is sent once)."""
        _check_idempotency_key(idempotency_key)
        urgency, impact = _URGENCY_IMPACT[draft.urgency]
        record: dict[str, str] = {
            "short_description": " ".join(draft.title.split())[:160],
            "description": _description(draft),
            "urgency": urgency,
            "impact": impact,
            "correlation_id": idempotency_key,
            "correlation_display": self._correlation_display,
        }
        caller = self._caller_sys_id(draft.requester_email)
        if caller:
            record["caller_id"] = caller
        created = self._http.request_json(
            "POST", _INCIDENT_PATH, params=_record_params(), json=record, idempotent=False
        )
        return self._to_ticket(_result_object(created))

    def find_by_idempotency_key(self, idempotency_key: str) -> ExternalTicket | None:
        """The oldest incident whose ``correlation_id`` is the key, or None."""
        _check_idempotency_key(idempotency_key)
        records = self._query(_INCIDENT_PATH, f"correlation_id={idempotency_key}^ORDERBYsys_created_on", 5)
        # An unknown field in sysparm_query is silently dropped by ServiceNow (returning every row), so
        # the match is confirmed here rather than trusted.
        matches = [r for r in records if _value(r, "correlation_id") == idempotency_key]
        if len(matches) > 1:
            logger.warning(
                "several incidents carry one correlation_id", extra={"system": SYSTEM, "count": len(matches)}
            )
        return self._to_ticket(matches[0]) if matches else None

    def get_ticket(self, external_key: str) -> ExternalTicket:
        """The incident with this number (``RemoteNotFoundError`` when none)."""
        return self._to_ticket(self._incident(external_key))

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        """Add an additional comment (public) or a work note (internal)."""
        if not body.strip():
            raise ValueError("comment body must not be empty")
        incident = self._incident(external_key)
        sys_id = _value(incident, "sys_id")
        element = "comments" if public else "work_notes"
        patched = self._http.request_json(
            "PATCH",
            f"{_INCIDENT_PATH}/{sys_id}",
            params={"sysparm_fields": "sys_id,sys_updated_on", "sysparm_exclude_reference_link": "true"},
            json={element: body},
            idempotent=False,
        )
        updated_on = _value(_result_object(patched), "sys_updated_on")
        entry = self._journal_entry(sys_id, element, body)
        if entry is not None:
            return entry
        return ExternalComment(
            external_id=f"{sys_id}:{element}:{updated_on}",
            body=body,
            public=public,
            created_at=_glide_time(updated_on),
        )

    def find_comment(self, external_key: str, marker: str) -> ExternalComment | None:
        """The newest of the incident's newest 100 journal entries (``comments`` and ``work_notes`` in
        ``sys_journal_field``) whose text contains ``marker``.

        Where the integration user may not read ``sys_journal_field`` (403, a common hardening), the
        incident's own ``comments`` and ``work_notes`` are read instead: their display value holds every
        entry under a ``<time> - <user> (Additional comments|Work notes)`` line."""
        if not marker.strip():
            raise ValueError("marker must not be blank")
        sys_id = _value(self._incident(external_key), "sys_id")
        try:
            rows = self._journal_rows(sys_id, "elementIN" + ",".join(_COMMENT_ELEMENTS), 100)
        except AuthError:
            logger.info(
                "journal table not readable, reading the incident's journal fields", extra={"system": SYSTEM}
            )
            return self._comment_in_journal_fields(sys_id, marker)
        row = next((r for r in rows if marker in _value(r, "value")), None)
        return None if row is None else _journal_comment(row)

    def _comment_in_journal_fields(self, sys_id: str, marker: str) -> ExternalComment | None:
        """The newest entry containing ``marker`` in the display values of the incident's journal fields."""
        records = self._query(
            _INCIDENT_PATH, f"sys_id={sys_id}", 1, fields="sys_id," + ",".join(_COMMENT_ELEMENTS)
        )
        record = next((r for r in records if _value(r, "sys_id") == sys_id), None)
        if record is None:
            return None
        for element in _COMMENT_ELEMENTS:
            for shown_at, author, body in journal_entries(_display_value(record, element)):
                if marker in body:
                    return ExternalComment(
                        external_id=f"{sys_id}:{element}:{shown_at}",
                        body=body,
                        author=author,
                        public=element == "comments",
                    )
        return None

    def resolve_ticket(self, external_key: str, resolution: str) -> ExternalTicket:
        """Set state Resolved with close code and notes; a resolved, closed or cancelled one is unchanged."""
        incident = self._incident(external_key)
        current = self._to_ticket(incident)
        if current.status in TERMINAL_STATUSES:
            return current
        # Setting the same values twice is harmless, so this write may be retried like a read.
        patched = self._http.request_json(
            "PATCH",
            f"{_INCIDENT_PATH}/{_value(incident, 'sys_id')}",
            params=_record_params(),
            json={
                "state": RESOLVED_STATE,
                "close_code": self._close_code,
                "close_notes": resolution.strip() or "Resolved by Deskpilot.",
            },
        )
        return self._to_ticket(_result_object(patched))

    def parse_status_webhook(self, payload: bytes, headers: dict[str, str]) -> TicketStatusChange | None:
        """Verify ``X-Deskpilot-Signature``, then read the Business Rule's status message."""
        verify_webhook_signature(
            SYSTEM,
            self._webhook_secret,
            header(headers, SIGNATURE_HEADER),
            lambda secret: sign_webhook(payload, secret),
        )
        message = webhook_json(SYSTEM, payload)
        number = message.get("number")
        if not isinstance(number, str) or not number:
            raise _error(RemoteRejectedError, "webhook body has no incident number")
        state = message.get("state")
        if state is None or state == "":
            return None
        if not isinstance(state, str | int) or isinstance(state, bool):
            raise _error(RemoteRejectedError, "webhook state is not a state value")
        state = str(state)
        close_notes, updated_on = message.get("close_notes"), message.get("sys_updated_on")
        return TicketStatusChange(
            system=SYSTEM,
            external_key=number,
            status=map_state(state),
            vendor_status=_STATES[state][1] if state in _STATES else state,
            resolution=close_notes if isinstance(close_notes, str) and close_notes else None,
            changed_at=_glide_time(updated_on) if isinstance(updated_on, str) else None,
        )

    def resolved_since(self, since: datetime, *, limit: int = 500) -> Iterator[list[ResolvedTicket]]:
        """Incidents in state Resolved or Closed whose ``resolved_at`` is at or after ``since``, oldest first.

        One Table API query (``stateIN6,7^resolved_at>=...^ORDERBYresolved_at^ORDERBYsys_id``) paged with
        ``sysparm_limit`` / ``sysparm_offset`` until ``X-Total-Count`` (or a short page) says it is done;
        the caller's e-mail is dot-walked (``caller_id.email``), so no other request is made. The
        resolution is ``close_notes``. Offset pages can shift when an incident in the window is reopened
        during the walk, so a run should overlap the previous one.
        """
        if since.utcoffset() is None:
            raise ValueError("since must be timezone-aware")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        return self._resolved_pages(since.astimezone(UTC).replace(microsecond=0), limit)

    # ---- internals -------------------------------------------------------------------------------

    def _resolved_pages(self, since: datetime, limit: int) -> Iterator[list[ResolvedTicket]]:
        lower = (since - _FEED_MARGIN).strftime(_GLIDE_TIME)
        params = {
            **_record_params(_FEED_FIELDS),
            "sysparm_query": f"stateIN6,7^resolved_at>={lower}^ORDERBYresolved_at^ORDERBYsys_id",
            "sysparm_limit": str(limit),
        }
        offset = 0
        while True:
            reply = self._http.request(
                "GET", _INCIDENT_PATH, params={**params, "sysparm_offset": str(offset)}
            )
            records = _result_list(reply.body)
            batch = [ticket for record in records if (ticket := self._to_resolved(record, since))]
            if batch:
                yield batch
            offset += limit
            # The instance drops rows the user may not read after paging: trust the total over a short page.
            total = reply.headers.get("X-Total-Count", "")
            done = offset >= int(total) if total.isdigit() else len(records) < limit
            if done:
                return

    def _to_resolved(self, record: Mapping[str, Any], since: datetime) -> ResolvedTicket | None:
        """The incident as a ``ResolvedTicket``; None when outside the window or not resolved/closed."""
        number, sys_id = _value(record, "number"), _value(record, "sys_id")
        resolved_at = _glide_time(_value(record, "resolved_at"))
        status = map_state(_value(record, "state"))
        if resolved_at is None or resolved_at < since:
            return None
        if status not in (ExternalTicketStatus.RESOLVED, ExternalTicketStatus.CLOSED) or not number:
            return None
        return ResolvedTicket(
            system=SYSTEM,
            external_key=number,
            url=f"{self._base_url}/incident.do?sys_id={sys_id}" if sys_id else None,
            title=_value(record, "short_description"),
            description=_value(record, "description"),
            resolution=_value(record, "close_notes"),
            category=_display_value(record, "category") or _value(record, "category") or None,
            requester_email=_value(record, "caller_id.email") or None,
            requester_name=_display_value(record, "caller_id") or None,
            assignee_name=_display_value(record, "assigned_to") or None,
            resolved_at=resolved_at,
            updated_at=_glide_time(_value(record, "sys_updated_on")),
            status=status,
        )

    def _incident(self, number: str) -> dict[str, Any]:
        if not _NUMBER.match(number):
            raise _error(RemoteNotFoundError, f"not an incident number: {number[:50]!r}")
        records = self._query(_INCIDENT_PATH, f"number={number}", 1)
        record = next((r for r in records if _value(r, "number") == number), None)
        if record is None:
            raise _error(RemoteNotFoundError, f"no incident {number}")
        return record

    def _caller_sys_id(self, email: str) -> str | None:
        if _QUERY_UNSAFE.search(email):
            return None
        records = self._query(_USER_PATH, f"email={email}^active=true", 1, fields="sys_id,email")
        match = next((r for r in records if _value(r, "email").casefold() == email.casefold()), None)
        return (_value(match, "sys_id") or None) if match else None

    def _journal_entry(self, sys_id: str, element: str, body: str) -> ExternalComment | None:
        """The journal row just written, when readable; reading it back is best effort."""
        try:
            rows = self._journal_rows(sys_id, f"element={element}", 10)
        except ConnectorError as exc:
            logger.info(
                "journal entry not readable, comment id synthesised",
                extra={"system": SYSTEM, "error": type(exc).__name__},
            )
            return None
        row = next((r for r in rows if _value(r, "value") == body), None)
        return None if row is None else _journal_comment(row)

    def _journal_rows(self, sys_id: str, elements: str, limit: int) -> list[dict[str, Any]]:
        """The incident's newest ``limit`` journal rows matching the ``elements`` condition, newest first."""
        return self._query(
            _JOURNAL_PATH,
            f"element_id={sys_id}^{elements}^ORDERBYDESCsys_created_on",
            limit,
            fields="sys_id,element,value,sys_created_on,sys_created_by",
        )

    def _query(self, path: str, query: str, limit: int, *, fields: str = _FIELDS) -> list[dict[str, Any]]:
        params = {**_record_params(fields), "sysparm_query": query, "sysparm_limit": str(limit)}
        return _result_list(self._http.request_json("GET", path, params=params))

    def _to_ticket(self, record: Mapping[str, Any]) -> ExternalTicket:
        number, sys_id = _value(record, "number"), _value(record, "sys_id")
        if not number or not sys_id:
            raise _error(RemoteUnavailableError, "incident without number or sys_id")
        state = _value(record, "state")
        return ExternalTicket(
            system=SYSTEM,
            external_key=number,
            url=f"{self._base_url}/incident.do?sys_id={sys_id}",
            title=_value(record, "short_description"),
            status=map_state(state),
            vendor_status=_display_value(record, "state") or state or None,
            idempotency_key=_value(record, "correlation_id") or None,
            resolution=_value(record, "close_notes") or None,
            updated_at=_glide_time(_value(record, "sys_updated_on")),
        )


def sign_webhook(payload: bytes, secret: str) -> str:
    """The ``X-Deskpilot-Signature`` value for ``payload``: base64 HMAC-SHA256 keyed with ``secret``."""
    return b64_hmac_sha256(secret, payload)


_JOURNAL_HEADER = re.compile(
    r"^(?P<when>[^\n]+?) - (?P<who>[^\n]+?) \((?:Additional comments|Work notes)\)\n", re.M
)


def journal_entries(shown: str) -> list[tuple[str, str | None, str]]:
    """(time as shown, author, text) of each entry of a journal field's display value, newest first.

    Text before the first header line (a format this does not know) is kept as one entry with no time or
    author, so that a marker in it is still found."""
    headers = list(_JOURNAL_HEADER.finditer(shown))
    preamble = shown[: headers[0].start() if headers else len(shown)].strip()
    entries: list[tuple[str, str | None, str]] = [("", None, preamble)] if preamble else []
    for position, current in enumerate(headers):
        end = headers[position + 1].start() if position + 1 < len(headers) else len(shown)
        entries.append((current["when"], current["who"], shown[current.end() : end].strip()))
    return entries


def _journal_comment(row: Mapping[str, Any]) -> ExternalComment:
    """A ``sys_journal_field`` row as a comment (``comments`` are public, ``work_notes`` internal)."""
    return ExternalComment(
        external_id=_value(row, "sys_id"),
        body=_value(row, "value"),
        author=_value(row, "sys_created_by") or None,
        public=_value(row, "element") == "comments",
        created_at=_glide_time(_value(row, "sys_created_on")),
    )


def _record_params(fields: str = _FIELDS) -> dict[str, str]:
    # "all" gives each field's stored value (UTC times, choice values) and its display value (labels).
    return {
        "sysparm_fields": fields,
        "sysparm_display_value": "all",
        "sysparm_exclude_reference_link": "true",
    }


def _check_idempotency_key(key: str) -> None:
    if not key.strip() or len(key) > 100 or _QUERY_UNSAFE.search(key):
        raise ValueError("idempotency_key must be 1-100 characters without '^' or line breaks")


def _description(draft: TicketDraft) -> str:
    category = f"Category: {draft.category}" if draft.category else ""
    labels = "Labels: " + ", ".join(draft.labels) if draft.labels else ""
    return draft_description(draft, category, labels)


def _result_list(response: Any) -> list[dict[str, Any]]:
    result = response.get("result") if isinstance(response, dict) else None
    if not isinstance(result, list):
        raise _error(RemoteUnavailableError, "Table API answered without a result list")
    return [record for record in result if isinstance(record, dict)]


def _result_object(response: Any) -> dict[str, Any]:
    result = response.get("result") if isinstance(response, dict) else None
    if not isinstance(result, dict):
        raise _error(RemoteUnavailableError, "Table API answered without a result record")
    return result


def _error(kind: type[ConnectorError], message: str) -> ConnectorError:
    return connector_error(kind, SYSTEM, message)


__all__ = ["SIGNATURE_HEADER", "ServiceNowTicketSystem", "map_state", "sign_webhook"]
