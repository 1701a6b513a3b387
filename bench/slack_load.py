"""Slack HTTP endpoint under load, on the embedded default: 500 signed events at 50 concurrent connections.

A real uvicorn server runs the web app (``create_app``) with Slack configured against the Slack Web API
emulator from ``tests/emulators``; the knowledge base is the demo IT handbook, the intent model is
trained from the shipped catalog, embeddings are the real all-MiniLM-L6-v2. Each event is a distinct
DM question. Reports ack latency (HTTP response) p50/p99, non-2xx responses, whether every event was
answered exactly once in the emulator, and event → answer-posted latency p50/p95.

Run: ``.venv/bin/python -m bench.slack_load [--events 500] [--concurrency 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier

from bench.common import emit, percentile
from connectors.folder.source import FolderKnowledgeSource
from knowledge.demo import DEMO_IT_FOLDER, IT_SOURCE
from knowledge.index import open_knowledge_index
from knowledge.ingest import ingest_source
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory
from services.common.migrate import build_alembic_config, upgrade
from services.router.training import ensure_intent_model
from tests.emulators.harness import free_port
from tests.emulators.slack_web_api import DEFAULT_USERS

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
TEAM = "T0DESKPILOT"
_EMULATOR = """
import uvicorn
from tests.emulators.slack_web_api import build_app
app, _ = build_app(bot_token="{token}", team_id="{team}")
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""
QUESTIONS = [
    "my vpn keeps dropping",
    "how do I reset my password",
    "I need Adobe Acrobat",
    "outlook says mailbox full",
    "printer won't release my job",
    "wifi certificate error",
    "teams microphone not working",
    "laptop is slow",
    "how do I share a 1password vault",
    "I'm locked out of okta",
    "new phone for okta verify",
    "hi",
    "what's the status of my ticket",
    "how do I set up the printer",
    "vpn disconnects at the hotel",
]


def _event(n: int, *, from_bot: bool = False) -> dict[str, object]:
    user = list(DEFAULT_USERS)[n % len(DEFAULT_USERS)]
    ts = _ts(n)
    event: dict[str, object] = {
        "type": "message",
        "channel_type": "im",
        "channel": f"D0BENCH{n % len(DEFAULT_USERS)}",
        "user": user,
        "text": f"{QUESTIONS[n % len(QUESTIONS)]} (#{n})",
        "ts": ts,
        "event_ts": ts,
    }
    if from_bot:
        event.update(subtype="bot_message", bot_id="B0OTHERBOT")
    return {
        "token": "ignored",
        "team_id": TEAM,
        "api_app_id": "A0BENCH",
        "type": "event_callback",
        "event_id": f"EvBench{'Bot' if from_bot else ''}{n:06d}",
        "event_time": 1700000000,
        "event": event,
    }


async def _post(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> int:
    """One HTTP/1.1 request on a kept-alive connection; returns the status.

    A plain asyncio client: httpx's async pool costs ~150 ms per request at 50 connections on 2 cores
    (measured against /healthz), which would hide the server's own figures.
    """
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode())
    writer.write(body)
    await writer.drain()
    response_head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in response_head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(response_head.split(b" ", 2)[1])


async def _send_all(
    port: int, events: range, concurrency: int, *, from_bot: bool = False
) -> tuple[list[float], Counter[int], dict[str, float]]:
    """Send ``events`` over ``concurrency`` kept-alive connections; ack latencies, statuses, send times."""
    verifier = SignatureVerifier(SECRET)
    acks: list[float] = []
    statuses: Counter[int] = Counter()
    sent_at: dict[str, float] = {}
    pending = list(reversed(events))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while pending:
                n = pending.pop()
                body = json.dumps(_event(n, from_bot=from_bot)).encode()
                ts = str(int(time.time()))
                signature = verifier.generate_signature(timestamp=ts, body=body.decode()) or ""
                headers = {
                    "content-type": "application/json",
                    "x-slack-request-timestamp": ts,
                    "x-slack-signature": signature,
                }
                started = time.time()
                status = await _post(reader, writer, "/slack/events", body, headers)
                acks.append((time.time() - started) * 1000)
                statuses[status] += 1
                sent_at[_ts(n)] = started
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return acks, statuses, sent_at


def _ts(n: int) -> str:
    return f"1700000000.{n:06d}"


def _wait_for_posts(slack_url: str, count: int, timeout_s: float = 300) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        calls = httpx.get(f"{slack_url}/_calls", timeout=30).json()
        if sum(1 for c in calls if c["path"] == "/api/chat.postMessage") >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"the warm-up was not answered within {timeout_s} s")


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in {timeout_s} s")


@contextmanager
def _process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, env=env)
    try:
        _wait_for(ready_url, process)
        yield process
    finally:
        process.send_signal(signal.SIGINT)  # a clean shutdown (uvicorn finishes its lifespan)
        process.wait(timeout=20)


