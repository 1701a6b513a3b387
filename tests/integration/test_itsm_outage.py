"""An ITSM outage at system level: ticket runs on real ``deskpilot worker`` processes while the ServiceNow
emulator answers 503, then 429 with ``Retry-After``, then hangs past the client's timeout (first every
call, then only creates, which the emulator completes after the client gave up), then recovers.

Acceptance: every run ends SUCCEEDED with exactly one incident (one ``correlation_id``) and one Ticket
row, each run sends exactly one create (a create that timed out is adopted by its key once it lands,
never sent again), each requester is told once during the outage that the ticket system is not
responding and once of the result, and retries never come sooner than ``Retry-After``.

Same stack as ``test_automations_workers.py`` (a fresh PostgreSQL database, real workers), on a
``redis-server`` of its own (a shared Redis database would mix its queue with a concurrent run of that
module); the worker settings make the outage short: a 0.5 s ITSM timeout, one try per call in the
HTTP client, task retries after at most 1.5 s, and 6 s to wait for an unanswered create. Production
defaults are unchanged (10 s, 4 tries, 2 s doubling to 300 s, 120 s).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.audit.models import AuditEntry
from services.automations.models import AutomationRun
from services.common.db import session_scope
from services.conversations.models import Message, MessageRole
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName
from tests.emulators.harness import Behavior
from tests.integration.test_automations_workers import (
    INCIDENT_PATH,
    Stack,
    own_redis_server,
    wait_until,
    worker_stack,
)

RUNS = 60
CLIENT_TIMEOUT_S = 0.5
HANG_S = 4.0
"""How long the emulator holds a call in the hang phases: past the client's timeout."""
RETRY_AFTER_S = 1
HUNG_CREATES = 30
"""Creates the emulator holds (and completes after the client gave up) before it recovers."""
MAX_RETRIES = 20
OUTAGE_ENV = {
    "DESKPILOT_TICKETING__TIMEOUT_S": str(CLIENT_TIMEOUT_S),
    "DESKPILOT_TICKETING__MAX_ATTEMPTS": "1",
    "DESKPILOT_AUTOMATIONS__MAX_RETRIES": str(MAX_RETRIES),
    "DESKPILOT_AUTOMATIONS__RETRY_BASE_S": "0.5",
    "DESKPILOT_AUTOMATIONS__RETRY_MAX_S": "1.5",
    "DESKPILOT_AUTOMATIONS__CREATE_SETTLE_S": "6",
}
DELAY_WORDS = "isn't responding right now"
FOREVER = 1_000_000


def set_fault(stack: Stack, **behavior: Any) -> float:
    """Replace the emulator's faults at once (none: recovered); returns the time of the switch."""
    with stack.emulator.state.lock:
        stack.emulator.state.behaviors[:] = [Behavior(**behavior)] if behavior else []
        return time.time()


def incident_calls(
    stack: Stack, method: str, since: float, until: float = float("inf")
) -> list[dict[str, Any]]:
    """Incident calls of ``method`` received in [since, until)."""
    with stack.emulator.state.lock:
        return [
            call
            for call in stack.emulator.state.calls
            if call["method"] == method
            and call["path"] == INCIDENT_PATH
            and since <= call["received_at"] < until
        ]


def lookup_key(call: dict[str, Any]) -> str:
    """The correlation id a lookup asked for (``correlation_id=<key>^ORDERBY...``)."""
    query = str(call["query"].get("sysparm_query", ""))
    return query.removeprefix("correlation_id=").split("^", 1)[0]


def delay_notified(stack: Stack) -> int:
    """Runs whose requester was told of the delay."""
    with session_scope(stack.sessions) as db_session:
        return len(
            db_session.scalars(
                select(AutomationRun.id).where(AutomationRun.delay_notified_at.is_not(None))
            ).all()
        )


def notices_by_run(stack: Stack, run_ids: list[int]) -> dict[int, list[tuple[float, str]]]:
    """Each run's notices (time, text), oldest first: every run has its own conversation."""
    with session_scope(stack.sessions) as db_session:
        runs = db_session.execute(
            select(AutomationRun.conversation_id, AutomationRun.id).where(AutomationRun.id.in_(run_ids))
        ).all()
        by_conversation: dict[int, int] = {c: r for c, r in runs if c is not None}
        messages = db_session.execute(
            select(Message.conversation_id, Message.created_at, Message.text)
            .where(Message.role == MessageRole.ASSISTANT, Message.conversation_id.in_(by_conversation))
            .order_by(Message.id)
        ).all()
    notices: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for conversation_id, created_at, text in messages:
        notices[by_conversation[conversation_id]].append((created_at.timestamp(), text))
    return notices


def failed_attempts(stack: Stack, run_ids: list[int]) -> Counter[str]:
    """Failed attempts of the runs by error (the audit trail's ``automation.attempt_failed``)."""
    with session_scope(stack.sessions) as db_session:
        details = db_session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "automation.attempt_failed",
                AuditEntry.target_type == "automation_run",
                AuditEntry.target_id.in_([str(run_id) for run_id in run_ids]),
            )
        ).all()
    return Counter(str((d or {}).get("error")) for d in details)


def min_gap_after_429(stack: Stack, since: float, until: float) -> float:
    """The shortest wait between a lookup answered 429 (well inside the 429 phase) and the next lookup
    of the same key."""
    lookups = sorted(incident_calls(stack, "GET", 0), key=lambda call: call["received_at"])
    by_key: dict[str, list[float]] = defaultdict(list)
    for call in lookups:
        by_key[lookup_key(call)].append(call["received_at"])
    gaps = [
        later - earlier
        for times in by_key.values()
        for earlier, later in zip(times, times[1:], strict=False)
        if since + 0.1 <= earlier < until - 0.1
    ]
    assert gaps, "no lookup was answered 429"
    return min(gaps)


