"""Seen-event memory: Slack redelivers events it thinks failed; each is handled once.

With Redis configured, ``SET key 1 NX EX ttl`` makes the check atomic across bot processes; without
(the embedded default, one process) an in-memory TTL map does the same. The database's unique
idempotency key on messages is the last line of defence either way.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class EventDeduper(Protocol):
    """``first_time(key)`` is True exactly once per key within the TTL."""

    def first_time(self, key: str) -> bool:
        """Claim ``key``; False when it was claimed before."""
        ...


class MemoryDeduper:
    """In-process TTL set (single-process deployments and tests)."""

    def __init__(self, ttl_s: float = 3600.0) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """Claim ``key``."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl_s}
            seen_at = self._seen.get(key)
            if seen_at is not None and now - seen_at < self.ttl_s:
                return False
            self._seen[key] = now
            return True


class RedisDeduper:
    """Redis ``SET NX EX`` claims, shared by every bot process."""

    def __init__(self, url: str, *, ttl_s: int = 3600, prefix: str = "deskpilot:event:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.ttl_s = ttl_s
        self.prefix = prefix

    def first_time(self, key: str) -> bool:
        """Claim ``key`` (raises redis errors: the caller decides whether to fail open)."""
        return bool(self._redis.set(self.prefix + key, "1", nx=True, ex=self.ttl_s))
