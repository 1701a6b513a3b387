"""Integration fixtures: a throwaway PostgreSQL database per run, per-test rollback, Redis on a test db.

Outside CI a missing service skips these tests with the reason; with ``CI=true`` it fails them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services.common.migrate import build_alembic_config, upgrade
from tests import factories
from tests.services_probe import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    Probe,
    probe_postgres,
    probe_redis,
    running_in_ci,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration as ``integration``."""
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


def _require(probe: Probe) -> None:
    if probe.ok:
        return
    if running_in_ci():
        pytest.fail(f"CI=true and a required service is missing: {probe.detail}", pytrace=False)
    pytest.skip(f"{probe.detail}; start it (see DEVELOPERS.md) or run with CI=true to make this a failure")


@contextmanager
def temporary_postgres_database() -> Iterator[str]:
    """Create an empty database on the test server; yields its SQLAlchemy URL and drops it afterwards."""
    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"deskpilot_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated (``upgrade head``) PostgreSQL database shared by the run."""
    _require(probe_postgres())
    with temporary_postgres_database() as url:
        upgrade(build_alembic_config(database_url=url))
        yield url


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(postgres_engine: Engine) -> Iterator[Session]:
    """A session whose commits become savepoints of an outer transaction rolled back after the test."""
    connection = postgres_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    factories.bind_session(session)
    try:
        yield session
    finally:
        factories.bind_session(None)
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis test database, emptied before and after each test."""
    _require(probe_redis())
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()
