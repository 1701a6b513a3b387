"""PostgreSQL restarts under load: automation runs on a real worker, and Slack questions to the bot.

The database is a PostgreSQL server of the test's own (:mod:`tests.integration.postgres_server`), so it
can be stopped and started again without disturbing the shared test server; Redis is a ``redis-server``
the test starts too (as in the Redis-restart test).

Workers: automation runs on a real ``deskpilot worker``; mid-run PostgreSQL is killed (``pg_ctl stop -m
immediate``: as a crash) and started again a few seconds later. The worker process is not restarted: it
must reconnect by itself. A task that loses its database connection retries with backoff, so every run
finishes once PostgreSQL is back without waiting for the stalled-run sweep; the sweep, sent afterwards as
beat sends it (see test_automations_workers.py), finds nothing left to send. Acceptance: every run
SUCCEEDED with exactly one incident and one Ticket row, every requester told once.

Bot: signed Slack events to the web app's ``/slack/events`` before, during and after outages. A short
outage is waited out (the bot retries while the connection is lost) and the question answered normally;
one that outlasts the retry window (shortened here from 30 s to a few seconds) ends in one reply saying
the helpdesk is having trouble. ``/readyz`` is 503 (database down) during an outage and 200 after.
Acceptance: every question gets exactly one reply; none lost, none answered twice.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from services.automations.models import AutomationRun
from services.bot.app import APOLOGY, DATABASE_TROUBLE, BotDeps, build_bolt_app
from services.bot.dedupe import MemoryDeduper
from services.common.config import SlackSettings
from services.common.db import DatabaseRetry, session_scope
from services.conversations.models import Message, MessageRole
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator
from tests.integration.postgres_server import PostgresServer, StopMode, own_postgres_server
from tests.integration.test_automations_workers import (
    INCIDENT_PATH,
    ITSM_DELAY_S,
    Stack,
    own_redis_server,
    wait_until,
    worker_stack_on,
)
from tests.unit.conversations.harness import build_world

OUTAGE_S = 4.0
"""How long PostgreSQL stays down in the short outages (well within the bot's 30 s retry window)."""


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """The module's private PostgreSQL (each test makes its own database on it)."""
    with own_postgres_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _postgres_running(postgres_server: PostgresServer) -> Iterator[None]:
    """Every test starts, and leaves the server, running (even when it failed mid-outage)."""
    if not postgres_server.answers():
        postgres_server.start()
    yield
    if not postgres_server.answers():
        postgres_server.start()


# ---- workers ----------------------------------------------------------------------------------------


def _failed_tasks(log_path: Path) -> Counter[str]:
    """Task attempts the worker log reports as failed (retries included), by task name."""
    failed: Counter[str] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == "task finished":
            if record.get("outcome") == "failed":
                failed[str(record.get("task"))] += 1
    return failed


def _claimed_twice(stack: Stack) -> int:
    """Runs claimed more than once: in flight when the database died, finished by a later delivery."""
    with session_scope(stack.sessions) as db_session:
        return len(db_session.scalars(select(AutomationRun.id).where(AutomationRun.attempts > 1)).all())


def test_postgres_killed_mid_run_worker_reconnects_and_every_run_succeeds_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    count = 60
    database_url = postgres_server.create_database()
    with (
        own_redis_server(tmp_path) as redis_server,
        worker_stack_on(
            tmp_path, database_url, redis_server.url, extra_env={"DESKPILOT_LOG_JSON": "true"}
        ) as stack,
    ):
        stack.emulator.inject(delay_s=ITSM_DELAY_S, times=1_000_000, path_prefix=INCIDENT_PATH)
        run_ids = stack.insert_runs(count, "pg")
        started = time.monotonic()
        for run_id in run_ids:
            enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
        stack.worker.start()
        wait_until(lambda: stack.finished() >= count // 4, 60, f"{count // 4} final runs", stack)

        postgres_server.stop("immediate")  # as a crash: every backend killed, no checkpoint
        stopped_at = time.monotonic()
        assert not postgres_server.answers()
        while time.monotonic() - stopped_at < OUTAGE_S:
            assert stack.worker.process is not None and stack.worker.process.poll() is None, (
                f"the worker died while PostgreSQL was down\n{stack.worker.log_tail()}"
            )
            time.sleep(0.2)
        postgres_server.start()  # crash recovery, then the same data on the same port
        outage_s = time.monotonic() - stopped_at
        failed_during_outage = _failed_tasks(stack.worker.log_path)

        # Tasks that lost their connection retry by themselves: no sweep needed, and it finds nothing.
        wait_until(lambda: stack.told() == count, 90, "every run told after the restart", stack)
        told_s = time.monotonic() - stopped_at
        resent = stack.send_sweep_once_idle(timeout_s=30)
        stack.figures.update(
            {
                "test": "postgres_restart_workers",
                "outage_s": round(outage_s, 1),
                "task_attempts_failed_during_outage": dict(failed_during_outage),
                "all_told_s_after_crash": round(told_s, 1),
                "runs_claimed_twice": _claimed_twice(stack),
                "resent_by_sweep": resent,
                "elapsed_s": round(time.monotonic() - started, 1),
            }
        )
        stack.figures.update(stack.check_exactly_once(run_ids))
        assert stack.figures["sent"] == stack.figures["completed"] == count, stack.figures
        assert stack.figures["duplicated"] == stack.figures["lost"] == 0, stack.figures
        assert stack.figures["told_more_than_once"] == 0, stack.figures
        # The outage really hit runs in flight, and their own retries finished them.
        assert sum(failed_during_outage.values()) > 0, stack.figures
        assert resent == 0, stack.figures
        # The worker rode out the outage and reconnected by itself (never restarted).
        assert stack.worker.starts == 1 and stack.worker.process is not None
        assert stack.worker.process.poll() is None


# ---- bot --------------------------------------------------------------------------------------------

SECRET = "postgres-restart-signing-secret"
TOKEN = "xoxb-postgres-restart"
TEAM = "T0DESKPILOT"
EMPLOYEES = 30
TROUBLE_PREFIX = DATABASE_TROUBLE.split("{")[0]
APOLOGY_PREFIX = APOLOGY.split("{")[0]


class _RetryLog(logging.Handler):
    """Collects the threads whose reply waited for the database ("database unreachable, retrying")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.threads: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        what = str(getattr(record, "what", ""))
        if record.getMessage() == "database unreachable, retrying" and what.startswith("slack reply "):
            self.threads.add(what.rsplit(":", 1)[-1])


class SlackBot:
    """The web app with the bolt app mounted, the Slack emulator, and the questions sent so far."""

    def __init__(self, web: TestClient, slack: RunningEmulator, deps: BotDeps) -> None:
        self.web = web
        self.slack = slack
        self.deps = deps
        self.sent: dict[str, dict[str, str]] = {}
        """thread ts -> the question's channel, user, event id and phase."""

    def ask(self, phase: str) -> None:
        """A new employee's DM question, signed as Slack signs it; the ack must be 200 at once."""
        n = len(self.sent) + 1
        user, channel, event_id = f"U0EMP{n:05d}", f"D0EMP{n:05d}", f"Ev0PGRESTART{n:04d}"
        ts = f"1700001000.{n:06d}"
        body = json.dumps(
            {
                "token": "unused",
                "team_id": TEAM,
                "api_app_id": "A0DESKPILOT",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel": channel,
                    "channel_type": "im",
                    "user": user,
                    "text": f"my vpn keeps dropping ({phase} #{n})",
                    "ts": ts,
                    "event_ts": ts,
                },
            }
        )
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
        started = time.perf_counter()
        response = self.web.post(
            "/slack/events",
            content=body,
            headers={
                "content-type": "application/json",
                "x-slack-request-timestamp": timestamp,
                "x-slack-signature": signature or "",
            },
        )
        assert response.status_code == 200 and time.perf_counter() - started < 3, response.text
        self.sent[ts] = {"channel": channel, "user": user, "event_id": event_id, "phase": phase}

    def replies(self) -> dict[str, list[dict[str, Any]]]:
        """The bot's posts in each question's thread."""
        state = httpx.get(f"{self.slack.base_url}/_state", timeout=10).json()
        return {
            ts: [
                m
                for m in state["messages"].get(question["channel"], [])
                if m.get("bot_id") and m.get("thread_ts") == ts
            ]
            for ts, question in self.sent.items()
        }

    def wait_replied(self, phase: str, timeout_s: float) -> dict[str, list[dict[str, Any]]]:
        """Wait until every question of ``phase`` has a reply (and a moment longer, for duplicates)."""
        asked = {ts for ts, q in self.sent.items() if q["phase"] == phase}
        deadline = time.monotonic() + timeout_s
        while True:
            replies = self.replies()
            if all(replies[ts] for ts in asked):
                time.sleep(0.3)
                return self.replies()
            if time.monotonic() > deadline:
                missing = sorted(ts for ts in asked if not replies[ts])
                pytest.fail(f"no reply after {timeout_s:g} s to {phase} questions {missing}")
            time.sleep(0.1)

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """``/readyz``: status code and the database check."""
        response = self.web.get("/readyz")
        return response.status_code, response.json()["checks"]["database"]


def _kind(reply: dict[str, Any]) -> str:
    text = str(reply.get("text", ""))
    if text.startswith(TROUBLE_PREFIX):
        return "trouble"
    if text.startswith(APOLOGY_PREFIX):
        return "apology"
    return "answer" if "VPN keeps dropping" in json.dumps(reply) else "other"


@contextmanager
def slack_bot(tmp_path: Path, database_url: str, retry_log: _RetryLog) -> Iterator[SlackBot]:
    """The product's web app (``/readyz`` on the database) serving a bolt app over the conversation test
    world (VPN article, trained classifier), every table on ``database_url``."""
    from services.admin.app import create_app
    from services.automations.context import configure_automation_context

    users = {
        f"U0EMP{n:05d}": {
            "name": f"emp{n}",
            "real_name": f"Employee {n}",
            "profile": {"email": f"emp{n}@example.com"},
        }
        for n in range(1, EMPLOYEES + 1)
    }
    emulator_app, emulator_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM, users=users)
    db_logger = logging.getLogger("services.common.db")
    previous_level = db_logger.level
    db_logger.addHandler(retry_log)
    db_logger.setLevel(logging.INFO)
    with serve_emulator(emulator_app, emulator_state) as slack:
        slack_settings = {
            "bot_token": TOKEN,
            "signing_secret": SECRET,
            "api_base_url": f"{slack.base_url}/api/",
            "listener_threads": 4,
        }
        world = build_world(tmp_path, database={"url": database_url}, slack=slack_settings)
        deps = BotDeps(
            orchestrator=world.orchestrator(),
            session_factory=world.sessions,
            deduper=MemoryDeduper(),
            public_url="https://deskpilot.example",
        )
        bolt = build_bolt_app(world.settings, deps)
        # The web app's own Slack wiring stays off (it would load the MiniLM model): ours is mounted.
        web_app = create_app(world.settings.model_copy(update={"slack": SlackSettings()}))
        try:
            with TestClient(web_app) as web:
                web_app.state.slack_handler = SlackRequestHandler(bolt)
                web_app.state.slack_verifier = SignatureVerifier(SECRET)
                yield SlackBot(web, slack, deps)
        finally:
            configure_automation_context(None)  # the web app's lifespan set it for this process
            world.engine.dispose()
            db_logger.removeHandler(retry_log)
            db_logger.setLevel(previous_level)


