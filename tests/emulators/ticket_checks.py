"""The ``TicketSystem`` contract, run against every ITSM adapter and its emulator over real HTTP.

A test module subclasses :class:`TicketSystemContract` (named ``Test...``), provides a module-scoped
``emulator`` fixture and gets its ``target`` fixture from ``emulator_fixture(<its TicketTarget>,
"target")``; every test below then runs for that adapter.

:class:`EmulatorControl`, ``client_options`` and ``emulator_fixture`` serve the identity contract too.
"""

from __future__ import annotations

import ssl
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Protocol, TypeVar

import httpx
import pytest

from connectors.errors import (
    AuthError,
    ConflictError,
    RateLimitedError,
    RemoteNotFoundError,
    RemoteRejectedError,
    RemoteUnavailableError,
)
from connectors.http import ClientOptions
from connectors.interfaces import TicketSystem
from connectors.models import ExternalTicket, ExternalTicketStatus, TicketDraft, TicketUrgency
from tests.emulators.harness import RunningEmulator

WEBHOOK_SECRET = "test-webhook-secret-5f2c"
DRAFT = TicketDraft(
    title="VPN drops every hour",
    description="Since Monday the VPN disconnects every hour.\nReconnecting works.",
    requester_email="ada@example.com",
    requester_name="Ada Lovelace",
    urgency=TicketUrgency.HIGH,
    category="network",
    labels=("vpn", "remote work"),
)
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MARKER = "(sent from Deskpilot, request AR-7)"


class ClosableTicketSystem(TicketSystem, Protocol):
    """A ticket adapter that owns HTTP connection pools."""

    def close(self) -> None:
        """Release the pools."""
        ...


class _Closable(Protocol):
    def close(self) -> None: ...


_A = TypeVar("_A", bound=_Closable)
_C = TypeVar("_C", bound="EmulatorControl")


@dataclass
class EmulatedTicket:
    """A ticket as the emulator stores it, in vendor-neutral terms."""

    external_key: str
    idempotency_key: str | None
    comments: list[tuple[str, bool]] = field(default_factory=list)  # (text, public)
    notes: list[str] = field(default_factory=list)  # other stored texts (resolution notes)


class TicketAdapterArgs(ClientOptions, total=False):
    """Keyword arguments every ticket adapter takes."""

    webhook_secret: str | None
    timeout_s: float


@dataclass(frozen=True)
class AdapterOptions:
    """What a contract test varies when it builds an adapter; ``kwargs`` go to the adapter as they are."""

    credentials_ok: bool
    kwargs: TicketAdapterArgs


def new_key() -> str:
    """A fresh idempotency key shaped like the product's Slack event keys."""
    return f"slack:T0001:Ev{uuid.uuid4().hex[:16].upper()}"


@cache
def _control_client() -> httpx.Client:
    """One client for the emulators' control endpoints (a new httpx client costs ~40 ms of TLS setup)."""
    return httpx.Client(timeout=5)


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def fast_transport() -> httpx.HTTPTransport:
    """A transport for adapters under test that reuses one TLS context (the emulators speak plain HTTP)."""
    return httpx.HTTPTransport(verify=_tls_context())


def client_options(max_attempts: int, sleep: Callable[[float], None]) -> ClientOptions:
    """Adapter HTTP options for tests: a tiny backoff, recorded sleeps, a fast transport."""
    return {
        "max_attempts": max_attempts,
        "backoff_base_s": 0.01,
        "sleep": sleep,
        "transport": fast_transport(),
    }