def test_itsm_outage_every_run_completes_once_and_each_requester_is_told_of_the_delay_once(
    tmp_path: Path,
) -> None:
    with (
        own_redis_server(tmp_path) as redis_server,
        worker_stack(tmp_path, redis_server.url, extra_env=OUTAGE_ENV, concurrency=4) as stack,
    ):
        started = set_fault(stack, status=503, times=FOREVER, path_prefix=INCIDENT_PATH)
        run_ids = stack.insert_runs(RUNS, "outage")
        for run_id in run_ids:
            enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
        stack.worker.start()

        # 503 until every run has hit it (and been told) and for at least 2.5 s of calls.
        wait_until(lambda: delay_notified(stack) == RUNS, 45, "every requester told of the delay", stack)
        first_call = min(call["received_at"] for call in incident_calls(stack, "GET", started))
        time.sleep(max(0.0, first_call + 2.5 - time.time()))
        rate_limited = set_fault(
            stack, status=429, retry_after=str(RETRY_AFTER_S), times=FOREVER, path_prefix=INCIDENT_PATH
        )
        time.sleep(3)
        hanging = set_fault(stack, delay_s=HANG_S, times=FOREVER, path_prefix=INCIDENT_PATH)
        time.sleep(2)
        finished_before_creates = stack.finished()
        creates_hang = set_fault(
            stack, delay_s=HANG_S, times=HUNG_CREATES, method="POST", path_prefix=INCIDENT_PATH
        )
        wait_until(
            lambda: len(incident_calls(stack, "POST", creates_hang)) >= HUNG_CREATES,
            30,
            f"{HUNG_CREATES} creates held by the ITSM",
            stack,
        )
        time.sleep(HANG_S)  # the last held create lands
        recovered = set_fault(stack)

        wait_until(lambda: stack.told() == RUNS, 60, "every run to be final and told", stack)
        figures = stack.check_exactly_once(run_ids)
        figures.pop("told_more_than_once")  # two notices per conversation here: counted below

        notices = notices_by_run(stack, run_ids)
        delay = {run_id: [n for n in notices[run_id] if DELAY_WORDS in n[1]] for run_id in run_ids}
        final = {run_id: [n for n in notices[run_id] if DELAY_WORDS not in n[1]] for run_id in run_ids}
        hung_keys = {
            str(call["json"]["correlation_id"])
            for call in incident_calls(stack, "POST", creates_hang)[:HUNG_CREATES]
        }
        incident_keys = {str(incident["correlation_id"]) for incident in stack.incidents()}
        errors = failed_attempts(stack, run_ids)
        with session_scope(stack.sessions) as db_session:
            attempts = db_session.scalars(
                select(AutomationRun.attempts).where(AutomationRun.id.in_(run_ids))
            ).all()
        stack.figures.update(
            {
                "test": "itsm_outage",
                **figures,
                "told_of_delay": sum(1 for n in delay.values() if len(n) == 1),
                "told_of_delay_more_than_once": sum(1 for n in delay.values() if len(n) > 1),
                "told_of_result_more_than_once": sum(1 for n in final.values() if len(n) > 1),
                "retries": sum(attempts) - RUNS,
                "failed_attempts_by_error": dict(errors),
                "creates_sent": len(incident_calls(stack, "POST", started)),
                "creates_held_past_timeout": len(hung_keys),
                "held_creates_adopted": len(hung_keys & incident_keys),
                "finished_before_creates_could_pass": finished_before_creates,
                "outage_s": round(recovered - started, 1),
                "phases_s": {
                    "503": round(rate_limited - started, 1),
                    "429": round(hanging - rate_limited, 1),
                    "hang_all": round(creates_hang - hanging, 1),
                    "hang_creates": round(recovered - creates_hang, 1),
                },
                "min_wait_after_429_s": round(min_gap_after_429(stack, rate_limited, hanging), 2),
                "elapsed_s": round(time.time() - started, 1),
            }
        )
        result = stack.figures
        assert result["completed"] == RUNS and result["duplicated"] == 0 and result["lost"] == 0, result
        assert result["notified"] == RUNS and result["told_of_result_more_than_once"] == 0, result
        assert result["told_of_delay"] == RUNS and result["told_of_delay_more_than_once"] == 0, result
        for run_id in run_ids:  # the delay notice came during the outage, before the result
            (told_delay, _), (told_result, _) = delay[run_id][0], final[run_id][0]
            assert started <= told_delay <= recovered and told_delay < told_result, (run_id, notices[run_id])
        assert finished_before_creates == 0, result  # nothing completes while every lookup fails
        assert result["creates_sent"] == RUNS, result  # a create that timed out was never sent again
        assert result["held_creates_adopted"] == len(hung_keys) == HUNG_CREATES, result
        assert errors["RemoteUnavailableError"] > 0 and errors["RateLimitedError"] > 0, result
        assert errors["UnsettledCreateError"] > 0, result  # looked up before a held create landed: waited
        assert result["retries"] >= RUNS and max(attempts) <= MAX_RETRIES, result
        assert result["min_wait_after_429_s"] >= RETRY_AFTER_S - 0.05, result
        assert result["elapsed_s"] < 90, result
