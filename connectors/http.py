"""A small JSON-over-HTTP client for adapters: retries what is retryable, maps failures to our errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypedDict, TypeVar, Unpack
from urllib.parse import urlsplit

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

_E = TypeVar("_E", bound=ConnectorError)


def connector_error(kind: type[_E], system: str, message: str) -> _E:
    """``kind("<system>: <message>")`` with ``system`` set, as every adapter raises its own errors."""
    error = kind(f"{system}: {message}")
    error.system = system
    return error


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


def retry_after_header(response: httpx.Response) -> float | None:
    """The default ``retry_delay``: the response's ``Retry-After`` header, in seconds."""
    return parse_retry_after(response.headers.get("Retry-After"))


class ClientOptions(TypedDict, total=False):
    """Retry and transport options of :class:`JsonHttpClient` that adapters accept and pass on as is."""

    max_attempts: int
    backoff_base_s: float
    max_retry_after_s: float
    sleep: Callable[[float], None]
    transport: httpx.BaseTransport | None


class RequestOptions(TypedDict, total=False):
    """What a request may carry besides its method and path (see :meth:`JsonHttpClient.request`)."""

    params: Mapping[str, Any] | None
    json: Any
    data: Mapping[str, str] | None  # a form body, instead of ``json``
    headers: Mapping[str, str] | None
    idempotent: bool  # False: only 429 is retried
    attempts: int | None  # overrides ``max_attempts`` for this request (1: a quick probe, no retries)


@dataclass(frozen=True)
class JsonReply:
    """A successful response: the decoded JSON body (None when empty), its headers, and the URL of the
    ``Link: <...>; rel="next"`` header when there is one."""

    body: Any
    headers: httpx.Headers
    next_url: str | None = None


class JsonHttpClient:
    """HTTP client bound to one remote system.

    ``request_json`` retries 429 (honouring ``Retry-After``, capped at ``max_retry_after_s``), 5xx,
    timeouts and connection errors up to ``max_attempts`` times with jittered exponential backoff, then
    raises ``RateLimitedError`` / ``RemoteUnavailableError``. Other statuses raise at once through
    ``error_from_http_status``. Response bodies are never logged (they may hold personal data).

    A request sent with ``idempotent=False`` (a create, a comment) retries only 429, which the remote did
    not apply: after a timeout, a connection failure or a 5xx it may have been applied, so the error goes
    to the caller, whose retry looks the state up first. ``retry_delay`` reads the wait out of a failed
    response for remotes that do not send ``Retry-After`` (it is also the error's ``retry_after_s``).
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
        retry_delay: Callable[[httpx.Response], float | None] = retry_after_header,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.system = system
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._retry_delay = retry_delay
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

    def request_json(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Any:
        """Send one request (retrying as documented) and return the decoded JSON body (None when empty)."""
        return self.request(method, path, **options).body

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        attempts: int | None = None,
    ) -> JsonReply:
        """As ``request_json``, returning the response's headers too. ``data`` sends a form body instead of
        JSON; ``idempotent=False`` retries only 429 (see the class docstring); ``attempts`` overrides
        ``max_attempts`` for this request."""
        url = path.lstrip("/") if not path.startswith("http") else path
        last_error: ConnectorError | None = None
        max_attempts = max(1, attempts) if attempts is not None else self.max_attempts
        for attempt in range(1, max_attempts + 1):
            try:
                response = self._client.request(
                    method, url, params=params, json=json, data=data, headers=headers
                )
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
                    next_url = response.links.get("next", {}).get("url")
                    body = response.json() if response.content else None
                    return JsonReply(body, response.headers, next_url or None)
                retry_after = self._retry_delay(response)
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
            if not idempotent and not isinstance(last_error, RateLimitedError):
                raise last_error  # it may have been applied: never sent twice
            if attempt < max_attempts:
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
        return connector_error(RemoteUnavailableError, self.system, message)


class HttpAdapter:
    """Base of the adapters that reach one remote system through one :class:`JsonHttpClient`.

    A subclass sets ``SYSTEM`` and passes its credentials; ``options`` (retries, backoff, test transport)
    go to the client unchanged. The ``repr`` names the base URL only, never a credential.
    """

    SYSTEM: ClassVar[str]

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_delay: Callable[[httpx.Response], float | None] = retry_after_header,
        **options: Unpack[ClientOptions],
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = JsonHttpClient(
            system=self.SYSTEM,
            base_url=self._base_url,
            auth=auth,
            headers=headers,
            timeout_s=timeout_s,
            retry_delay=retry_delay,
            **options,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    @property
    def system(self) -> str:
        """The remote system's name, as in errors and DTOs."""
        return self.SYSTEM

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def _next_page(self, url: str | None, *, remote: str) -> str | None:
        """A next-page URL the remote sent, refused when it leaves the base URL's origin (the credentials
        must not follow it there); ``remote`` names the place in the error."""
        if url is None:
            return None
        base, target = urlsplit(self._base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise connector_error(
                RemoteUnavailableError, self.SYSTEM, f"next-page link points outside {remote}"
            )
        return url


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


__all__ = [
    "ClientOptions",
    "HttpAdapter",
    "JsonHttpClient",
    "JsonReply",
    "RequestOptions",
    "RateLimitedError",
    "RemoteUnavailableError",
    "connector_error",
    "parse_retry_after",
    "retry_after_header",
]
