"""The automation state machine on the built-in ITSM and directory (and Okta for password resets)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from connectors.errors import RemoteUnavailableError
from connectors.models import ExternalTicket, TicketDraft
from connectors.okta.identity import OktaIdentityProvider
from services.automations.approvals import decide, sweep_approvals
from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.automations.runner import execute_run, send_notice
from services.common.db import session_scope, utcnow
from services.conversations.models import Message
from services.directory.models import Employee
from services.tickets.models import Ticket, TicketStatus
from tests.emulators.harness import serve_emulator
from tests.emulators.okta import OktaUserSeed
from tests.emulators.okta import build_app as build_okta
from tests.unit.automations.harness import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def _tickets(world: World) -> list[Ticket]:
    with session_scope(world.sessions) as db_session:
        rows = list(db_session.scalars(select(Ticket)))
        db_session.expunge_all()
        return rows


def test_create_ticket_runs_once_even_when_executed_again(world: World) -> None:
    run_id = world.new_run(
        AutomationKind.CREATE_TICKET, {"description": "Printer on 3rd floor jams", "urgency": "high"}
    )
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED  # a redelivery
    tickets = _tickets(world)
    assert len(tickets) == 1 and tickets[0].title.startswith("Printer on 3rd floor jams")
    run = world.run(run_id)
    assert run.ticket_id == tickets[0].id and run.attempts == 1 and run.finished_at is not None
    assert send_notice(world.ctx, run_id) and not send_notice(world.ctx, run_id)  # told once
    assert len(world.notifier.told) == 1 and tickets[0].external_key in world.notifier.told[0]["text"]


def test_a_run_interrupted_after_the_ticket_was_created_finds_it_instead_of_creating_another(
    world: World,
) -> None:
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "VPN drops"})
    key = world.run(run_id).idempotency_key
    employee = world.employee("fiona")
    with session_scope(world.sessions) as db_session:
        email = db_session.get(Employee, employee).email  # type: ignore[union-attr]
    # The effect happened, then the worker died before phase 3.
    world.ctx.tickets.create_ticket(
        TicketDraft(title="VPN drops", requester_email=email), idempotency_key=key
    )
    with session_scope(world.sessions) as db_session:
        run = db_session.get_one(AutomationRun, run_id)
        run.state, run.claimed_by = AutomationState.RUNNING, "inline"  # redelivered after the crash
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert len(_tickets(world)) == 1


class _FlakyTickets:
    """A TicketSystem that is down for ``failures`` calls, then delegates."""

    def __init__(self, inner: object, failures: int) -> None:
        self.inner, self.failures = inner, failures
        self.system = "builtin"

    def find_by_idempotency_key(self, key: str) -> ExternalTicket | None:
        if self.failures > 0:
            self.failures -= 1
            raise RemoteUnavailableError("builtin: HTTP 503", retry_after_s=1)
        return self.inner.find_by_idempotency_key(key)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_retryable_failures_propagate_until_the_last_attempt_then_the_run_fails_and_says_so(
    world: World,
) -> None:
    world.ctx.tickets = _FlakyTickets(world.ctx.tickets, failures=2)  # type: ignore[assignment]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Laptop fan noise"})
    with pytest.raises(RemoteUnavailableError):
        execute_run(world.ctx, run_id, final_attempt=False)
    assert world.run(run_id).state is AutomationState.RUNNING and "503" in (
        world.run(run_id).last_error or ""
    )
    assert execute_run(world.ctx, run_id, final_attempt=True) is AutomationState.FAILED
    send_notice(world.ctx, run_id)
    assert "couldn't complete" in world.notifier.told[-1]["text"] and not _tickets(world)


def test_access_request_waits_for_the_manager_then_grants_the_group_and_resolves_a_ticket(
    world: World,
) -> None:
    run_id = world.new_run(AutomationKind.SOFTWARE_ACCESS, {"software": "acrobat pro"})
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.AWAITING_APPROVAL
    maria = world.employee("maria")
    assert world.notifier.asked == [
        {"approver_id": maria, "text": world.notifier.asked[0]["text"], "run_id": run_id}
    ]
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.AWAITING_APPROVAL  # no-op
    assert len(world.notifier.asked) == 1

    refused = decide(world.ctx, run_id=run_id, approver_id=world.employee("sam"), approve=True)
    assert not refused.changed and world.run(run_id).state is AutomationState.AWAITING_APPROVAL
    approved = decide(world.ctx, run_id=run_id, approver_id=maria, approve=True)
    assert approved.changed and approved.state is AutomationState.APPROVED
    assert not decide(world.ctx, run_id=run_id, approver_id=maria, approve=False).changed  # second press

    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    with session_scope(world.sessions) as db_session:
        fiona = db_session.get(Employee, world.employee("fiona"))
        assert fiona is not None and "app-adobe-acrobat" in fiona.group_names
    tickets = _tickets(world)
    assert len(tickets) == 1 and tickets[0].status is TicketStatus.RESOLVED
    assert world.run(run_id).approver_id == maria


def test_denied_and_expired_requests_end_and_the_requester_is_told(world: World) -> None:
    denied = world.new_run(AutomationKind.SOFTWARE_ACCESS, {"software": "acrobat"}, key="d")
    execute_run(world.ctx, denied, final_attempt=False)
    decide(world.ctx, run_id=denied, approver_id=world.employee("maria"), approve=False)
    assert world.run(denied).state is AutomationState.DENIED
    assert "declined" in world.notifier.told[-1]["text"]

    expiring = world.new_run(AutomationKind.SOFTWARE_ACCESS, {"software": "acrobat"}, key="e")
    execute_run(world.ctx, expiring, final_attempt=False)
    later = utcnow() + timedelta(days=1, hours=1)
    assert sweep_approvals(world.ctx, clock=lambda: later) == {"expired": 0, "reminded": 1}
    assert sweep_approvals(world.ctx, clock=lambda: later) == {"expired": 0, "reminded": 0}  # once
    assert sweep_approvals(world.ctx, clock=lambda: utcnow() + timedelta(days=4)) == {
        "expired": 1,
        "reminded": 0,
    }
    assert world.run(expiring).state is AutomationState.EXPIRED
    assert "expired" in world.notifier.told[-1]["text"]
    late = decide(world.ctx, run_id=expiring, approver_id=world.employee("maria"), approve=True)
    assert not late.changed


def test_built_in_directory_cannot_reset_passwords_so_it_a_ticket_goes_to_it(world: World) -> None:
    run_id = world.new_run(AutomationKind.PASSWORD_RESET, {})
    assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
    assert world.run(run_id).result.get("fallback") and len(_tickets(world)) == 1


def test_okta_password_reset_link_goes_only_to_a_direct_message_and_is_never_stored(tmp_path: Path) -> None:
    fiona = "fiona.finance@northwind.example"
    okta_app, state = build_okta(
        [OktaUserSeed("00u1fionaXYZ1234567", fiona, fiona, "Fiona", "Chen")], [], api_token="okta-token"
    )
    with serve_emulator(okta_app, state) as okta:
        identity = OktaIdentityProvider(okta.base_url, "okta-token", timeout_s=2)
        world = build_world(tmp_path, identity=identity)
        run_id = world.new_run(AutomationKind.PASSWORD_RESET, {})
        assert execute_run(world.ctx, run_id, final_attempt=False) is AutomationState.SUCCEEDED
        private = [t for t in world.notifier.told if t["private"]]
        assert len(private) == 1 and "/reset_password/" in private[0]["text"]
        link = private[0]["text"].rsplit(" ", 1)[-1]
        send_notice(world.ctx, run_id)
        with session_scope(world.sessions) as db_session:
            stored = " ".join(m.text for m in db_session.scalars(select(Message)))
            stored += str(db_session.get_one(AutomationRun, run_id).result)
        assert link not in stored

        # A worker killed after the reset call: the run is found started and is not reset again.
        again = world.new_run(AutomationKind.PASSWORD_RESET, {}, key="k2")
        with session_scope(world.sessions) as db_session:
            run = db_session.get_one(AutomationRun, again)
            run.state, run.result = AutomationState.RUNNING, {"reset_started": True}
            run.claimed_by = "inline"  # the same task, redelivered after its worker died
        resets_before = _okta_resets(okta.base_url)
        assert execute_run(world.ctx, again, final_attempt=False) is AutomationState.FAILED
        assert _okta_resets(okta.base_url) == resets_before == 1
        assert world.run(again).result.get("interrupted") is True


def test_messages_recorded_for_notices_are_counted_once(world: World) -> None:
    run_id = world.new_run(AutomationKind.HARDWARE_REQUEST, {"hardware_item": "27-inch monitor"})
    execute_run(world.ctx, run_id, final_attempt=False)
    assert send_notice(world.ctx, run_id)
    with session_scope(world.sessions) as db_session:
        assert db_session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert "monitor" in world.notifier.told[-1]["text"]


def _okta_resets(base_url: str) -> int:
    return int(httpx.get(f"{base_url}/_state", timeout=5).json()["counters"]["password_resets"])


def test_every_step_of_an_approved_request_is_in_the_audit_log_without_secrets(world: World) -> None:
    from services.audit.models import AuditEntry

    run_id = world.new_run(AutomationKind.SOFTWARE_ACCESS, {"software": "acrobat"}, key="audit")
    execute_run(world.ctx, run_id, final_attempt=False)
    decide(world.ctx, run_id=run_id, approver_id=world.employee("maria"), approve=True)
    execute_run(world.ctx, run_id, final_attempt=False)
    with session_scope(world.sessions) as db_session:
        trail = db_session.scalars(
            select(AuditEntry).where(AuditEntry.target_id == str(run_id)).order_by(AuditEntry.id)
        ).all()
        actions = [e.action for e in trail]
        approver = next(e for e in trail if e.action == "automation.approved").actor_id
    assert actions == [
        "automation.started",
        "automation.awaiting_approval",
        "automation.approved",
        "automation.started",
        "automation.succeeded",
    ]
    assert approver == world.employee("maria")


def test_a_second_delivery_cannot_run_a_run_another_delivery_holds_until_its_lease_lapses(
    world: World,
) -> None:
    from services.automations.runner import CLAIM_LEASE

    run_id = world.new_run(
        AutomationKind.CREATE_TICKET, {"description": "Shared mailbox missing"}, key="race"
    )
    with session_scope(world.sessions) as db_session:
        run = db_session.get_one(AutomationRun, run_id)
        run.state, run.claimed_by = AutomationState.RUNNING, "task-a"  # task-a is working on it
    assert execute_run(world.ctx, run_id, final_attempt=False, claim="task-b") is AutomationState.RUNNING
    assert _tickets(world) == [] and world.run(run_id).attempts == 0
    later = utcnow() + CLAIM_LEASE + timedelta(seconds=1)  # task-a died long ago
    world.ctx.clock = lambda: later
    assert execute_run(world.ctx, run_id, final_attempt=False, claim="task-b") is AutomationState.SUCCEEDED
    assert len(_tickets(world)) == 1 and world.run(run_id).claimed_by == "task-b"


def test_concurrent_deliveries_of_one_run_create_one_ticket(world: World) -> None:
    import threading

    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Teams status stuck"}, key="many")
    barrier = threading.Barrier(6)

    def deliver(n: int) -> None:
        barrier.wait()
        execute_run(world.ctx, run_id, final_attempt=False, claim=f"task-{n}")

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_tickets(world)) == 1 and world.run(run_id).attempts == 1
