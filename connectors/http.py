"""A small JSON-over-HTTP client for adapters: retries what is retryable, maps failures to our errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.errors import (
    ConnectorError,
    RateLimitedError,
    RemoteUnavailableError,
    error_from_http_status,
)
from services.common.db import utcnow
from services.common.errors import RetryableError

logger = logging.getLogger(__name__)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())


class JsonHttpClient:
    """HTTP client bound to one remote system.

    ``request_json`` retries 429 (honouring ``Retry-After``, capped at ``max_retry_after_s``), 5xx,
    timeouts and connection errors up to ``max_attempts`` times with jittered exponential backoff, then
    raises ``RateLimitedError`` / ``RemoteUnavailableError``. Other statuses raise at once through
    ``error_from_http_status``. Response bodies are never logged (they may hold personal data).
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        max_retry_after_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            auth=auth,
            headers={"Accept": "application/json", **(headers or {})},
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __enter__(self) -> JsonHttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request (retrying as documented) and return the decoded JSON body (None when empty)."""
        url = path.lstrip("/") if not path.startswith("http") else path
        last_error: ConnectorError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TimeoutException as exc:
                last_error = self._unavailable(
                    f"timeout after {self._client.timeout.read} s ({type(exc).__name__})"
                )
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                last_error = self._unavailable(f"connection failed ({type(exc).__name__}: {exc})")
                delay = self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response.json() if response.content else None
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                error = error_from_http_status(
                    self.system, response.status_code, _short_reason(response), retry_after_s=retry_after
                )
                if not isinstance(error, RetryableError):
                    raise error
                last_error = error
                delay = (
                    min(retry_after, self.max_retry_after_s)
                    if retry_after is not None
                    else self._backoff(attempt)
                )
            if attempt < self.max_attempts:
                logger.warning(
                    "remote call failed, retrying",
                    extra={
                        "system": self.system,
                        "attempt": attempt,
                        "delay_s": round(delay, 2),
                        "error": str(last_error),
                    },
                )
                self._sleep(delay)
        assert last_error is not None
        raise last_error

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_base_s * (2 ** (attempt - 1)) * (0.5 + random.random()))

    def _unavailable(self, message: str) -> RemoteUnavailableError:
        error = RemoteUnavailableError(f"{self.system}: {message}")
        error.system = self.system
        return error


def _short_reason(response: httpx.Response) -> str:
    """The status line's reason, plus a vendor error message when one is easy to find (no body dump)."""
    reason = response.reason_phrase or ""
    try:
        body = response.json()
    except ValueError:
        return reason
    if isinstance(body, dict):
        for key in ("message", "error", "errorMessages", "description"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail")
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value[:3])
            if isinstance(value, str) and value:
                return f"{reason}: {value[:200]}"
    return reason


__all__ = ["JsonHttpClient", "RateLimitedError", "RemoteUnavailableError", "parse_retry_after"]
