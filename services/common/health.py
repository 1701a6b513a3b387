"""Readiness checks of the dependencies a process needs: database, Redis (when configured), vector store.

The vector store is checked and reported, but its outage alone leaves the process ready: answers then
come from BM25 and the database (``knowledge.retrieve``), so taking the process out of service would
turn a degraded answer into none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from sqlalchemy import Engine, text

from services.common.config import Settings
from services.common.metrics import DEPENDENCY_UP

# Error texts may quote a URL; never echo its user:password part.
_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]+@")

DEGRADABLE_CHECKS = frozenset({"vector_store"})
"""Checks whose failure is reported (status "degraded") without making the process unready."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one dependency check."""

    name: str
    ok: bool
    latency_ms: float
    detail: str
    required: bool = True


@dataclass(frozen=True)
class Readiness:
    """All checks together; ready only when every check passed."""

    checks: tuple[CheckResult, ...]

    @property
    def ready(self) -> bool:
        """True when every required dependency answered."""
        return all(check.ok for check in self.checks if check.required)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready body for ``/readyz`` ("degraded" as soon as any check failed, required or not)."""
        return {
            "status": "ready" if all(check.ok for check in self.checks) else "degraded",
            "checks": {
                c.name: {
                    "ok": c.ok,
                    "latency_ms": round(c.latency_ms, 1),
                    "detail": c.detail,
                    "required": c.required,
                }
                for c in self.checks
            },
        }


def check_database(engine: Engine) -> str:
    """Run ``SELECT 1`` and check the schema is migrated to head; returns the backend and revision."""
    from services.common.migrate import ensure_schema_current

    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return f"{engine.dialect.name}, schema {ensure_schema_current(engine)}"


def check_redis(url: str, timeout_s: float) -> str:
    """PING Redis; returns the server version."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
        info = client.info("server")
        return f"redis {info.get('redis_version', '?')}"
    finally:
        client.close()


def check_vector_store(settings: Settings) -> str:
    """Heartbeat the Chroma client (embedded or server)."""
    from knowledge.store import vector_store_heartbeat

    vector_store_heartbeat(settings.chroma)
    return f"chroma server {settings.chroma.host}" if settings.chroma.host else "chroma embedded"


def build_readiness_checks(settings: Settings, engine: Engine) -> dict[str, Callable[[], str]]:
    """The checks this process's configuration calls for."""
    checks: dict[str, Callable[[], str]] = {
        "database": lambda: check_database(engine),
        "vector_store": lambda: check_vector_store(settings),
    }
    redis_url = settings.redis.url
    if redis_url:
        timeout = settings.redis.socket_timeout_s
        checks["redis"] = lambda: check_redis(redis_url, timeout)
    return checks


def run_readiness_checks(
    checks: dict[str, Callable[[], str]], *, timeout_s: float, executor: ThreadPoolExecutor
) -> Readiness:
    """Run checks concurrently; a check that raises or exceeds ``timeout_s`` fails with its reason."""
    started = time.perf_counter()
    futures = {name: executor.submit(_timed, fn) for name, fn in checks.items()}
    results: list[CheckResult] = []
    for name, future in futures.items():
        remaining = max(0.0, timeout_s - (time.perf_counter() - started))
        required = name not in DEGRADABLE_CHECKS
        try:
            detail, latency_ms = future.result(timeout=remaining)
            results.append(CheckResult(name, True, latency_ms, detail, required))
        except FutureTimeout:
            results.append(
                CheckResult(name, False, timeout_s * 1000, f"timed out after {timeout_s:g} s", required)
            )
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "not ready"
            elapsed = (time.perf_counter() - started) * 1000
            reason = _CREDENTIALS_IN_URL.sub("://***@", f"{type(exc).__name__}: {exc}")
            results.append(CheckResult(name, False, elapsed, reason[:300], required))
        DEPENDENCY_UP.labels(dependency=name).set(1 if results[-1].ok else 0)
    return Readiness(tuple(results))


def _timed(fn: Callable[[], str]) -> tuple[str, float]:
    started = time.perf_counter()
    detail = fn()
    return detail, (time.perf_counter() - started) * 1000