class EmulatorControl:
    """An emulator seen from a test: its control endpoints over one shared client, and the adapters the
    test opened on it (closed by ``close_all``). Shared by the ticket and identity contracts.

    ``inject``, ``reset`` and ``calls`` do what ``RunningEmulator``'s methods do, without a new client each.
    """

    def __init__(self, emulator: RunningEmulator) -> None:
        self.emulator = emulator
        self._opened: list[_Closable] = []

    def opened(self, adapter: _A) -> _A:
        """Remember ``adapter`` so that ``close_all`` closes it."""
        self._opened.append(adapter)
        return adapter

    def close_all(self) -> None:
        """Close every adapter opened in this test."""
        for adapter in self._opened:
            adapter.close()

    def inject(self, **behavior: Any) -> None:
        """Queue a fault (see ``tests.emulators.harness``)."""
        self.control("POST", "/_behavior", behavior)

    def reset(self) -> None:
        """Forget recorded calls and queued faults."""
        for path in ("/_calls", "/_behavior"):
            self.control("DELETE", path)

    def calls(self, path_prefix: str = "/") -> list[dict[str, Any]]:
        """Requests received since the last reset whose path starts with ``path_prefix``."""
        calls: list[dict[str, Any]] = self.control("GET", "/_calls")
        return [call for call in calls if call["path"].startswith(path_prefix)]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call an emulator control endpoint (``/_state``, ``/_status`` ...) and return its JSON, if any."""
        response = _control_client().request(method, f"{self.emulator.base_url}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def state(self) -> Any:
        """The emulator's ``/_state`` body."""
        return self.control("GET", "/_state")


class TicketTarget(EmulatorControl, ABC):
    """One adapter with its emulator: how to build it, and how to look inside the emulator. ``reset``
    forgets calls and faults; tickets stay."""

    system: str
    status_cases: Sequence[tuple[str, ExternalTicketStatus]]
    """Vendor statuses the emulator can hold, with the status the adapter must report for each."""
    open_status: str
    resolved_status: str
    unknown_key: str
    create_path: str

    @abstractmethod
    def build(self, options: AdapterOptions) -> ClosableTicketSystem:
        """The adapter pointed at the emulator."""

    @abstractmethod
    def tickets(self) -> list[EmulatedTicket]:
        """Every ticket the emulator holds (from ``GET /_state``)."""

    @abstractmethod
    def set_vendor_status(self, external_key: str, vendor_status: str) -> None:
        """Move a ticket to a vendor status behind the adapter's back (an agent working on it)."""

    @abstractmethod
    def read_prefix(self, external_key: str) -> str:
        """The path prefix ``get_ticket`` requests first, for fault injection."""

    @abstractmethod
    def signed_headers(self, body: bytes, secret: str) -> dict[str, str]:
        """The headers the vendor sends with a webhook signed with ``secret``."""

    @abstractmethod
    def status_event(self, external_key: str, vendor_status: str) -> bytes:
        """A webhook body reporting that the ticket moved to ``vendor_status``."""

    @abstractmethod
    def other_event(self, external_key: str) -> bytes:
        """A well-formed webhook body that is not a status change."""

    def make(
        self,
        *,
        delays: list[float] | None = None,
        credentials_ok: bool = True,
        webhook_secret: str | None = WEBHOOK_SECRET,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
    ) -> ClosableTicketSystem:
        """A new adapter instance (tiny backoff, sleeps recorded in ``delays``), closed when the test ends."""
        sleep = (delays if delays is not None else []).append
        kwargs: TicketAdapterArgs = {
            "webhook_secret": webhook_secret,
            "timeout_s": timeout_s,
            **client_options(max_attempts, sleep),
        }
        return self.opened(self.build(AdapterOptions(credentials_ok, kwargs)))

    def with_key(self, idempotency_key: str) -> list[EmulatedTicket]:
        """Tickets carrying ``idempotency_key`` in the vendor's field."""
        return [t for t in self.tickets() if t.idempotency_key == idempotency_key]

    def ticket(self, external_key: str) -> EmulatedTicket:
        """The stored ticket with this key."""
        return next(t for t in self.tickets() if t.external_key == external_key)

    def wait_for_count(self, idempotency_key: str, count: int, timeout_s: float = 3.0) -> None:
        """Wait until ``count`` tickets carry the key (a request still running in the emulator)."""
        deadline = time.monotonic() + timeout_s
        while len(self.with_key(idempotency_key)) != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} tickets with {idempotency_key}")
            time.sleep(0.05)

    def writes(self) -> list[dict[str, Any]]:
        """Recorded requests that could change something (searches sent with POST included)."""
        return [call for call in self.calls() if call["method"] in _WRITE_METHODS]


