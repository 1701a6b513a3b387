"""ASGI middleware: bind a correlation id per request, expose it, record metrics and an access log line."""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.logging import bind_correlation_id
from services.common.metrics import HTTP_LATENCY, HTTP_REQUESTS

CORRELATION_HEADER = "x-correlation-id"
_INBOUND_HEADERS = (b"x-correlation-id", b"x-request-id")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

logger = logging.getLogger("deskpilot.http")


def _inbound_correlation_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key in _INBOUND_HEADERS:
            candidate: str = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
    return None


class RequestContextMiddleware:
    """Per HTTP request: correlation id (taken from the caller when well-formed), metrics, one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        with bind_correlation_id(_inbound_correlation_id(scope)) as correlation_id:

            async def send_with_id(message: Message) -> None:
                nonlocal status_code
                if message["type"] == "http.response.start":
                    status_code = message["status"]
                    headers = list(message.get("headers", []))
                    headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                route_label = getattr(route, "path", "unmatched")
                method = scope.get("method", "GET")
                HTTP_REQUESTS.labels(method=method, route=route_label, status=str(status_code)).inc()
                HTTP_LATENCY.labels(method=method, route=route_label).observe(elapsed)
                logger.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "status": status_code,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
