"""Run a FastAPI emulator on a real local port, with fault injection and a record of calls.

Every emulator app built with :func:`build_emulator_app` gets:
- ``POST /_behavior`` with e.g. ``{"status": 503, "times": 2, "retry_after": "1", "path_prefix": "/api"}``
  or ``{"delay_s": 0.5}``: the next ``times`` matching requests answer ``status`` (with ``Retry-After``
  when given) or sleep ``delay_s`` before answering normally (``"method": "POST"`` matches only that
  method); ``DELETE /_behavior`` clears it;
- ``GET /_calls``: every request received (method, path, query, headers of interest, JSON body);
  ``DELETE /_calls`` forgets them.
Tests talk to the emulator over HTTP exactly as the product does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

_RECORDED_HEADERS = ("authorization", "content-type", "accept", "x-idempotency-key")


@dataclass
class Behavior:
    """A pending fault: answer ``status`` or wait ``delay_s``, for the next ``times`` matching requests."""

    status: int | None = None
    times: int = 1
    retry_after: str | None = None
    delay_s: float = 0.0
    path_prefix: str = "/"
    method: str | None = None
    body: dict[str, Any] = field(default_factory=lambda: {"error": "injected fault"})


@dataclass
class EmulatorState:
    """Calls received and faults queued, shared between the app and the test."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    behaviors: list[Behavior] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_behavior(self, path: str, method: str = "GET") -> Behavior | None:
        with self.lock:
            for behavior in self.behaviors:
                if behavior.method not in (None, method.upper()):
                    continue
                if path.startswith(behavior.path_prefix) and behavior.times > 0:
                    behavior.times -= 1
                    return behavior
        return None


class _FaultAndRecordMiddleware(BaseHTTPMiddleware):
    def __init__(self, app: Any, state: EmulatorState) -> None:
        super().__init__(app)
        self.state = state

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith("/_"):
            return await call_next(request)
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.state.lock:
            self.state.calls.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "headers": {k: v for k, v in request.headers.items() if k in _RECORDED_HEADERS},
                    "json": body,
                    "received_at": time.time(),
                }
            )
        behavior = self.state.take_behavior(request.url.path, request.method)
        if behavior is not None:
            if behavior.delay_s:
                await asyncio.sleep(behavior.delay_s)
            if behavior.status is not None:
                headers = {"Retry-After": behavior.retry_after} if behavior.retry_after is not None else {}
                return JSONResponse(behavior.body, status_code=behavior.status, headers=headers)
        return await call_next(request)


def build_emulator_app(title: str) -> tuple[FastAPI, EmulatorState]:
    """A FastAPI app with the ``/_behavior`` and ``/_calls`` control endpoints installed."""
    app = FastAPI(title=title)
    state = EmulatorState()
    app.add_middleware(_FaultAndRecordMiddleware, state=state)

    @app.post("/_behavior")
    async def add_behavior(request: Request) -> dict[str, int]:
        payload = await request.json()
        with state.lock:
            state.behaviors.append(Behavior(**payload))
            return {"queued": len(state.behaviors)}

    @app.delete("/_behavior")
    def clear_behavior() -> dict[str, bool]:
        with state.lock:
            state.behaviors.clear()
        return {"cleared": True}

    @app.get("/_calls")
    def get_calls() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.calls)

    @app.delete("/_calls")
    def clear_calls() -> dict[str, bool]:
        with state.lock:
            state.calls.clear()
        return {"cleared": True}

    return app, state


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningEmulator:
    """A started emulator: its base URL and a client for its control endpoints."""

    base_url: str
    state: EmulatorState

    def inject(self, **behavior: Any) -> None:
        """Queue a fault (see the module docstring)."""
        httpx.post(f"{self.base_url}/_behavior", json=behavior, timeout=5).raise_for_status()

    def calls(self, path_prefix: str = "/") -> list[dict[str, Any]]:
        """Requests received so far whose path starts with ``path_prefix``."""
        response = httpx.get(f"{self.base_url}/_calls", timeout=5)
        response.raise_for_status()
        return [c for c in response.json() if c["path"].startswith(path_prefix)]

    def reset(self) -> None:
        """Forget calls and queued faults."""
        httpx.delete(f"{self.base_url}/_calls", timeout=5).raise_for_status()
        httpx.delete(f"{self.base_url}/_behavior", timeout=5).raise_for_status()


@contextmanager
def serve_emulator(app: FastAPI, state: EmulatorState) -> Iterator[RunningEmulator]:
    """Serve ``app`` with uvicorn in a background thread on a free port until the block ends."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"emulator-{app.title}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"emulator {app.title} did not start")
        time.sleep(0.01)
    try:
        yield RunningEmulator(base_url=f"http://127.0.0.1:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
