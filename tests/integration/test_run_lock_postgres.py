"""Ingestion runs of one source are serialised on PostgreSQL (a session-level advisory lock)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from tests.run_lock_checks import check_runs_of_one_source_are_serialised


def test_runs_of_one_source_wait_for_each_other_and_others_do_not(postgres_engine: Engine) -> None:
    check_runs_of_one_source_are_serialised(sessionmaker(bind=postgres_engine))
