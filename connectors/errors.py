"""Connector error tree. Adapters raise these, never vendor or HTTP-library exceptions."""

from __future__ import annotations

from services.common.errors import NotFoundError, PermanentError, RetryableError


class ConnectorError(Exception):
    """Mixin marking an error raised at a connector seam; ``system`` names the remote system."""

    system: str = "unknown"


class AuthError(PermanentError, ConnectorError):
    """401/403: credentials are missing, wrong or lack permission."""

    code = "connector_auth_failed"


class RemoteNotFoundError(NotFoundError, ConnectorError):
    """404: the remote object does not exist."""


class ConflictError(PermanentError, ConnectorError):
    """409: the remote refused because of the object's current state."""

    code = "connector_conflict"


class RemoteRejectedError(PermanentError, ConnectorError):
    """Another 4xx: our request is wrong; repeating it will not help."""

    code = "connector_rejected"


class RateLimitedError(RetryableError, ConnectorError):
    """429: slow down; ``retry_after_s`` says for how long when the remote told us."""

    code = "connector_rate_limited"


class RemoteUnavailableError(RetryableError, ConnectorError):
    """5xx, timeouts and connection failures: the remote may recover."""

    code = "connector_unavailable"


def error_from_http_status(
    system: str, status: int, message: str, *, retry_after_s: float | None = None
) -> ConnectorError:
    """Map an HTTP status to our error tree (401/403 auth, 404, 409, 429, other 4xx, 5xx)."""
    text = f"{system}: HTTP {status}: {message}"[:500]
    error: ConnectorError
    if status in (401, 403):
        error = AuthError(text)
    elif status == 404:
        error = RemoteNotFoundError(text)
    elif status == 409:
        error = ConflictError(text)
    elif status == 429:
        error = RateLimitedError(text, retry_after_s=retry_after_s)
    elif 400 <= status < 500:
        error = RemoteRejectedError(text)
    else:
        error = RemoteUnavailableError(text, retry_after_s=retry_after_s)
    error.system = system
    return error
