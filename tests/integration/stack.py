"""The distributed profile on one machine: every Deskpilot process a real subprocess, as deployed.

PostgreSQL (a fresh database, migrated by ``deskpilot db upgrade`` as the Helm hook Job does), Redis (a
database of the test server, flushed), a ``chroma run`` server, two ``deskpilot worker``, one
``deskpilot beat`` and two ``deskpilot serve`` on their own ports. Answers are extractive (no LLM).

Served from the test process: the Slack Web API emulator (``tests/emulators``) and an OpenAI-compatible
``/v1/embeddings`` endpoint backed by the real all-MiniLM-L6-v2, as a self-hosted embedding server would
be (``DESKPILOT_KNOWLEDGE__EMBEDDING__PROVIDER=openai``). The model is loaded once for the whole stack
instead of ~8 s of CPU in each of up to nine Deskpilot processes on 2 cores, its vectors are the same for
every process (so the tests can compare retrieval scores across processes exactly), and the semantics
are MiniLM's: the article pipeline's clustering is tuned for it (the OpenAI emulator's hashed vectors
cluster nothing).

Files are laid out as the Helm chart lays them out: each process has its own working directory and
``DESKPILOT_DATA_DIR`` (the chart's per-pod ``emptyDir``: heartbeat files, beat's schedule), and they all
share one folder for the BM25 index and the intent models (the chart's ``sharedStorage`` volume,
``DESKPILOT_KNOWLEDGE__BM25_PATH`` and ``DESKPILOT_ROUTER__MODEL_DIR``). Every process runs in its own
process group with its output in ``<root>/logs/<name>.log``; :meth:`Stack.logs` gives their tails for
failure messages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import make_url

from tests.emulators.harness import (
    EmulatorState,
    RunningEmulator,
    build_emulator_app,
    free_port,
    serve_emulator,
)
from tests.emulators.slack_web_api import build_app as build_slack_app
from tests.integration.conftest import _require, temporary_postgres_database
from tests.services_probe import REDIS_URL, probe_postgres, probe_redis

BIN = Path(sys.executable).parent
DESKPILOT = str(BIN / "deskpilot")
REDIS_DB = 13
"""The test Redis server's database for this stack (14 and 15 belong to other tests)."""
SIGNING_SECRET = "distributed-profile-signing-secret"
BOT_TOKEN = "xoxb-distributed-profile"
TEAM_ID = "T0DESKPILOT"
OPENAI_KEY = "sk-distributed-profile"
PUBLIC_URL = "http://deskpilot.test"
EDITOR_EMAIL = "edna.editor@example.com"
EDITOR_PASSWORD = "editor-password-distributed-7Q"