def prepare_stack(root: Path, slack_url: str, *, messages_per_minute: int) -> dict[str, str]:
    """Environment, migrated database, demo IT handbook and trained intent model for a bench server under
    ``root``, Slack pointed at the emulator at ``slack_url``; returns the environment (also applied here)."""
    env = {
        **os.environ,
        "DESKPILOT_ENVIRONMENT": "test",
        "DESKPILOT_LOG_LEVEL": "WARNING",
        "DESKPILOT_DATABASE__URL": f"sqlite:///{root / 'bench.db'}",
        "DESKPILOT_CHROMA__PATH": str(root / "chroma"),
        "DESKPILOT_KNOWLEDGE__BM25_PATH": str(root / "bm25"),
        "DESKPILOT_ROUTER__MODEL_DIR": str(root / "models"),
        "DESKPILOT_SLACK__BOT_TOKEN": TOKEN,
        "DESKPILOT_SLACK__SIGNING_SECRET": SECRET,
        "DESKPILOT_SLACK__API_BASE_URL": f"{slack_url}/api/",
        "DESKPILOT_SLACK__MESSAGES_PER_MINUTE": str(messages_per_minute),
    }
    os.environ.update(env)
    settings = Settings(_env_file=None)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    index = open_knowledge_index(settings)
    ingest_source(
        FolderKnowledgeSource(IT_SOURCE, DEMO_IT_FOLDER),
        kind="folder",
        index=index,
        session_factory=sessions,
    )
    ensure_intent_model(sessions, embedder=index.embedder, model_dir=settings.router.model_dir)
    engine.dispose()
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deskpilot-slack-bench-") as tmp:
        root = Path(tmp)
        slack_port, app_port = free_port(), free_port()
        slack_url = f"http://127.0.0.1:{slack_port}"
        env = prepare_stack(root, slack_url, messages_per_minute=10000)
        emulator = [sys.executable, "-c", _EMULATOR.format(token=TOKEN, team=TEAM, port=slack_port)]
        server = [sys.executable, "-m", "services.cli", "serve", "--port", str(app_port)]
        if os.environ.get("BENCH_PROFILE"):
            server[1:2] = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"], "-m"]
        base_url = f"http://127.0.0.1:{app_port}"
        with (
            _process(emulator, env, f"{slack_url}/_calls"),
            _process(server, env, f"{base_url}/healthz"),
        ):
            # Warm-up (model, caches) and the floor: the same requests when every event is a bot
            # message, acked and dropped. Their timestamps differ from the measured run's.
            asyncio.run(_send_all(app_port, range(900_000, 900_005), 5))
            _wait_for_posts(slack_url, 5)
            floor, _, _ = asyncio.run(
                _send_all(app_port, range(800_000, 800_000 + args.events), args.concurrency, from_bot=True)
            )
            httpx.delete(f"{slack_url}/_calls")
            started = time.time()
            acks, statuses, sent_at = asyncio.run(_send_all(app_port, range(args.events), args.concurrency))
            deadline = time.time() + 600
            posts: list[dict[str, Any]] = []
            while time.time() < deadline:
                calls = httpx.get(f"{slack_url}/_calls", timeout=30).json()
                posts = [c for c in calls if c["path"] == "/api/chat.postMessage"]
                if sum(1 for p in posts if str((p["json"] or {}).get("thread_ts")) in sent_at) >= args.events:
                    break
                time.sleep(0.5)
        per_thread = Counter(str((p["json"] or {}).get("thread_ts")) for p in posts)
        answered = {ts for ts in sent_at if per_thread.get(ts, 0) >= 1}
        duplicated = sum(1 for ts in sent_at if per_thread.get(ts, 0) > 1)
        end_to_end = [
            (p["received_at"] - sent_at[str((p["json"] or {}).get("thread_ts"))]) * 1000
            for p in posts
            if str((p["json"] or {}).get("thread_ts")) in sent_at
        ]

    emit(
        {
            "benchmark": "slack_load",
            "events": args.events,
            "concurrency": args.concurrency,
            "ack_ms": {
                "p50": round(percentile(acks, 50), 1),
                "p95": round(percentile(acks, 95), 1),
                "p99": round(percentile(acks, 99), 1),
                "max": round(max(acks), 1),
                "over_200ms": sum(1 for a in acks if a > 200),
            },
            "target_ack_p99_ms": 200,
            "ack_floor_ms": {"p50": round(percentile(floor, 50), 1), "p99": round(percentile(floor, 99), 1)},
            "non_2xx": sum(count for status, count in statuses.items() if not 200 <= status < 300),
            "answered_exactly_once": len(answered) - duplicated,
            "unanswered": args.events - len(answered),
            "duplicated": duplicated,
            "event_to_answer_ms": {
                "p50": round(percentile(end_to_end, 50), 1),
                "p95": round(percentile(end_to_end, 95), 1),
            },
            "answers_per_second": round(
                len(posts) / max(1e-9, max((p["received_at"] for p in posts), default=started) - started), 1
            ),
        }
    )


if __name__ == "__main__":
    main()
