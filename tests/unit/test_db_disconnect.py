"""Telling a lost database connection from other errors, and waiting for the database to come back."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from services.common.db import DatabaseRetry, DatabaseUnavailableError, is_database_disconnect


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises around a driver error (``raise ... from orig``, as it does)."""
    error = sa_exc.DBAPIError.instance("SELECT 1", {}, orig, Exception, connection_invalidated=invalidated)
    assert isinstance(error, sa_exc.DBAPIError)
    error.__cause__ = orig
    return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.OperationalError("connection refused"), True),  # no SQLSTATE: client side
        (pg_errors.AdminShutdown("terminating connection due to administrator command"), True),
        (pg_errors.CannotConnectNow("the database system is starting up"), True),
        (pg_errors.ConnectionFailure("connection failure"), True),
        (_wrapped(psycopg.OperationalError("server closed the connection unexpectedly")), True),
        (_wrapped(psycopg.InterfaceError("connection is closed"), invalidated=True), True),
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (pg_errors.LockNotAvailable("could not obtain lock"), False),
        (_wrapped(pg_errors.UniqueViolation("duplicate key")), False),
        (_wrapped(sqlite3.OperationalError("database is locked")), False),
        (ValueError("unrelated"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_only_lost_or_refused_connections_are_disconnects(error: BaseException, expected: bool) -> None:
    assert is_database_disconnect(error) is expected


def test_an_error_raised_while_handling_a_disconnect_is_one() -> None:
    """session_scope's rollback failing on the dead connection raises a second error over the first."""
    with pytest.raises(RuntimeError) as caught:
        try:
            raise psycopg.OperationalError("consuming input failed")
        except psycopg.OperationalError:
            raise RuntimeError("rollback failed too")  # noqa: B904 - the implicit context is the point
    assert is_database_disconnect(caught.value)


def test_work_is_tried_again_while_the_connection_is_lost_then_returns() -> None:
    attempts: list[int] = []

    def work(attempt: int) -> str:
        attempts.append(attempt)
        if attempt < 2:
            raise _wrapped(psycopg.OperationalError("connection refused"))
        return "answered"

    retry = DatabaseRetry(window_s=5, first_delay_s=0.01)
    assert retry.run(work) == "answered"
    assert attempts == [0, 1, 2]


def test_other_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def work(attempt: int) -> None:
        attempts.append(attempt)
        raise _wrapped(pg_errors.UniqueViolation("duplicate key"))

    with pytest.raises(sa_exc.DBAPIError):
        DatabaseRetry(window_s=5, first_delay_s=0.01).run(work)
    assert attempts == [0]


def test_an_outage_longer_than_the_window_fails_and_later_calls_do_not_wait_a_window_each() -> None:
    def down(_attempt: int) -> None:
        raise psycopg.OperationalError("connection refused")

    retry = DatabaseRetry(window_s=0.3, first_delay_s=0.05)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError):
        retry.run(down)
    assert 0.3 <= time.monotonic() - started < 1.0

    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError):
        retry.run(down)  # the outage already lasted the window: one attempt only
    assert time.monotonic() - started < 0.05

    assert retry.run(lambda _attempt: "back") == "back"  # a success ends the outage
    attempts: list[int] = []

    def flaky(attempt: int) -> str:
        attempts.append(attempt)
        if attempt == 0:
            raise psycopg.OperationalError("connection refused")
        return "answered"

    assert retry.run(flaky) == "answered" and attempts == [0, 1]