def emulator_fixture(control_class: type[_C], name: str) -> Any:
    """A test module's fixture ``name``: a fresh ``control_class`` on the module's ``emulator`` fixture,
    reset before the test and with the adapters it opened closed after it."""

    def fixture(emulator: RunningEmulator) -> Iterator[_C]:
        control = control_class(emulator)
        control.reset()
        yield control
        control.close_all()

    return pytest.fixture(fixture, name=name)


def find_or_create(system: TicketSystem, idempotency_key: str) -> ExternalTicket:
    """What the ticket task does: look the key up, create only when absent."""
    return system.find_by_idempotency_key(idempotency_key) or system.create_ticket(
        DRAFT, idempotency_key=idempotency_key
    )


class TicketSystemContract:
    """Behaviour every ``TicketSystem`` adapter must show against its emulator."""

    # ---- creation and idempotency ------------------------------------------------------------------

    def test_adapter_satisfies_ticket_system_protocol(self, target: TicketTarget) -> None:
        system = target.make()

        assert isinstance(system, TicketSystem)
        assert system.system == target.system

    def test_create_then_find_by_idempotency_key_returns_same_ticket(self, target: TicketTarget) -> None:
        system, key = target.make(), new_key()

        created = system.create_ticket(DRAFT, idempotency_key=key)
        found = system.find_by_idempotency_key(key)

        assert found is not None
        assert found.external_key == created.external_key
        assert found.idempotency_key == created.idempotency_key == key
        assert found.title == created.title == DRAFT.title
        assert created.status is ExternalTicketStatus.NEW
        assert found.status is ExternalTicketStatus.NEW
        assert created.system == found.system == target.system
        assert created.url is not None and created.url.startswith(target.emulator.base_url)
        assert len(target.with_key(key)) == 1

    def test_find_unknown_idempotency_key_returns_none(self, target: TicketTarget) -> None:
        target.make().create_ticket(DRAFT, idempotency_key=new_key())

        assert target.make().find_by_idempotency_key(new_key()) is None

    def test_find_first_create_run_twice_leaves_one_ticket(self, target: TicketTarget) -> None:
        key = new_key()

        first = find_or_create(target.make(), key)
        second = find_or_create(target.make(), key)  # a retried task, in a new worker

        assert second.external_key == first.external_key
        assert len(target.with_key(key)) == 1
        assert len(_creates(target)) == 1

    def test_create_timeout_is_not_resent_and_find_first_retry_finds_late_ticket(
        self, target: TicketTarget
    ) -> None:
        key = new_key()
        target.inject(delay_s=0.5, times=1, path_prefix=target.create_path)
        system = target.make(timeout_s=0.2)

        with pytest.raises(RemoteUnavailableError, match="timeout"):
            system.create_ticket(DRAFT, idempotency_key=key)
        assert len(_creates(target)) == 1  # the ambiguous request was not sent again
        target.wait_for_count(key, 1)  # the slow request did create the ticket
        retried = find_or_create(target.make(), key)

        assert retried.idempotency_key == key
        assert len(target.with_key(key)) == 1

    def test_create_server_error_is_not_resent_and_retry_creates_once(self, target: TicketTarget) -> None:
        key = new_key()
        target.inject(status=503, times=1, path_prefix=target.create_path)

        with pytest.raises(RemoteUnavailableError):
            target.make().create_ticket(DRAFT, idempotency_key=key)
        assert len(_creates(target)) == 1
        assert target.with_key(key) == []
        find_or_create(target.make(), key)

        assert len(target.with_key(key)) == 1

    def test_create_rate_limited_waits_retry_after_then_creates_once(self, target: TicketTarget) -> None:
        key, delays = new_key(), list[float]()
        target.inject(status=429, times=2, retry_after="1", path_prefix=target.create_path)

        created = target.make(delays=delays).create_ticket(DRAFT, idempotency_key=key)

        assert created.idempotency_key == key
        assert delays == [1.0, 1.0]
        assert len(_creates(target)) == 3
        assert len(target.with_key(key)) == 1

    # ---- reading, comments, resolution -------------------------------------------------------------

    def test_get_ticket_returns_current_vendor_state(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())
        target.set_vendor_status(created.external_key, target.open_status)

        ticket = system.get_ticket(created.external_key)

        assert ticket.external_key == created.external_key
        assert ticket.status is ExternalTicketStatus.OPEN
        assert ticket.vendor_status is not None
        assert ticket.updated_at is not None and ticket.updated_at.utcoffset() is not None
        assert ticket.url == created.url

    def test_vendor_statuses_map_to_our_lifecycle(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())

        seen = []
        for vendor_status, _ in target.status_cases:
            target.set_vendor_status(created.external_key, vendor_status)
            seen.append((vendor_status, system.get_ticket(created.external_key).status))

        assert seen == list(target.status_cases)

    def test_add_public_and_internal_comments(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())

        public = system.add_comment(created.external_key, "We are looking into it.", public=True)
        internal = system.add_comment(created.external_key, "Checked the VPN gateway logs.", public=False)

        assert (public.public, internal.public) == (True, False)
        assert public.body == "We are looking into it."
        assert internal.body == "Checked the VPN gateway logs."
        assert public.external_id and internal.external_id and public.external_id != internal.external_id
        stored = target.ticket(created.external_key).comments
        assert ("We are looking into it.", True) in stored
        assert ("Checked the VPN gateway logs.", False) in stored

    def test_add_comment_to_unknown_ticket_raises_not_found(self, target: TicketTarget) -> None:
        with pytest.raises(RemoteNotFoundError):
            target.make().add_comment(target.unknown_key, "Hello", public=True)

    def test_find_comment_returns_a_comment_containing_the_marker(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())
        system.add_comment(created.external_key, "Any news?", public=True)
        added = system.add_comment(created.external_key, f"Still broken.\n\n{MARKER}", public=True)
        internal = system.add_comment(created.external_key, "Checked logs (request AR-8)", public=False)
        target.reset()

        found = system.find_comment(created.external_key, MARKER)

        assert found is not None and found.external_id == added.external_id
        assert found.body.startswith("Still broken.") and found.body.endswith(MARKER) and found.public
        other = system.find_comment(created.external_key, "(request AR-8)")
        assert other is not None and other.external_id == internal.external_id and not other.public
        assert system.find_comment(created.external_key, MARKER.replace("AR-7", "AR-70")) is None
        assert system.find_comment(created.external_key, MARKER.upper()) is None  # exact match
        assert target.writes() == []

    def test_find_comment_on_unknown_ticket_raises_not_found(self, target: TicketTarget) -> None:
        with pytest.raises(RemoteNotFoundError):
            target.make().find_comment(target.unknown_key, MARKER)

    def test_resolve_then_resolve_again_changes_nothing(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())
        target.set_vendor_status(created.external_key, target.open_status)

        resolved = system.resolve_ticket(created.external_key, "Password reset by Deskpilot automation.")
        target.reset()
        again = system.resolve_ticket(created.external_key, "Password reset by Deskpilot automation.")

        assert resolved.status is ExternalTicketStatus.RESOLVED
        assert again.status is ExternalTicketStatus.RESOLVED
        assert again.external_key == resolved.external_key
        assert target.writes() == []
        stored = target.ticket(created.external_key)
        texts = [text for text, _ in stored.comments] + stored.notes
        assert texts.count("Password reset by Deskpilot automation.") == 1

    def test_resolve_unknown_ticket_raises_not_found(self, target: TicketTarget) -> None:
        with pytest.raises(RemoteNotFoundError):
            target.make().resolve_ticket(target.unknown_key, "Done")

    # ---- webhooks ----------------------------------------------------------------------------------

    def test_webhook_with_good_signature_returns_status_change(self, target: TicketTarget) -> None:
        system = target.make()
        created = system.create_ticket(DRAFT, idempotency_key=new_key())
        body = target.status_event(created.external_key, target.resolved_status)

        change = system.parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))

        assert change is not None
        assert change.system == target.system
        assert change.external_key == created.external_key
        assert change.status is ExternalTicketStatus.RESOLVED
        assert change.vendor_status
        assert change.changed_at is not None and change.changed_at.utcoffset() is not None

    def test_webhook_header_names_are_case_insensitive(self, target: TicketTarget) -> None:
        body = target.status_event(target.unknown_key, target.resolved_status)
        headers = {name.lower(): value for name, value in target.signed_headers(body, WEBHOOK_SECRET).items()}

        change = target.make().parse_status_webhook(body, headers)

        assert change is not None and change.status is ExternalTicketStatus.RESOLVED

    def test_webhook_with_wrong_secret_raises_auth_error(self, target: TicketTarget) -> None:
        body = target.status_event(target.unknown_key, target.resolved_status)

        with pytest.raises(AuthError):
            target.make().parse_status_webhook(body, target.signed_headers(body, "not-the-secret"))

    def test_webhook_with_tampered_body_raises_auth_error(self, target: TicketTarget) -> None:
        body = target.status_event(target.unknown_key, target.resolved_status)
        headers = target.signed_headers(body, WEBHOOK_SECRET)

        with pytest.raises(AuthError):
            target.make().parse_status_webhook(body.replace(b"}", b" }", 1), headers)

    def test_webhook_without_signature_raises_auth_error(self, target: TicketTarget) -> None:
        body = target.status_event(target.unknown_key, target.resolved_status)

        with pytest.raises(AuthError):
            target.make().parse_status_webhook(body, {"Content-Type": "application/json"})

    def test_webhook_when_no_secret_configured_raises_auth_error(self, target: TicketTarget) -> None:
        body = target.status_event(target.unknown_key, target.resolved_status)

        with pytest.raises(AuthError, match="not configured"):
            target.make(webhook_secret=None).parse_status_webhook(
                body, target.signed_headers(body, WEBHOOK_SECRET)
            )

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
    def test_webhook_malformed_body_raises_remote_rejected(self, target: TicketTarget, body: bytes) -> None:
        with pytest.raises(RemoteRejectedError):
            target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET))

    def test_webhook_for_other_event_returns_none(self, target: TicketTarget) -> None:
        body = target.other_event(target.unknown_key)

        assert target.make().parse_status_webhook(body, target.signed_headers(body, WEBHOOK_SECRET)) is None

    # ---- errors and retries ------------------------------------------------------------------------

    def test_wrong_credentials_raise_auth_error_without_retry(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()

        with pytest.raises(AuthError) as raised:
            target.make(credentials_ok=False).get_ticket(created.external_key)

        assert raised.value.system == target.system
        assert len(target.calls()) == 1

    def test_unknown_ticket_raises_remote_not_found(self, target: TicketTarget) -> None:
        with pytest.raises(RemoteNotFoundError):
            target.make().get_ticket(target.unknown_key)

    def test_conflict_raises_conflict_error_without_retry(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(status=409, times=1, path_prefix=target.read_prefix(created.external_key))

        with pytest.raises(ConflictError):
            target.make().get_ticket(created.external_key)

        assert len(target.calls()) == 1

    def test_rate_limited_twice_waits_retry_after_then_succeeds(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(
            status=429, times=2, retry_after="1", path_prefix=target.read_prefix(created.external_key)
        )
        delays: list[float] = []

        ticket = target.make(delays=delays).get_ticket(created.external_key)

        assert ticket.external_key == created.external_key
        assert delays == [1.0, 1.0]
        assert len(target.calls()) == 3

    def test_persistent_rate_limit_raises_with_retry_after(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(
            status=429, times=10, retry_after="2", path_prefix=target.read_prefix(created.external_key)
        )

        with pytest.raises(RateLimitedError) as raised:
            target.make(max_attempts=3).get_ticket(created.external_key)

        assert raised.value.retry_after_s == 2.0
        assert len(target.calls()) == 3

    def test_server_error_once_is_retried(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(status=502, times=1, path_prefix=target.read_prefix(created.external_key))

        ticket = target.make().get_ticket(created.external_key)

        assert ticket.external_key == created.external_key
        assert len(target.calls()) == 2

    def test_persistent_server_error_raises_remote_unavailable_after_max_attempts(
        self, target: TicketTarget
    ) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(status=503, times=10, path_prefix=target.read_prefix(created.external_key))
        delays: list[float] = []

        with pytest.raises(RemoteUnavailableError):
            target.make(delays=delays, max_attempts=3).get_ticket(created.external_key)

        assert len(target.calls()) == 3
        assert len(delays) == 2

    def test_slow_response_beyond_timeout_raises_remote_unavailable(self, target: TicketTarget) -> None:
        created = target.make().create_ticket(DRAFT, idempotency_key=new_key())
        target.reset()
        target.inject(delay_s=0.5, times=2, path_prefix=target.read_prefix(created.external_key))

        with pytest.raises(RemoteUnavailableError, match="timeout"):
            target.make(timeout_s=0.2, max_attempts=2).get_ticket(created.external_key)


def _creates(target: TicketTarget) -> list[dict[str, Any]]:
    """The create requests the emulator received (exact path, POST)."""
    return [
        call
        for call in target.calls(target.create_path)
        if call["method"] == "POST" and call["path"] == target.create_path
    ]


# ---- the resolved-tickets feed: checks every adapter's tests share ----------------------------------


class FeedTarget(Protocol):
    """The emulator control a feed check needs."""

    def calls(self, path_prefix: str = "/") -> list[dict[str, Any]]: ...

    def inject(self, **behavior: Any) -> None: ...

    def reset(self) -> None: ...


def check_feed_is_lazy_and_refuses_naive_since(target: FeedTarget, system: Any, since: datetime) -> None:
    """Nothing is fetched before iteration; naive ``since`` and a zero limit are refused at the call."""
    pending = system.resolved_since(since)
    with pytest.raises(ValueError, match="timezone-aware"):
        system.resolved_since(since.replace(tzinfo=None))
    with pytest.raises(ValueError, match="limit"):
        system.resolved_since(since, limit=0)
    assert target.calls() == []
    assert list(pending) == []
    assert len(target.calls()) == 1


def check_feed_auth_error_without_retry(target: FeedTarget, system: Any, since: datetime, name: str) -> None:
    """Wrong credentials raise AuthError (naming the system) after one request."""
    with pytest.raises(AuthError) as raised:
        next(system.resolved_since(since))
    assert raised.value.system == name
    assert len(target.calls()) == 1


def check_feed_rate_limits(
    target: FeedTarget,
    feed_with: Callable[..., Any],
    since: datetime,
    path_prefix: str,
    expected_key: str,
) -> None:
    """429s with Retry-After are waited out, then a persistent 429 raises RateLimitedError."""
    target.inject(status=429, times=2, retry_after="1", path_prefix=path_prefix)
    delays: list[float] = []
    batches = list(feed_with(delays=delays).resolved_since(since))
    assert [[t.external_key for t in batch] for batch in batches] == [[expected_key]]
    assert delays == [1.0, 1.0]
    target.reset()
    target.inject(status=429, times=10, retry_after="2", path_prefix=path_prefix)
    with pytest.raises(RateLimitedError) as raised:
        list(feed_with(max_attempts=3).resolved_since(since))
    assert raised.value.retry_after_s == 2.0
    assert len(target.calls()) == 3
