"""Ticket automations on real workers: end-to-end latency and throughput against a no-op task baseline.

Setup: a scratch PostgreSQL database (created, migrated and dropped here), a dedicated Redis database
(emptied before and after), one ``deskpilot worker --concurrency=2`` (two prefork processes, all queues)
and the ServiceNow incident emulator from ``tests/emulators`` as the ITSM, in its own process. Every run
is a CREATE_TICKET automation with its own web conversation, sent as the product sends it
(``enqueue(TaskName.RUN_AUTOMATION, run_id=...)``); it costs an incident lookup by key, a caller lookup
and the create in the ITSM, then a ``notify`` task that records the notice in the conversation.

Measured per run (all clocks are this machine's):
- enqueue -> incident: until the ITSM received the create request (emulator ``/_calls``);
- enqueue -> notified: until the notify task wrote ``result["notified"]`` (the run row's last update).
Three phases: ``--sequential`` runs one at a time (latency with an idle worker), then ``--runs`` sent in
one burst (latency under backlog, and throughput = runs / (last notified - first enqueue)), then
``--pings`` no-op ``TaskName.PING`` tasks in one burst on the same broker and worker; a ping is done
when its message is acknowledged (``task_acks_late``: after the task returned), so no result backend is
needed. The report gives the automation/no-op throughput ratio.

Needs PostgreSQL and Redis on localhost (as for the integration tests).
Run: ``.venv/bin/python -m bench.ticket_automation [--runs 300] [--pings 300] [--sequential 20]``
``[--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/13]``
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import httpx
import psycopg
import redis
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.common import REPO, emit, percentile
from services.automations.models import AutomationKind, AutomationRun
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import Channel, Conversation
from services.directory.demo import seed_demo_directory
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import Queue, TaskName
from tests.emulators.harness import free_port

DESKPILOT = str(Path(sys.executable).with_name("deskpilot"))
SN_USER = "deskpilot.bench"
SN_PASSWORD = "sn-bench-password"
INCIDENT_PATH = "/api/now/table/incident"
_EMULATOR = """
import uvicorn
from tests.emulators.servicenow_incident import build_app
app, _ = build_app(user="{user}", secret="{secret}")
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""
_NOTIFIED = text(
    "SELECT count(*), max(updated_at) FROM automation_runs "
    "WHERE id = ANY(:ids) AND jsonb_exists(result, 'notified')"
)


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new, migrated database on the server of ``admin_url``; dropped afterwards."""
    admin = make_url(admin_url)
    name = f"deskpilot_bench_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        upgrade(build_alembic_config(database_url=url))
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_redis_db(url: str) -> Iterator[redis.Redis]:
    """The Redis database of ``url``, emptied before and after."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@contextmanager
