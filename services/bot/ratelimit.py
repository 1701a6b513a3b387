"""Per-employee message rate limit: a fixed window counter (Redis when configured, else in memory)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    """``allow(key)`` is True while ``key`` has sent fewer than the limit in the current window."""

    def allow(self, key: str) -> bool:
        """Count one message for ``key``; False once over the limit."""
        ...


class MemoryRateLimiter:
    """In-process fixed windows."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one message for ``key``."""
        window = int(time.time() // self.window_s)
        with self._lock:
            if len(self._counts) > 50_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
            count = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = count
            return count <= self.limit


class RedisRateLimiter:
    """Fixed windows in Redis (``INCR`` + ``EXPIRE``), shared by every bot process."""

    def __init__(self, url: str, limit: int, window_s: int = 60, prefix: str = "deskpilot:rate:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.limit, self.window_s, self.prefix = limit, window_s, prefix

    def allow(self, key: str) -> bool:
        """Count one message for ``key``."""
        name = f"{self.prefix}{key}:{int(time.time() // self.window_s)}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, self.window_s * 2)
        count, _ = pipe.execute()
        return int(count) <= self.limit
