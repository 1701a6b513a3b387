"""Runs during an ITSM outage: the requester is told once that the run is delayed, and a create that got
no answer (it may land later) is looked up, never sent twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.errors import RateLimitedError, RemoteUnavailableError
from connectors.http import connector_error
from connectors.models import ExternalComment, ExternalTicket, TicketDraft
from services.automations.context import configure_automation_context
from services.automations.models import AutomationKind, AutomationState
from services.automations.runner import (
    UnsettledCommentError,
    UnsettledCreateError,
    comment_marker,
    execute_run,
    send_notice,
)
from services.automations.tasks import retry_delay_s
from services.common.config import AutomationsSettings
from services.common.db import session_scope, utcnow
from services.tickets.models import Ticket, TicketComment
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName
from tests.conftest import make_settings
from tests.unit.automations.harness import World, build_world

DELAY_WORDS = "isn't responding right now"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


class _OutageTickets:
    """The built-in ITSM behind an outage: ``lookups_down`` lookups fail (503, or 429 when ``rate_limited``);
    creates time out while ``creates_hang`` but are kept, to land later (``land``)."""

    def __init__(self, inner: object, *, lookups_down: int = 0, rate_limited: bool = False) -> None:
        self.inner = inner
        self.system = "builtin"
        self.lookups_down, self.rate_limited = lookups_down, rate_limited
        self.creates_hang = self.comments_hang = False
        self.creates_sent = self.comments_sent = 0
        self.held: list[tuple[TicketDraft, str]] = []
        self.held_comments: list[tuple[str, str, bool]] = []

    def find_by_idempotency_key(self, key: str) -> ExternalTicket | None:
        if self.lookups_down > 0:
            self.lookups_down -= 1
            if self.rate_limited:
                raise connector_error(RateLimitedError, self.system, "HTTP 429")
            raise connector_error(RemoteUnavailableError, self.system, "HTTP 503")
        return self.inner.find_by_idempotency_key(key)  # type: ignore[attr-defined,no-any-return]

    def create_ticket(self, draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        self.creates_sent += 1
        if self.creates_hang:
            self.held.append((draft, idempotency_key))
            raise connector_error(RemoteUnavailableError, self.system, "timeout after 10.0 s (ReadTimeout)")
        return self.inner.create_ticket(draft, idempotency_key=idempotency_key)  # type: ignore[attr-defined,no-any-return]

    def add_comment(self, external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        self.comments_sent += 1
        if self.comments_hang:
            self.held_comments.append((external_key, body, public))
            raise connector_error(RemoteUnavailableError, self.system, "timeout after 10.0 s (ReadTimeout)")
        return self.inner.add_comment(external_key, body, public=public)  # type: ignore[attr-defined,no-any-return]

    def land(self) -> None:
        """The remote finishes the creates and comments the client gave up on."""
        for draft, key in self.held:
            self.inner.create_ticket(draft, idempotency_key=key)  # type: ignore[attr-defined]
        for external_key, body, public in self.held_comments:
            self.inner.add_comment(external_key, body, public=public)  # type: ignore[attr-defined]
        self.held.clear()
        self.held_comments.clear()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _tickets(world: World) -> int:
    with session_scope(world.sessions) as db_session:
        return len(db_session.scalars(select(Ticket)).all())


def test_the_first_retryable_failure_tells_the_requester_once_then_the_result_once(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets, lookups_down=3)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Docking station flickers"})
    for _ in range(3):
        with pytest.raises(RemoteUnavailableError):
            execute_run(world.ctx, run_id, final_attempt=False, claim="task-1")
    assert execute_run(world.ctx, run_id, final_attempt=False, claim="task-1") is AutomationState.SUCCEEDED
    assert send_notice(world.ctx, run_id) and not send_notice(world.ctx, run_id)

    texts = [notice["text"] for notice in world.notifier.told]
    assert len(texts) == 2, texts
    assert texts[0] == (
        f"The ticket system isn't responding right now, so your request AR-{run_id} is delayed. "
        "I'll keep trying and tell you here when your ticket is created."
    )
    assert "is open" in texts[1] and DELAY_WORDS not in texts[1]
    assert world.run(run_id).delay_notified_at is not None and world.run(run_id).attempts == 4


def test_a_delay_notice_that_cannot_be_delivered_is_not_retried_and_does_not_stop_the_run(
    world: World,
) -> None:
    world.ctx.tickets = _OutageTickets(world.ctx.tickets, lookups_down=2, rate_limited=True)  # type: ignore[assignment]
    world.notifier.fail_private = True
    delivered: list[str] = []

    def flaky_tell(
        *, employee_id: int, conversation_id: int | None, text: str, private: bool = False
    ) -> None:
        if DELAY_WORDS in text:
            raise RuntimeError("Slack is down too")
        delivered.append(text)

    world.notifier.tell_requester = flaky_tell  # type: ignore[method-assign]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Headset crackles"})
    for _ in range(2):
        with pytest.raises(RateLimitedError):  # the run's own error, not the notifier's
            execute_run(world.ctx, run_id, final_attempt=False)
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    send_notice(world.ctx, run_id)
    assert len(delivered) == 1 and "is open" in delivered[0]  # at most once: the lost notice is not re-sent


def test_the_last_attempt_fails_the_run_with_only_the_failure_notice_after_the_delay_notice(
    world: World,
) -> None:
    world.ctx.tickets = _OutageTickets(world.ctx.tickets, lookups_down=10)  # type: ignore[assignment]
    run_id = world.new_run(AutomationKind.HARDWARE_REQUEST, {"hardware_item": "27-inch monitor"})
    with pytest.raises(RemoteUnavailableError):
        execute_run(world.ctx, run_id, final_attempt=False)
    assert execute_run(world.ctx, run_id, final_attempt=True) is AutomationState.FAILED
    send_notice(world.ctx, run_id)
    texts = [notice["text"] for notice in world.notifier.told]
    assert len(texts) == 2 and DELAY_WORDS in texts[0] and "couldn't complete" in texts[1]


def test_an_unanswered_create_that_lands_later_is_adopted_not_sent_again(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    world.ctx.policy = AutomationsSettings(create_settle_s=60)
    now = utcnow()
    world.ctx.clock = lambda: now
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Laptop will not charge"})

    tickets.creates_hang = True
    with pytest.raises(RemoteUnavailableError):  # the client gave up; the create is still in flight
        execute_run(world.ctx, run_id, final_attempt=False)
    tickets.creates_hang = False
    with pytest.raises(UnsettledCreateError) as unsettled:  # not found yet: wait, do not create again
        execute_run(world.ctx, run_id, final_attempt=False)
    assert unsettled.value.retry_after_s == pytest.approx(60)
    tickets.land()
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert tickets.creates_sent == 1 and _tickets(world) == 1
    assert sum(DELAY_WORDS in notice["text"] for notice in world.notifier.told) == 1


def test_an_unanswered_create_that_never_lands_is_sent_again_once_the_settle_time_has_passed(
    world: World,
) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    world.ctx.policy = AutomationsSettings(create_settle_s=60)
    clock = [utcnow()]
    world.ctx.clock = lambda: clock[0]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Mouse double-clicks"})

    tickets.creates_hang = True
    with pytest.raises(RemoteUnavailableError):
        execute_run(world.ctx, run_id, final_attempt=False)
    tickets.held.clear()  # it never reached the ITSM after all
    tickets.creates_hang = False
    clock[0] += timedelta(seconds=30)
    with pytest.raises(UnsettledCreateError) as unsettled:
        execute_run(world.ctx, run_id, final_attempt=False)
    assert unsettled.value.retry_after_s == pytest.approx(30)
    clock[0] += timedelta(seconds=31)
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert tickets.creates_sent == 2 and _tickets(world) == 1
    created_at = datetime.fromisoformat(world.run(run_id).result["create_unanswered_at"])
    assert created_at.tzinfo is not None


def test_a_rate_limited_create_was_not_applied_and_is_sent_again_without_waiting(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Wi-Fi drops in room 4"})
    real_create = tickets.create_ticket
    calls = []

    def rate_limited_once(draft: TicketDraft, *, idempotency_key: str) -> ExternalTicket:
        calls.append(idempotency_key)
        if len(calls) == 1:
            raise connector_error(RateLimitedError, "builtin", "HTTP 429")
        return real_create(draft, idempotency_key=idempotency_key)

    tickets.create_ticket = rate_limited_once  # type: ignore[method-assign]
    with pytest.raises(RateLimitedError):
        execute_run(world.ctx, run_id, final_attempt=False)
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert len(calls) == 2 and "create_unanswered_at" not in world.run(run_id).result


def _comment_run(world: World, tickets: _OutageTickets, text: str) -> tuple[int, str]:
    """A ticket of fiona's in the built-in ITSM, and an ADD_COMMENT run on it (clock fixed, settle 60 s)."""
    email = next(e for e in world.people if e.startswith("fiona"))
    ticket = tickets.inner.create_ticket(  # type: ignore[attr-defined]
        TicketDraft(title="Printer jams", description="Jams on tray 2.", requester_email=email),
        idempotency_key="seed",
    )
    world.ctx.policy = AutomationsSettings(create_settle_s=60)
    run_id = world.new_run(
        AutomationKind.ADD_COMMENT, {"ticket_number": ticket.external_key, "comment": text}
    )
    return run_id, ticket.external_key


