"""Automation runs on real ``deskpilot worker`` processes: workers killed mid-run, and a Redis restart.

Everything is real except the ITSM: PostgreSQL (a fresh database per test), Redis (a dedicated database
of the test server, or a ``redis-server`` the test starts), ``deskpilot worker --concurrency=2`` in its
own process group, and the ServiceNow incident emulator, slowed down so that runs are mid-flight when
something dies. Acceptance: every run ends SUCCEEDED, the ITSM holds exactly one incident per run
(distinct ``correlation_id``), there is one Ticket row per run, and every requester is told (a notice
whose message was lost is sent again by the sweep too).

The stalled sweep is sent as beat sends it, for runs left untouched for longer than any task can take:
in production that is 10 minutes against a 300 s time limit; here ``IDLE_S`` against tasks of well under
a second. So, as in production, it never re-sends a run that a live worker is executing right now.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import current_app
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope, utcnow
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import Channel, Conversation, Message, MessageRole
from services.directory.demo import seed_demo_directory
from services.tickets.models import Ticket
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName
from tests.conftest import make_settings
from tests.emulators.harness import RunningEmulator, free_port, serve_emulator
from tests.emulators.servicenow_incident import build_app
from tests.integration.conftest import _require, temporary_postgres_database
from tests.services_probe import REDIS_URL, Probe, probe_postgres, probe_redis

DESKPILOT = str(Path(sys.executable).with_name("deskpilot"))
SN_USER = "deskpilot.integration"
SN_PASSWORD = "sn-password-workers-7d1e"
INCIDENT_PATH = "/api/now/table/incident"
ITSM_DELAY_S = 0.1
"""Every incident call (lookup and create) waits this long in the emulator: a run takes ~0.25 s."""
IDLE_S = 3.0
"""A run untouched this long is stalled (no task here runs for more than a second)."""
WORKER_REDIS_DB = 14
"""The database of the test Redis server that these workers use (not the shared test database 15)."""
VISIBILITY_TIMEOUT_S = 600
"""Longer than the test: a killed worker's unacknowledged messages are never redelivered during it."""


