"""Domain error tree. Adapters translate vendor errors into these at the seam; one handler maps to HTTP."""

from __future__ import annotations


class DeskpilotError(Exception):
    """Base of every error Deskpilot raises on purpose."""

    http_status = 500
    code = "internal_error"


class RetryableError(DeskpilotError):
    """A transient failure (timeout, 5xx, rate limit): the same call may succeed later."""

    http_status = 503
    code = "temporarily_unavailable"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(DeskpilotError):
    """A failure that repeating the same call cannot fix (bad input, forbidden, conflict)."""

    http_status = 400
    code = "bad_request"


class NotFoundError(PermanentError):
    """The thing asked for does not exist."""

    http_status = 404
    code = "not_found"


class FeatureNotAvailableError(PermanentError):
    """A command or feature that this build does not provide yet."""

    http_status = 501
    code = "not_implemented"