def _comments(world: World) -> list[str]:
    with session_scope(world.sessions) as db_session:
        return list(db_session.scalars(select(TicketComment.body).order_by(TicketComment.id)))


def test_an_unanswered_comment_that_lands_later_is_adopted_not_added_again(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    now = utcnow()
    world.ctx.clock = lambda: now
    run_id, _ = _comment_run(world, tickets, "Tray 1 jams too.")

    tickets.comments_hang = True
    with pytest.raises(RemoteUnavailableError):  # the client gave up; the add is still in flight
        execute_run(world.ctx, run_id, final_attempt=False)
    tickets.comments_hang = False
    with pytest.raises(UnsettledCommentError) as unsettled:  # not found yet: wait, do not add again
        execute_run(world.ctx, run_id, final_attempt=False)
    assert unsettled.value.retry_after_s == pytest.approx(60)
    tickets.land()
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED

    assert tickets.comments_sent == 1
    assert _comments(world) == [f"Tray 1 jams too.\n\n(sent from Deskpilot, request AR-{run_id})"]
    assert world.run(run_id).result["comment_id"]
    texts = [notice["text"] for notice in world.notifier.told]
    assert texts == [
        f"The ticket system isn't responding right now, so your request AR-{run_id} is delayed. "
        "I'll keep trying and tell you here when your comment is on the ticket."
    ]


def test_an_unanswered_comment_that_never_lands_is_added_once_after_the_settle_time(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    clock = [utcnow()]
    world.ctx.clock = lambda: clock[0]
    run_id, _ = _comment_run(world, tickets, "Still jamming.")

    tickets.comments_hang = True
    with pytest.raises(RemoteUnavailableError):
        execute_run(world.ctx, run_id, final_attempt=False)
    tickets.held_comments.clear()  # it never reached the ITSM after all
    tickets.comments_hang = False
    clock[0] += timedelta(seconds=30)
    with pytest.raises(UnsettledCommentError) as unsettled:
        execute_run(world.ctx, run_id, final_attempt=False)
    assert unsettled.value.retry_after_s == pytest.approx(30)
    clock[0] += timedelta(seconds=31)
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED  # final: no-op

    assert tickets.comments_sent == 2
    assert _comments(world) == [f"Still jamming.\n\n{comment_marker(f'AR-{run_id}')}"]
    assert datetime.fromisoformat(world.run(run_id).result["comment_unanswered_at"]).tzinfo is not None


def test_a_rate_limited_comment_was_not_applied_and_is_added_again_without_waiting(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    run_id, key = _comment_run(world, tickets, "Any update?")
    real_add, calls = tickets.add_comment, list[str]()

    def rate_limited_once(external_key: str, body: str, *, public: bool = True) -> ExternalComment:
        calls.append(external_key)
        if len(calls) == 1:
            raise connector_error(RateLimitedError, "builtin", "HTTP 429")
        return real_add(external_key, body, public=public)

    tickets.add_comment = rate_limited_once  # type: ignore[method-assign]
    with pytest.raises(RateLimitedError):
        execute_run(world.ctx, run_id, final_attempt=False)
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert calls == [key, key] and "comment_unanswered_at" not in world.run(run_id).result
    assert len(_comments(world)) == 1


def test_a_comment_already_on_the_ticket_is_adopted_after_a_crash(world: World) -> None:
    tickets = _OutageTickets(world.ctx.tickets)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    run_id, key = _comment_run(world, tickets, "Please call me.")
    landed = tickets.inner.add_comment(key, f"Please call me.\n\n{comment_marker(f'AR-{run_id}')}")  # type: ignore[attr-defined]

    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert tickets.comments_sent == 0 and len(_comments(world)) == 1
    assert world.run(run_id).result["comment_id"] == landed.external_id


def test_retry_delay_follows_the_configured_base_and_cap() -> None:
    assert all(0 <= retry_delay_s(0, None, base_s=0.25, max_s=1.0) <= 0.25 for _ in range(50))
    assert all(retry_delay_s(5, None, base_s=0.25, max_s=1.0) <= 1.0 for _ in range(50))
    assert retry_delay_s(5, 3.0, base_s=0.25, max_s=1.0) == 3.0
    defaults = AutomationsSettings()
    assert (defaults.max_retries, defaults.retry_base_s, defaults.retry_max_s) == (12, 2.0, 300.0)
    assert defaults.create_settle_s == 120.0


@pytest.fixture
def eager_world(tmp_path: Path) -> Iterator[World]:
    world = build_world(tmp_path)
    create_celery_app(make_settings(tmp_path))  # no broker configured: eager
    configure_automation_context(world.ctx)
    yield world
    configure_automation_context(None)


def test_the_task_retries_as_many_times_as_the_policy_allows(eager_world: World) -> None:
    world = eager_world
    world.ctx.tickets = _OutageTickets(world.ctx.tickets, lookups_down=5)  # type: ignore[assignment]
    world.ctx.policy = AutomationsSettings(max_retries=2, retry_base_s=0.01, retry_max_s=0.01)
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Projector flickers"})
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    run = world.run(run_id)
    assert run.state is AutomationState.FAILED and run.attempts == 3
    texts = [notice["text"] for notice in world.notifier.told]
    assert len(texts) == 2 and DELAY_WORDS in texts[0] and "couldn't complete" in texts[1]


def test_an_admin_retry_of_a_failed_run_may_tell_of_a_new_delay_once_more(eager_world: World) -> None:
    from services.automations.admin import automation_retry_flow

    world = eager_world
    tickets = _OutageTickets(world.ctx.tickets, lookups_down=2)
    world.ctx.tickets = tickets  # type: ignore[assignment]
    world.ctx.policy = AutomationsSettings(max_retries=1, retry_base_s=0.01, retry_max_s=0.01)
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Badge reader rejects me"})
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    assert world.run(run_id).state is AutomationState.FAILED
    tickets.lookups_down = 1  # still down for one more call when IT retries it
    automation_retry_flow(world.sessions, run_id, actor_id=world.employee("fiona"))
    assert world.run(run_id).state is AutomationState.SUCCEEDED
    texts = [notice["text"] for notice in world.notifier.told]
    assert [DELAY_WORDS in text for text in texts] == [True, False, True, False], texts
    assert "couldn't complete" in texts[1] and "is open" in texts[3]