# ---- the stack --------------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One ``deskpilot worker`` in its own process group; every (re)start appends to the same log."""

    env: dict[str, str]
    cwd: Path
    log_path: Path
    concurrency: int = 2
    starts: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a worker (a new node name each time, as a replaced pod would have)."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    DESKPILOT,
                    "worker",
                    f"--concurrency={self.concurrency}",
                    "--without-mingle",
                    "--without-gossip",
                    f"--hostname=worker{self.starts}-{uuid.uuid4().hex[:6]}@%h",
                ],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the main process and its pool children
            )

    def kill_group(self) -> None:
        """SIGKILL the main process and every pool child at once (no warm shutdown, no requeue)."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the worker log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """A migrated database with the demo directory, a broker, the ITSM emulator and the test's producer."""

    settings: Settings
    sessions: sessionmaker[Session]
    emulator: RunningEmulator
    worker: WorkerProcess
    requesters: list[int]
    figures: dict[str, Any] = field(default_factory=dict)
    interrupted: set[str] = field(default_factory=set)
    """Keys of runs that a killed worker left RUNNING."""

    def insert_runs(self, count: int, label: str) -> list[int]:
        """``count`` CREATE_TICKET runs (PENDING, distinct keys, each in its own web conversation)."""
        batch = uuid.uuid4().hex[:8]
        with session_scope(self.sessions) as db_session:
            runs = []
            for n in range(count):
                requester = self.requesters[n % len(self.requesters)]
                conversation = Conversation(employee_id=requester, channel=Channel.WEB)
                db_session.add(conversation)
                db_session.flush()
                run = AutomationRun(
                    kind=AutomationKind.CREATE_TICKET,
                    idempotency_key=f"it-{label}-{batch}-{n:04d}",
                    requester_id=requester,
                    conversation_id=conversation.id,
                    params={"description": f"{label} #{n}: docking station {n} flickers"},
                )
                db_session.add(run)
                runs.append(run)
            db_session.flush()
            return [run.id for run in runs]

    def states(self) -> Counter[AutomationState]:
        """How many runs are in each state."""
        with session_scope(self.sessions) as db_session:
            query = select(AutomationRun.state, func.count()).group_by(AutomationRun.state)
            return Counter(dict(db_session.execute(query).all()))

    def finished(self) -> int:
        """Runs in a final state."""
        return sum(count for state, count in self.states().items() if state.is_final)

    def told(self) -> int:
        """Runs in a final state whose requester was told of it (the notify task recorded it)."""
        with session_scope(self.sessions) as db_session:
            rows = db_session.execute(select(AutomationRun.state, AutomationRun.result)).all()
        return sum(1 for state, result in rows if state.is_final and (result or {}).get("notified") == state)

    def idle_for(self) -> float:
        """Seconds since any run row last changed."""
        with session_scope(self.sessions) as db_session:
            last = db_session.scalar(select(func.max(AutomationRun.updated_at)))
        return (utcnow() - last).total_seconds() if last else float("inf")

    def running_keys(self) -> set[str]:
        """Idempotency keys of runs in state RUNNING."""
        with session_scope(self.sessions) as db_session:
            keys = db_session.scalars(
                select(AutomationRun.idempotency_key).where(AutomationRun.state == AutomationState.RUNNING)
            )
            return set(keys)

    def incidents(self) -> list[dict[str, Any]]:
        """The incidents the ITSM holds."""
        response = httpx.get(f"{self.emulator.base_url}/_state", timeout=30)
        response.raise_for_status()
        incidents: list[dict[str, Any]] = response.json()["incidents"]
        return incidents

    def creates_held_by_itsm(self) -> set[str]:
        """Keys of incident creates the emulator has received and is still holding (its delay)."""
        now = time.time()
        with self.emulator.state.lock:
            return {
                str((call["json"] or {}).get("correlation_id"))
                for call in self.emulator.state.calls
                if call["method"] == "POST"
                and call["path"] == INCIDENT_PATH
                and now - call["received_at"] < ITSM_DELAY_S / 2
            }

    def send_sweep_once_idle(self, timeout_s: float) -> int:
        """Wait until no run has changed for ``IDLE_S`` (whatever is left is stalled), then send the
        stalled sweep as beat does; returns how many runs it will re-send."""
        wait_until(lambda: self.idle_for() >= IDLE_S, timeout_s, "the runs to settle", self)
        stalled = sum(count for state, count in self.states().items() if not state.is_final)
        enqueue(TaskName.SWEEP_STALLED, older_than_s=IDLE_S)
        return stalled

    def check_exactly_once(self, run_ids: list[int]) -> dict[str, int]:
        """The acceptance figures; asserts every run SUCCEEDED with exactly one incident and one Ticket."""
        incidents = self.incidents()
        per_key = Counter(str(incident.get("correlation_id")) for incident in incidents)
        with session_scope(self.sessions) as db_session:
            runs = db_session.scalars(select(AutomationRun).where(AutomationRun.id.in_(run_ids))).all()
            tickets = db_session.scalars(select(Ticket)).all()
            notices = Counter(
                db_session.scalars(
                    select(Message.conversation_id).where(Message.role == MessageRole.ASSISTANT)
                )
            )
            figures = {
                "sent": len(run_ids),
                "completed": sum(1 for r in runs if r.state is AutomationState.SUCCEEDED),
                "duplicated": sum(n - 1 for n in per_key.values() if n > 1),
                "lost": sum(1 for r in runs if r.idempotency_key not in per_key),
                "incidents": len(incidents),
                "distinct_correlation_ids": len(per_key),
                "ticket_rows": len(tickets),
                "notified": sum(1 for r in runs if (r.result or {}).get("notified") == r.state.value),
                "notices_recorded": sum(notices.values()),
                "told_more_than_once": sum(1 for n in notices.values() if n > 1),
                "max_attempts": max((r.attempts for r in runs), default=0),
            }
            assert {r.state for r in runs} == {AutomationState.SUCCEEDED}, Counter(r.state for r in runs)
            assert set(per_key) == {r.idempotency_key for r in runs}
            assert all(r.conversation_id is not None and notices[r.conversation_id] >= 1 for r in runs)
            run_tickets = {r.ticket_id for r in runs}
            assert None not in run_tickets and len(run_tickets) == len(runs)
        assert figures["incidents"] == figures["distinct_correlation_ids"] == len(run_ids), figures
        assert figures["ticket_rows"] == len(run_ids), figures
        assert figures["notified"] == len(run_ids), figures  # lost notices too: the sweep re-sends them
        assert len({t.external_key for t in tickets}) == len(run_ids)
        return figures


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, stack: Stack) -> None:
    """Poll ``condition`` every 0.2 s; fail with the run states and the worker log after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout_s:g} s waiting for {what}; states {dict(stack.states())}\n"
                f"worker log:\n{stack.worker.log_tail()}"
            )
        time.sleep(0.2)


def _require_tool(name: str) -> None:
    if shutil.which(name) is None:
        _require(Probe(False, f"{name} is not installed (apt-get install redis-server)"))


@contextmanager
def _producer(settings: Settings) -> Iterator[None]:
    """Make this process send to the workers' broker; the previous Celery app is current (and the default
    for other threads) again afterwards, so later tests do not send to a broker that is gone."""
    previous = current_app._get_current_object()
    app = create_celery_app(settings)
    try:
        yield
    finally:
        app.close()
        previous.set_current()
        previous.set_default()


@contextmanager
def worker_stack(
    tmp_path: Path, redis_url: str, *, extra_env: dict[str, str] | None = None, concurrency: int = 2
) -> Iterator[Stack]:
    """:func:`worker_stack_on` a fresh database of the shared PostgreSQL server, dropped afterwards."""
    _require(probe_postgres())
    with temporary_postgres_database() as database_url:
        with worker_stack_on(
            tmp_path, database_url, redis_url, extra_env=extra_env, concurrency=concurrency
        ) as stack:
            yield stack


@contextmanager
def worker_stack_on(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    *,
    extra_env: dict[str, str] | None = None,
    concurrency: int = 2,
) -> Iterator[Stack]:
    """``database_url`` migrated with the demo directory, the ITSM emulator and a (not yet started) worker
    on ``redis_url`` (``extra_env``: more worker settings); every worker process is killed afterwards."""
    upgrade(build_alembic_config(database_url=database_url))
    app, state = build_app(user=SN_USER, secret=SN_PASSWORD)
    engine = build_engine(make_settings(tmp_path, database={"url": database_url}).database)
    with serve_emulator(app, state) as emulator:
        ticketing = {
            "kind": "servicenow",
            "base_url": emulator.base_url,
            "username": SN_USER,
            "api_token": SN_PASSWORD,
        }
        settings = make_settings(
            tmp_path,
            database={"url": database_url},
            redis={"url": redis_url},
            celery={"visibility_timeout_s": VISIBILITY_TIMEOUT_S},
            ticketing=ticketing,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESKPILOT_")}
        env.update(
            {
                "DESKPILOT_ENVIRONMENT": "test",
                "DESKPILOT_DATA_DIR": str(tmp_path / "var"),
                "DESKPILOT_CHROMA__PATH": str(tmp_path / "var" / "chroma"),
                "DESKPILOT_DATABASE__URL": database_url,
                "DESKPILOT_REDIS__URL": redis_url,
                "DESKPILOT_CELERY__VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
                **{f"DESKPILOT_TICKETING__{key.upper()}": value for key, value in ticketing.items()},
                **(extra_env or {}),
            }
        )
        worker = WorkerProcess(
            env=env, cwd=tmp_path, log_path=tmp_path / "worker.log", concurrency=concurrency
        )
        sessions = build_session_factory(engine)
        figures: dict[str, Any] = {}
        try:
            with session_scope(sessions) as db_session:
                requesters = [employee.id for employee in seed_demo_directory(db_session)]
            with _producer(settings):
                yield Stack(settings, sessions, emulator, worker, requesters, figures)
        finally:
            worker.kill_group()
            engine.dispose()
            print(json.dumps(figures), file=sys.stdout)


@contextmanager
def dedicated_redis_db() -> Iterator[str]:
    """Database ``WORKER_REDIS_DB`` of the test Redis server, emptied before and after."""
    _require(probe_redis())
    url = make_url(REDIS_URL).set(database=str(WORKER_REDIS_DB)).render_as_string(hide_password=False)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@dataclass
class RedisServer:
    """A redis-server of the test's own on ``port``, stoppable and restartable (empty, no persistence)."""

    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(self.folder),
                "--pidfile",
                str(self.folder / "redis.pid"),
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            check=True,
            timeout=10,
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def client(self) -> redis.Redis:
        """A client that fails at once when the server is down (redis-py retries ~3.7 s by default)."""
        return redis.Redis(
            port=self.port, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    def answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: every queued message is gone, as after a crash of a non-persistent Redis."""
        client = self.client()
        with suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        client.close()
        deadline = time.monotonic() + 10
        while self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
            time.sleep(0.05)

    def kill(self) -> None:
        """Stop it whatever its state (test teardown)."""
        pidfile = self.folder / "redis.pid"
        if pidfile.exists():
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


@contextmanager
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server started by the test on a free port, killed afterwards."""
    _require_tool("redis-server")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _kill_while_creating(stack: Stack, *, after_finished: int, timeout_s: float) -> dict[str, Any]:
    """Once ``after_finished`` runs are final, SIGKILL the worker group while the ITSM holds a create
    request (the incident is made after its client died); returns what was in flight."""
    wait_until(lambda: stack.finished() >= after_finished, timeout_s, f"{after_finished} final runs", stack)
    deadline = time.monotonic() + timeout_s
    held: set[str] = set()
    while not held:
        if time.monotonic() > deadline:
            pytest.fail(f"no incident create in flight within {timeout_s} s\n{stack.worker.log_tail()}")
        time.sleep(0.005)
        held = stack.creates_held_by_itsm()
    stack.worker.kill_group()
    created: set[str] = set()

    def itsm_finished_held_creates() -> bool:  # it completes the requests of the dead worker
        created.update(str(i.get("correlation_id")) for i in stack.incidents())
        return held <= created

    wait_until(itsm_finished_held_creates, 10, "the ITSM to finish the dead worker's creates", stack)
    interrupted = stack.running_keys() - stack.interrupted  # minus those left RUNNING by earlier kills
    stack.interrupted |= interrupted
    return {
        "finished_before": stack.finished(),
        "runs_interrupted": len(interrupted),
        "orphan_incidents": len(held & created & interrupted),
    }


# ---- tests ------------------------------------------------------------------------------------------


def test_worker_killed_twice_mid_run_every_run_succeeds_with_exactly_one_incident(tmp_path: Path) -> None:
    count = 200
    with dedicated_redis_db() as redis_url, worker_stack(tmp_path, redis_url) as stack:
        stack.emulator.inject(delay_s=ITSM_DELAY_S, times=1_000_000, path_prefix=INCIDENT_PATH)
        run_ids = stack.insert_runs(count, "crash")
        started = time.monotonic()
        for run_id in run_ids:
            enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
        stack.worker.start()

        kills = []
        for threshold in (count // 5, count // 2):
            kills.append(_kill_while_creating(stack, after_finished=threshold, timeout_s=90))
            stack.worker.start()
        # Each kill left an incident made after its worker died: only the lookup by key can adopt it.
        assert all(k["orphan_incidents"] >= 1 for k in kills), kills

        resent = stack.send_sweep_once_idle(timeout_s=150)
        wait_until(lambda: stack.told() == count, 60, "every run to be final and told", stack)
        elapsed = time.monotonic() - started
        stack.figures.update(
            {"test": "worker_killed_twice", "kills": kills, "resent_by_sweep": resent},
            elapsed_s=round(elapsed, 1),
        )
        stack.figures.update(stack.check_exactly_once(run_ids))
        assert resent >= len(stack.interrupted) >= len(kills), stack.figures
        assert elapsed < 180, stack.figures


def test_redis_restarted_empty_mid_run_sweep_resends_and_every_run_succeeds_once(tmp_path: Path) -> None:
    count = 50
    with own_redis_server(tmp_path) as server, worker_stack(tmp_path, server.url) as stack:
        from services.admin.app import create_app
        from services.automations.context import configure_automation_context

        stack.emulator.inject(delay_s=ITSM_DELAY_S, times=1_000_000, path_prefix=INCIDENT_PATH)
        run_ids = stack.insert_runs(count, "redis")
        started = time.monotonic()
        try:
            with TestClient(create_app(stack.settings)) as web:
                assert web.get("/readyz").status_code == 200
                for run_id in run_ids:
                    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
                stack.worker.start()
                wait_until(lambda: stack.finished() >= count // 5, 60, f"{count // 5} final runs", stack)
                server.stop()
                stopped_at = time.monotonic()
                finished_at_stop = stack.finished()

                readyz = web.get("/readyz")
                assert readyz.status_code == 503, readyz.text
                checks = readyz.json()["checks"]
                assert readyz.json()["status"] == "degraded"
                assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True, checks
                stack.figures["readyz_during_outage"] = checks["redis"]

                # The queue is gone: once the runs in flight settle, nothing moves until Redis is back.
                wait_until(lambda: stack.idle_for() >= IDLE_S, 30, "the runs in flight to settle", stack)
                unfinished = count - stack.finished()
                assert unfinished > 0

                server.start()
                outage_s = time.monotonic() - stopped_at
                assert web.get("/readyz").status_code == 200
        finally:
            configure_automation_context(None)  # the web app's lifespan set it for this process
        resent = stack.send_sweep_once_idle(timeout_s=30)
        wait_until(lambda: stack.told() == count, 90, "every run to be final and told after the sweep", stack)
        stack.figures.update(
            {
                "test": "redis_restart",
                "finished_at_stop": finished_at_stop,
                "unfinished_when_restarted": unfinished,
                "resent_by_sweep": resent,
                "outage_s": round(outage_s, 1),
                "elapsed_s": round(time.monotonic() - started, 1),
            }
        )
        stack.figures.update(stack.check_exactly_once(run_ids))
        assert resent == unfinished, stack.figures
        # The worker rode out the outage and reconnected by itself.
        assert stack.worker.starts == 1 and stack.worker.process is not None
        assert stack.worker.process.poll() is None