def process_group(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[None]:
    """Run ``args`` in its own process group (output to ``log``); SIGKILL the whole group afterwards."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> None:
    """Poll ``condition()`` until true; exit with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def emulator_answers(base_url: str) -> bool:
    """True once the emulator serves its control endpoint."""
    try:
        return httpx.get(f"{base_url}/_calls", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def insert_runs(sessions: sessionmaker[Session], requesters: list[int], count: int, label: str) -> list[int]:
    """``count`` PENDING CREATE_TICKET runs, each in its own web conversation."""
    with session_scope(sessions) as db_session:
        runs = []
        for n in range(count):
            requester = requesters[n % len(requesters)]
            conversation = Conversation(employee_id=requester, channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            run = AutomationRun(
                kind=AutomationKind.CREATE_TICKET,
                idempotency_key=f"bench-{label}-{n:05d}",
                requester_id=requester,
                conversation_id=conversation.id,
                params={"description": f"Bench {label} #{n}: the docking station flickers"},
            )
            db_session.add(run)
            runs.append(run)
        db_session.flush()
        return [run.id for run in runs]


def notified(engine: Engine, run_ids: list[int]) -> tuple[int, float | None]:
    """How many of ``run_ids`` were notified, and when the last notice was recorded (epoch seconds)."""
    with engine.connect() as connection:
        row = connection.execute(_NOTIFIED, {"ids": run_ids}).one()
    return int(row[0]), row[1].timestamp() if row[1] is not None else None


def all_notified(engine: Engine, run_ids: list[int]) -> bool:
    """True once every run of ``run_ids`` was notified."""
    return notified(engine, run_ids)[0] == len(run_ids)


def notified_at(sessions: sessionmaker[Session], run_ids: list[int]) -> dict[str, float]:
    """Idempotency key -> when the run's notice was recorded (its row's last update)."""
    with session_scope(sessions) as db_session:
        runs = db_session.scalars(select(AutomationRun).where(AutomationRun.id.in_(run_ids))).all()
        return {run.idempotency_key: run.updated_at.timestamp() for run in runs if "notified" in run.result}


def create_received_at(base_url: str) -> dict[str, float]:
    """Idempotency key -> when the ITSM received the incident create (the first, should there be two)."""
    calls = httpx.get(f"{base_url}/_calls", timeout=60).json()
    received: dict[str, float] = {}
    for call in calls:
        if call["method"] == "POST" and call["path"] == INCIDENT_PATH:
            key = str((call["json"] or {}).get("correlation_id"))
            received.setdefault(key, float(call["received_at"]))
    return received


def incident_keys(base_url: str) -> list[str]:
    """The correlation id of every incident the ITSM holds."""
    incidents = httpx.get(f"{base_url}/_state", timeout=60).json()["incidents"]
    return [str(incident.get("correlation_id")) for incident in incidents]


def latency_ms(sent_at: dict[str, float], done_at: dict[str, float]) -> list[float]:
    """Per key, done minus sent in ms (keys never done are left out and counted by the caller)."""
    return [(done_at[key] - sent) * 1000 for key, sent in sent_at.items() if key in done_at]


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p95 / max, rounded."""
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1) if values else float("nan"),
    }


def broker_idle(client: redis.Redis) -> bool:
    """No message queued and none delivered but unacknowledged (acks are sent after the task ran)."""
    queued = sum(int(client.llen(queue.value)) for queue in Queue)
    return queued == 0 and int(client.hlen("unacked")) == 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300, help="automation runs sent in one burst")
    parser.add_argument("--pings", type=int, default=None, help="no-op tasks in one burst (default: --runs)")
    parser.add_argument("--sequential", type=int, default=20, help="runs sent one at a time first")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "DESKPILOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="an existing database on the server to use (a scratch database is created next to it)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="emptied before and after")
    args = parser.parse_args()
    pings = args.pings if args.pings is not None else args.runs

    with (
        tempfile.TemporaryDirectory(prefix="deskpilot-automation-bench-") as tmp,
        scratch_database(args.postgres_url) as database_url,
        empty_redis_db(args.redis_url) as broker,
    ):
        root = Path(tmp)
        itsm_port = free_port()
        itsm_url = f"http://127.0.0.1:{itsm_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESKPILOT_")}
        env.update(
            {
                "DESKPILOT_ENVIRONMENT": "test",
                "DESKPILOT_DATA_DIR": str(root / "var"),
                "DESKPILOT_DATABASE__URL": database_url,
                "DESKPILOT_REDIS__URL": args.redis_url,
                "DESKPILOT_TICKETING__KIND": "servicenow",
                "DESKPILOT_TICKETING__BASE_URL": itsm_url,
                "DESKPILOT_TICKETING__USERNAME": SN_USER,
                "DESKPILOT_TICKETING__API_TOKEN": SN_PASSWORD,
            }
        )
        settings = Settings(
            _env_file=None,
            environment="test",
            database={"url": database_url},
            redis={"url": args.redis_url},
        )
        create_celery_app(settings)  # this process sends to the workers' broker
        engine = build_engine(settings.database)
        sessions = build_session_factory(engine)
        with session_scope(sessions) as db_session:
            requesters = [employee.id for employee in seed_demo_directory(db_session)]
        sequential_ids = insert_runs(sessions, requesters, args.sequential, "sequential")
        burst_ids = insert_runs(sessions, requesters, args.runs, "burst")
        warm_ids = insert_runs(sessions, requesters, 4, "warmup")
        emulator = [sys.executable, "-c", _EMULATOR.format(user=SN_USER, secret=SN_PASSWORD, port=itsm_port)]
        worker = [DESKPILOT, "worker", "--concurrency=2", "--without-mingle", "--without-gossip"]
        with (
            process_group(emulator, env, REPO, root / "itsm.log"),
            process_group(worker, env, root, root / "worker.log"),
        ):
            wait_for("the ITSM emulator", lambda: emulator_answers(itsm_url), 30)
            # Warm-up: the worker's first tasks open connections and import lazily.
            for run_id in warm_ids:
                enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
            wait_for("the warm-up runs", partial(all_notified, engine, warm_ids), 120)

            sequential_sent: dict[str, float] = {}
            for n, run_id in enumerate(sequential_ids):
                sequential_sent[f"bench-sequential-{n:05d}"] = time.time()
                enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
                wait_for(f"run {run_id}", partial(all_notified, engine, [run_id]), 60, 0.005)

            burst_sent: dict[str, float] = {}
            burst_started = time.time()
            for n, run_id in enumerate(burst_ids):
                burst_sent[f"bench-burst-{n:05d}"] = time.time()
                enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
            burst_enqueued_s = time.time() - burst_started
            wait_for("the burst", partial(all_notified, engine, burst_ids), 900, 0.25)
            burst_done = notified(engine, burst_ids)[1] or time.time()
            wait_for("the broker to drain", lambda: broker_idle(broker), 60)

            pings_started = time.time()
            for n in range(pings):
                enqueue(TaskName.PING, value=n)
            pings_enqueued_s = time.time() - pings_started
            wait_for("the pings", lambda: broker_idle(broker), 300, 0.005)
            pings_done = time.time()

            received = create_received_at(itsm_url)
            keys = incident_keys(itsm_url)
        done = notified_at(sessions, sequential_ids + burst_ids)
        engine.dispose()

    automation_rate = len(burst_ids) / max(1e-9, burst_done - burst_started)
    ping_rate = pings / max(1e-9, pings_done - pings_started)
    expected = set(sequential_sent) | set(burst_sent)
    emit(
        {
            "benchmark": "ticket_automation",
            "setup": "1 deskpilot worker, prefork concurrency 2; PostgreSQL + Redis local; "
            "ServiceNow emulator in its own process",
            "runs": len(burst_ids),
            "sequential_runs": len(sequential_ids),
            "pings": pings,
            "sequential_ms": {
                "enqueue_to_incident": summary(latency_ms(sequential_sent, received)),
                "enqueue_to_notified": summary(latency_ms(sequential_sent, done)),
            },
            "burst_ms": {
                "enqueue_to_incident": summary(latency_ms(burst_sent, received)),
                "enqueue_to_notified": summary(latency_ms(burst_sent, done)),
            },
            "burst_enqueue_s": round(burst_enqueued_s, 2),
            "automation_runs_per_s": round(automation_rate, 1),
            "noop_enqueue_s": round(pings_enqueued_s, 2),
            "noop_tasks_per_s": round(ping_rate, 1),
            "automation_to_noop_throughput_ratio": round(automation_rate / ping_rate, 3),
            "incidents_for_measured_runs": sum(1 for key in keys if key in expected),
            "duplicate_incidents": len(keys) - len(set(keys)),
            "not_notified": len(expected - set(done)),
        }
    )


if __name__ == "__main__":
    main()