def test_questions_across_postgres_restarts_each_get_exactly_one_reply(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    database_url = postgres_server.create_database()
    retry_log = _RetryLog()
    figures: dict[str, Any] = {"test": "postgres_restart_bot"}
    outages: list[float] = []
    started = time.monotonic()

    def outage(mode: StopMode, during: Callable[[], None]) -> None:
        postgres_server.stop(mode)
        stopped_at = time.monotonic()
        during()
        postgres_server.start()
        outages.append(round(time.monotonic() - stopped_at, 1))

    try:
        with slack_bot(tmp_path, database_url, retry_log) as bot:
            assert bot.readyz()[0] == 200
            for _ in range(6):
                bot.ask("before")
            bot.wait_replied("before", 30)

            # A short crash (immediate stop): questions wait for the database and are answered normally.
            def short_outage() -> None:
                code, database = bot.readyz()
                assert code == 503 and database["ok"] is False, database
                figures["readyz_during_outage"] = database["detail"][:120]
                for _ in range(8):
                    bot.ask("short_outage")
                    time.sleep(OUTAGE_S / 8)

            outage("immediate", short_outage)
            assert bot.readyz()[0] == 200  # the dead pooled connections were replaced
            bot.wait_replied("short_outage", 60)

            # An outage longer than the retry window (shortened to 3 s here): told to try again later.
            bot.deps.database_retry = DatabaseRetry(window_s=3.0)

            def long_outage() -> None:
                assert bot.readyz()[0] == 503
                for _ in range(4):
                    bot.ask("long_outage")
                bot.wait_replied("long_outage", 30)

            outage("fast", long_outage)
            bot.deps.database_retry = DatabaseRetry()
            assert bot.readyz()[0] == 200

            for _ in range(6):
                bot.ask("after")
            bot.wait_replied("after", 30)
            replies, sent = bot.replies(), bot.sent
            with session_scope(bot.deps.session_factory) as db_session:
                recorded = Counter(
                    db_session.scalars(
                        select(Message.idempotency_key).where(Message.role == MessageRole.EMPLOYEE)
                    )
                )
            kinds = {ts: [_kind(r) for r in posts] for ts, posts in replies.items()}
            answered = {ts for ts, k in kinds.items() if k == ["answer"]}
            figures.update(
                {
                    "questions_sent": len(sent),
                    "answered": len(answered),
                    "answered_with_retry": len(answered & retry_log.threads),
                    "told_helpdesk_trouble": sum(k == ["trouble"] for k in kinds.values()),
                    "apologies": sum("apology" in k for k in kinds.values()),
                    "lost": sum(not k for k in kinds.values()),
                    "duplicated": sum(max(0, len(k) - 1) for k in kinds.values()),
                    "recorded_twice": sum(n > 1 for n in recorded.values()),
                }
            )
    finally:
        figures["outages_s"] = outages
        figures["elapsed_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(figures), file=sys.stdout)

    phase_of = {ts: q["phase"] for ts, q in sent.items()}
    assert figures["lost"] == figures["duplicated"] == figures["recorded_twice"] == 0, (figures, kinds)
    assert figures["apologies"] == 0, kinds
    # Short outage: every question answered normally, those handled during it after retrying.
    assert all(kinds[ts] == ["answer"] for ts in sent if phase_of[ts] != "long_outage"), kinds
    assert figures["answered_with_retry"] >= 1, figures
    assert retry_log.threads <= {ts for ts in sent if phase_of[ts] != "before"}
    # Long outage: each told once that the helpdesk is having trouble; nothing recorded for them.
    long_ones = [ts for ts in sent if phase_of[ts] == "long_outage"]
    assert all(kinds[ts] == ["trouble"] for ts in long_ones), kinds
    keys = {f"slack:{TEAM}:{sent[ts]['event_id']}" for ts in long_ones}
    assert not keys & set(recorded)
    assert set(recorded) >= {f"slack:{TEAM}:{sent[ts]['event_id']}" for ts in answered}