@dataclass
class Process:
    """One long-running Deskpilot (or Chroma) process in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    cwd: Path

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM the group (warm shutdown), SIGKILL it when it lingers."""
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        with suppress(ProcessLookupError):  # pool children that outlived their parent
            os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        """The end of the log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """The running stack: URLs, environments and helpers to act on it as users and operators do."""

    root: Path
    database_url: str
    redis_url: str
    chroma_port: int
    slack: RunningEmulator
    embeddings: RunningEmulator
    base_env: dict[str, str]
    shared: Path
    processes: dict[str, Process] = field(default_factory=dict)
    web_ports: dict[str, int] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    """Log lines of one-off commands (``deskpilot ingest`` ...): command, exit code, output tail."""

    # ---- processes ------------------------------------------------------------------------------------

    def env_for(self, name: str) -> dict[str, str]:
        """The environment of process ``name``: the shared settings plus its own data dir."""
        return {**self.base_env, "DESKPILOT_DATA_DIR": str(self.root / name / "var")}

    def start(self, name: str, args: list[str]) -> Process:
        """Start a long-running process (its own folder, data dir, process group and log)."""
        cwd = self.root / name
        cwd.mkdir(parents=True, exist_ok=True)
        log_path = self.root / "logs" / f"{name}.log"
        log_path.parent.mkdir(exist_ok=True)
        env = self.env_for(name)
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = Process(name, popen, log_path, env, cwd)
        self.processes[name] = process
        return process

    def spawn(self, name: str, *args: str) -> subprocess.Popen[str]:
        """Start a one-off ``deskpilot`` command (not waited for); see :meth:`finish`."""
        cwd = self.root / name
        cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [DESKPILOT, *args],
            env=self.env_for(name),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def outcome(self, popen: subprocess.Popen[str], *, timeout_s: float = 120) -> tuple[int, str]:
        """Wait for a one-off command; its exit code and output (also kept for failure messages)."""
        try:
            output, _ = popen.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            output, _ = popen.communicate()
        command = " ".join(str(a) for a in popen.args[1:])  # type: ignore[index]
        self.commands.append(f"$ deskpilot {command} -> {popen.returncode}\n{output[-3000:]}")
        return popen.returncode, output

    def finish(self, popen: subprocess.Popen[str], *, timeout_s: float = 120) -> str:
        """Wait for a one-off command; fail with its output (and the stack's logs) unless it exits 0."""
        code, output = self.outcome(popen, timeout_s=timeout_s)
        if code != 0:
            command = " ".join(str(a) for a in popen.args[1:])  # type: ignore[index]
            pytest.fail(f"`deskpilot {command}` exited {code}:\n{output}\n{self.logs()}")
        return output

    def run(self, name: str, *args: str, timeout_s: float = 120) -> str:
        """Run a one-off ``deskpilot`` command to completion (exit 0 required); returns its output."""
        return self.finish(self.spawn(name, *args), timeout_s=timeout_s)

    def stop_all(self) -> None:
        """Stop every long-running process, the last started first."""
        for process in reversed(list(self.processes.values())):
            process.stop()

    def logs(self, lines: int = 25) -> str:
        """Tails of every process log and the one-off commands, for failure messages."""
        parts = [
            f"----- {p.name} (alive={p.alive()}) -----\n{p.tail(lines)}"
            for p in self.processes.values()
            if p.name != "chroma" or not p.alive()  # chroma's request log says nothing useful
        ]
        parts.extend(f"----- command -----\n{c[-1500:]}" for c in self.commands[-6:])
        return "\n".join(parts)

    def check_alive(self) -> None:
        """Fail when any long-running process has died."""
        dead = [p.name for p in self.processes.values() if not p.alive()]
        if dead:
            pytest.fail(f"processes exited: {dead}\n{self.logs()}")

    def wait_until(
        self, condition: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.25
    ) -> Any:
        """Poll until ``condition()`` is truthy (returns it); fail with the logs after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}\n{self.logs()}")
            self.check_alive()
            time.sleep(every_s)

    @contextmanager
    def diagnosed(self) -> Iterator[None]:
        """Print every log tail when the block fails (shown with the failure)."""
        try:
            yield
        except BaseException:
            print(self.logs(40))
            raise

    # ---- web ------------------------------------------------------------------------------------------

    def web_url(self, name: str) -> str:
        """Base URL of web process ``name``."""
        return f"http://127.0.0.1:{self.web_ports[name]}"

    def slack_post(self, web: str, path: str, body: bytes, content_type: str) -> httpx.Response:
        """A request signed as Slack signs it, to ``path`` of web process ``web``."""
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=body.decode()
        )
        headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature or "",
        }
        return httpx.post(f"{self.web_url(web)}{path}", content=body, headers=headers, timeout=30)

    def send_event(self, web: str, envelope: dict[str, Any]) -> httpx.Response:
        """Deliver an Events API envelope to ``/slack/events`` of ``web``."""
        return self.slack_post(web, "/slack/events", json.dumps(envelope).encode(), "application/json")

    def send_interaction(self, web: str, payload: dict[str, Any]) -> httpx.Response:
        """Deliver an interactivity payload (``payload=`` form) to ``/slack/interactions`` of ``web``."""
        from urllib.parse import urlencode

        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.slack_post(web, "/slack/interactions", body, "application/x-www-form-urlencoded")

    # ---- emulator state -------------------------------------------------------------------------------

    def slack_state(self) -> dict[str, Any]:
        """The Slack emulator's messages, views and DMs."""
        response = httpx.get(f"{self.slack.base_url}/_state", timeout=10)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def dm_channel(self, user_id: str) -> str:
        """The app's DM with ``user_id`` (``conversations.open``, as Slack gives it)."""
        response = httpx.post(
            f"{self.slack.base_url}/api/conversations.open",
            data={"users": user_id},
            headers={"authorization": f"Bearer {BOT_TOKEN}"},
            timeout=10,
        )
        channel: str = response.json()["channel"]["id"]
        return channel

    def bot_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The bot's messages posted in ``thread_ts`` of ``channel`` (replies to the employee's message)."""
        messages = self.slack_state()["messages"].get(channel, [])
        return [m for m in messages if m.get("thread_ts") == thread_ts and m.get("bot_id")]


def build_minilm_embeddings_app(*, api_key: str) -> tuple[FastAPI, EmulatorState]:
    """``POST /v1/embeddings`` (OpenAI's request and response shapes) served by all-MiniLM-L6-v2.

    The model loads in a background thread at once; requests wait for it. Requests run in the server's
    thread pool (a sync endpoint), so the event loop never blocks on encoding.
    """
    from knowledge.embeddings import LocalMiniLMEmbedder

    app, state = build_emulator_app("minilm-embeddings")
    embedder = LocalMiniLMEmbedder()
    loaded = threading.Event()

    def load() -> None:
        try:
            embedder.load()
        finally:
            loaded.set()

    threading.Thread(target=load, name="minilm-load", daemon=True).start()

    @app.post("/v1/embeddings", response_model=None)
    def embeddings(body: dict[str, Any], authorization: str = Header("")) -> Any:
        if authorization != f"Bearer {api_key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided."}}, status_code=401)
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return JSONResponse({"error": {"message": "'input' must be strings."}}, status_code=400)
        loaded.wait(120)
        vectors = embedder.embed_documents(texts)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)
            ],
            "model": body.get("model", "all-MiniLM-L6-v2"),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    return app, state


def redis_url_for_stack() -> str:
    """Database :data:`REDIS_DB` of the test Redis server."""
    return make_url(REDIS_URL).set(database=str(REDIS_DB)).render_as_string(hide_password=False)


def _wait_http(url: str, process: Process, *, timeout_s: float, stack: Stack) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not process.alive() or time.monotonic() > deadline:
            pytest.fail(f"{process.name} did not answer 200 at {url}\n{stack.logs()}")
        time.sleep(0.2)


def _probe_ok(stack: Stack, name: str, kind: str) -> bool:
    result = subprocess.run(
        [DESKPILOT, "probe", kind, "--ready"],
        env=stack.env_for(name),
        cwd=stack.root / name,
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


@contextmanager
def distributed_stack(root: Path, *, workers: int = 2, webs: int = 2) -> Iterator[Stack]:
    """Start the whole stack (see the module docstring); everything is stopped and dropped afterwards."""
    _require(probe_postgres())
    _require(probe_redis())
    chroma_binary = shutil.which("chroma") or str(BIN / "chroma")
    redis_url = redis_url_for_stack()
    flusher = redis.Redis.from_url(redis_url)
    flusher.flushdb()
    with ExitStack() as cleanup:
        cleanup.callback(flusher.close)
        cleanup.callback(flusher.flushdb)
        database_url = cleanup.enter_context(temporary_postgres_database())
        slack_app, slack_state = build_slack_app(bot_token=BOT_TOKEN, team_id=TEAM_ID)
        slack = cleanup.enter_context(serve_emulator(slack_app, slack_state))
        embeddings_app, embeddings_state = build_minilm_embeddings_app(api_key=OPENAI_KEY)
        embeddings = cleanup.enter_context(serve_emulator(embeddings_app, embeddings_state))
        shared = root / "shared"
        shared.mkdir(parents=True)
        chroma_port = free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DESKPILOT_")}
        base_env.update(
            {
                "DESKPILOT_ENVIRONMENT": "test",
                "DESKPILOT_LOG_LEVEL": "INFO",
                "DESKPILOT_LOG_JSON": "true",
                "DESKPILOT_DATABASE__URL": database_url,
                "DESKPILOT_REDIS__URL": redis_url,
                "DESKPILOT_CELERY__ALWAYS_EAGER": "false",
                "DESKPILOT_CHROMA__HOST": "127.0.0.1",
                "DESKPILOT_CHROMA__PORT": str(chroma_port),
                "DESKPILOT_KNOWLEDGE__BM25_PATH": str(shared / "bm25"),
                "DESKPILOT_ROUTER__MODEL_DIR": str(shared / "models"),
                "DESKPILOT_KNOWLEDGE__EMBEDDING__PROVIDER": "openai",
                "DESKPILOT_KNOWLEDGE__EMBEDDING__BASE_URL": f"{embeddings.base_url}/v1",
                "DESKPILOT_KNOWLEDGE__EMBEDDING__API_KEY": OPENAI_KEY,
                "DESKPILOT_KNOWLEDGE__EMBEDDING__DIMENSION": "384",
                "DESKPILOT_SLACK__BOT_TOKEN": BOT_TOKEN,
                "DESKPILOT_SLACK__SIGNING_SECRET": SIGNING_SECRET,
                "DESKPILOT_SLACK__API_BASE_URL": f"{slack.base_url}/api/",
                "DESKPILOT_SLACK__MESSAGES_PER_MINUTE": "1000",
                "DESKPILOT_WEB__SECRET_KEY": "distributed-profile-web-secret-0123456789",
                "DESKPILOT_WEB__PUBLIC_URL": PUBLIC_URL,
            }
        )
        stack = Stack(root, database_url, redis_url, chroma_port, slack, embeddings, base_env, shared)
        cleanup.callback(stack.stop_all)
        chroma = stack.start(
            "chroma",
            [
                chroma_binary,
                "run",
                "--path",
                str(root / "chroma-data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(chroma_port),
            ],
        )
        # The migration hook Job, then the one-off setup an operator does: intents, an editor account.
        stack.run("migrate", "db", "upgrade")
        stack.run("setup", "intents", "load")
        stack.run("setup", "intents", "train")
        stack.run(
            "setup", "users", "create", EDITOR_EMAIL, "--name", "Edna Editor", "--role", "knowledge_editor",
            "--password", EDITOR_PASSWORD,
        )  # fmt: skip
        _wait_http(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", chroma, timeout_s=60, stack=stack)
        for n in range(1, workers + 1):
            stack.start(
                f"worker{n}",
                [DESKPILOT, "worker", "--concurrency=1", "--without-mingle", "--without-gossip",
                 f"--hostname=worker{n}@%h"],
            )  # fmt: skip
        stack.start("beat", [DESKPILOT, "beat"])
        for n in range(webs):
            name = "web" + "AB"[n]
            stack.web_ports[name] = free_port()
            stack.start(name, [DESKPILOT, "serve", "--port", str(stack.web_ports[name])])
        for name in stack.web_ports:
            _wait_http(f"{stack.web_url(name)}/readyz", stack.processes[name], timeout_s=90, stack=stack)
        for n in range(1, workers + 1):
            stack.wait_until(
                lambda n=n: _probe_ok(stack, f"worker{n}", "worker"),  # type: ignore[misc]
                timeout_s=60,
                what=f"worker{n} to be ready (deskpilot probe worker --ready)",
                every_s=0.5,
            )
        stack.wait_until(
            lambda: _probe_ok(stack, "beat", "beat"), timeout_s=60, what="beat's heartbeat", every_s=0.5
        )
        yield stack
