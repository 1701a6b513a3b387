"""Where the front doors saturate: the Slack HTTP endpoint and the web chat at rising concurrency.

The same stack as ``bench.slack_load`` (embedded default, uvicorn, demo IT handbook, the shipped intent
model, real MiniLM, the Slack emulator in its own process). For each concurrency level, ``--per-level``
requests (at least three per connection) are sent over that many kept-alive connections:
- Slack: signed DM events to ``/slack/events``; the figure is the ack (HTTP response) latency, which Slack
  needs within 3 s; answers are posted later from bolt's listener pool.
- Web chat: ``POST /chat/messages`` as a signed-in employee with the CSRF header; the answer comes back in
  the response, so the figure is the whole answer latency.
The ramp stops once p99 exceeds ``--limit-ms`` (1 s); the knee is the highest level still under it.

Run: ``.venv/bin/python -m bench.load_knee [--slack-levels 10,25] [--chat-levels 1,2,5] [--per-level 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from bench.common import emit, percentile
from bench.slack_load import _EMULATOR, QUESTIONS, TEAM, TOKEN, _post, _process, _send_all, prepare_stack
from services.admin.auth import hash_password
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope
from services.directory.models import Employee
from tests.emulators.harness import free_port

EMAIL, PASSWORD = "load.tester@example.com", "load tester password 1"
Level = Callable[[int, int, int], Coroutine[Any, Any, tuple[list[float], Counter[int]]]]


def _prepare(root: Path, slack_url: str) -> dict[str, str]:
    """Environment, database, knowledge base, intent model and one employee with a password."""
    env = prepare_stack(root, slack_url, messages_per_minute=100000)
    engine = build_engine(Settings(_env_file=None).database)
    sessions = build_session_factory(engine)
    with session_scope(sessions) as db_session:
        db_session.add(
            Employee(email=EMAIL, display_name="Load Tester", password_hash=hash_password(PASSWORD))
        )
    engine.dispose()
    return env


def _chat_credentials(base_url: str) -> tuple[str, str]:
    """Sign in over HTTP; the session cookie header and the chat page's CSRF token."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token, "no sign-in form"
        client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/chat").text)
        assert csrf, "sign-in failed"
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        return cookie, csrf.group(1)


async def _chat_level(
    port: int, requests: int, concurrency: int, cookie: str, csrf: str
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pending = list(range(requests))
    headers = {"content-type": "application/json", "cookie": cookie, "x-csrf-token": csrf}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while pending:
                n = pending.pop()
                body = json.dumps({"text": f"{QUESTIONS[n % len(QUESTIONS)]} ({n})"}).encode()
                started = time.perf_counter()
                statuses[await _post(reader, writer, "/chat/messages", body, headers)] += 1
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, statuses


def _drain(slack_url: str, *, quiet_s: float = 5.0, timeout_s: float = 900.0) -> int:
    """Wait until the backlog of Slack answers is posted (no new post for ``quiet_s``); the post count."""
    deadline, last, quiet_since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        calls = httpx.get(f"{slack_url}/_calls", timeout=60).json()
        posts = sum(1 for c in calls if c["path"] == "/api/chat.postMessage")
        if posts != last:
            last, quiet_since = posts, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return posts
        time.sleep(1)
    return last


def _ramp(name: str, levels: list[int], per_level: int, limit_ms: float, run_level: Level) -> dict[str, Any]:
    """Run levels until p99 exceeds ``limit_ms``; the per-level figures and the knee."""
    rows: list[dict[str, Any]] = []
    offset = 0
    for concurrency in levels:
        count = max(per_level, 3 * concurrency)  # every connection sends several: the level is sustained
        started = time.perf_counter()
        latencies, statuses = asyncio.run(run_level(offset, count, concurrency))
        offset += count
        elapsed = time.perf_counter() - started
        rows.append(
            {
                "concurrency": concurrency,
                "p50_ms": round(percentile(latencies, 50), 1),
                "p95_ms": round(percentile(latencies, 95), 1),
                "p99_ms": round(percentile(latencies, 99), 1),
                "non_2xx": sum(c for s, c in statuses.items() if not 200 <= s < 300),
                "per_second": round(len(latencies) / elapsed, 1),
            }
        )
        print(f"{name}: {rows[-1]}", file=sys.stderr)
        if rows[-1]["p99_ms"] > limit_ms:
            break
    under = [row["concurrency"] for row in rows if row["p99_ms"] <= limit_ms]
    over = [row["concurrency"] for row in rows if row["p99_ms"] > limit_ms]
    return {
        "levels": rows,
        "knee_concurrency": max(under, default=None),
        "first_over": min(over, default=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slack-levels", default="10,25,50,100,200,400,800,1600")
    parser.add_argument("--chat-levels", default="1,2,5,10,25")
    parser.add_argument("--per-level", type=int, default=200)
    parser.add_argument("--limit-ms", type=float, default=1000.0)
    args = parser.parse_args()
    slack_levels = [int(level) for level in args.slack_levels.split(",")]
    chat_levels = [int(level) for level in args.chat_levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="deskpilot-knee-") as tmp:
        slack_port, app_port = free_port(), free_port()
        slack_url, base_url = f"http://127.0.0.1:{slack_port}", f"http://127.0.0.1:{app_port}"
        env = _prepare(Path(tmp), slack_url)
        emulator = [sys.executable, "-c", _EMULATOR.format(token=TOKEN, team=TEAM, port=slack_port)]
        server = [sys.executable, "-m", "services.cli", "serve", "--port", str(app_port)]
        with _process(emulator, env, f"{slack_url}/_calls"), _process(server, env, f"{base_url}/healthz"):
            cookie, csrf = _chat_credentials(base_url)
            asyncio.run(_send_all(app_port, range(900_000, 900_005), 5))  # warm-up: model, caches
            asyncio.run(_chat_level(app_port, 5, 5, cookie, csrf))

            async def slack_level(
                offset: int, count: int, concurrency: int
            ) -> tuple[list[float], Counter[int]]:
                acks, statuses, _ = await _send_all(app_port, range(offset, offset + count), concurrency)
                return acks, statuses

            async def chat_level(
                _offset: int, count: int, concurrency: int
            ) -> tuple[list[float], Counter[int]]:
                return await _chat_level(app_port, count, concurrency, cookie, csrf)

            slack = _ramp("slack", slack_levels, args.per_level, args.limit_ms, slack_level)
            slack["answers_posted"] = _drain(slack_url)  # the chat ramp starts on an idle server
            httpx.delete(f"{slack_url}/_calls", timeout=30)
            chat = _ramp("chat", chat_levels, args.per_level, args.limit_ms, chat_level)
    emit(
        {
            "benchmark": "load_knee",
            "per_level": args.per_level,
            "limit_p99_ms": args.limit_ms,
            "slack_ack": slack,
            "web_chat_answer": chat,
        }
    )


if __name__ == "__main__":
    main()
