"""Database foundation: declarative Base with stable constraint names, engine factory, session scope,
and telling a lost database connection from other errors (to wait for PostgreSQL to come back)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from services.common.config import DatabaseSettings

logger = logging.getLogger(__name__)

# Stable names let Alembic autogenerate and downgrade refer to constraints on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON on every backend, JSONB (indexable, compact) on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use services.common.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base class of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class TimestampMixin:
    """created_at / updated_at columns maintained by the ORM."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def build_engine(settings: DatabaseSettings) -> Engine:
    """Create the process's engine; on SQLite, create the file's folder and enforce foreign keys.

    On SQLite a writer waits up to 30 s for the write lock (``busy_timeout``): under concurrent web chat
    requests, writers queue for longer than SQLite's usual 5 s and failed with "database is locked".
    """
    if settings.is_sqlite:
        _prepare_sqlite_file(settings.url)
        engine = create_engine(
            settings.url,
            echo=settings.echo,
            connect_args={"check_same_thread": False, "timeout": settings.pool_timeout_s},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # pool_pre_ping: after a PostgreSQL restart every pooled connection is dead; each checkout tests its
    # connection and replaces a dead one instead of failing the first request on it.
    return create_engine(
        settings.url,
        echo=settings.echo,
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
    )


def build_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success, rolls back on error and always closes."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# SQLSTATEs of a lost or refused connection: class 08 (connection exception), and the server shutting
# down (57P01 admin, 57P02 crash) or not accepting connections yet (57P03, starting up or recovering).
_DISCONNECT_SQLSTATES = ("57P01", "57P02", "57P03")


def is_database_disconnect(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it wraps) is a lost or refused PostgreSQL connection.

    Such work may succeed once the server is back; query errors, constraint violations, lock or statement
    timeouts and SQLite's "database is locked" are not disconnects.
    """
    import psycopg

    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            pending.append(current.orig)
        if isinstance(current, psycopg.OperationalError):
            sqlstate = current.sqlstate
            if sqlstate is None or sqlstate.startswith("08") or sqlstate in _DISCONNECT_SQLSTATES:
                return True
        pending.extend((current.__cause__, current.__context__))
    return False


class DatabaseUnavailableError(RuntimeError):
    """The database stayed unreachable for the whole retry window."""


R = TypeVar("R")


class DatabaseRetry:
    """Runs work again, with short backoff, while its database connection is lost (disconnects only).

    A call waits at most ``window_s``. The outage is shared by every caller: once the database has been
    unreachable for ``window_s``, a new call fails after its first attempt instead of queueing behind
    others for a full window each; the first success ends the outage.
    """

    def __init__(
        self, window_s: float = 30.0, *, first_delay_s: float = 0.25, max_delay_s: float = 2.0
    ) -> None:
        self.window_s = window_s
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self._down_since: float | None = None
        self._lock = threading.Lock()

    def run(self, work: Callable[[int], R], *, what: str = "database work") -> R:
        """``work(attempt)`` (attempt 0, 1, ...) until it returns; raises :class:`DatabaseUnavailableError`
        when the window is over, and any other error at once."""
        started = time.monotonic()
        delay = self.first_delay_s
        attempt = 0
        while True:
            try:
                result = work(attempt)
            except Exception as exc:
                if not is_database_disconnect(exc):
                    raise
                now = time.monotonic()
                with self._lock:
                    if self._down_since is None:
                        self._down_since = now
                    give_up_at = min(started, self._down_since) + self.window_s
                if now >= give_up_at:
                    raise DatabaseUnavailableError(
                        f"database unreachable for {now - started:.1f} s ({what})"
                    ) from exc
                logger.warning(
                    "database unreachable, retrying",
                    extra={"what": what, "attempt": attempt + 1, "error": type(exc).__name__},
                )
                time.sleep(min(delay, give_up_at - now))  # the last attempt is made at the deadline
                delay = min(delay * 2, self.max_delay_s)
                attempt += 1
                continue
            if self._down_since is not None:
                with self._lock:
                    self._down_since = None
            return result


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E]):
    """A StrEnum stored as VARCHAR(32).

    The database keeps the plain value (no native enum, no CHECK), so later issues add members without a
    migration; the ORM refuses values outside the enum on write and read.
    """

    impl = String(32)
    cache_ok = True

    def __init__(self, enum_cls: type[E]) -> None:
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_cls(value)
