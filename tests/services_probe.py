"""Where the integration tests find PostgreSQL and Redis, and whether they answer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

POSTGRES_ADMIN_URL = os.environ.get(
    "DESKPILOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("DESKPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def running_in_ci() -> bool:
    """True under CI, where a missing service is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Probe:
    """Result of contacting one service."""

    ok: bool
    detail: str


@lru_cache(maxsize=1)
def probe_postgres() -> Probe:
    """Connect to the admin database and read the server version."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL)
    try:
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, connect_timeout=3
        ) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        return Probe(True, f"PostgreSQL {version[0] if version else '?'} at {url.host}:{url.port or 5432}")
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return Probe(False, f"PostgreSQL unreachable at {url.host}:{url.port or 5432} ({exc})")


@lru_cache(maxsize=1)
def probe_redis() -> Probe:
    """PING Redis and read its version."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
        return Probe(True, f"Redis {client.info('server').get('redis_version', '?')} at {REDIS_URL}")
    except Exception as exc:  # noqa: BLE001
        return Probe(False, f"Redis unreachable at {REDIS_URL} ({exc})")
    finally:
        client.close()


def describe() -> str:
    """One line for the pytest header."""
    return f"integration services: {probe_postgres().detail}; {probe_redis().detail}; CI={running_in_ci()}"
