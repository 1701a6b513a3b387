"""The ROI report gives identical figures on PostgreSQL and SQLite for the same generated history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.config import DatabaseSettings
from services.common.db import build_engine, build_session_factory
from services.common.migrate import build_alembic_config, upgrade
from services.reports.history import generate_history
from services.reports.roi import RoiAssumptions, RoiReport, build_roi_report
from tests.integration.conftest import _require, temporary_postgres_database
from tests.services_probe import probe_postgres

END = datetime(2026, 11, 30, tzinfo=UTC)
# A sub-period cuts conversations, their tickets and runs apart at both ends.
PART_START, PART_END = END - timedelta(days=30, hours=5), END - timedelta(days=9, hours=7)
PART_ASSUMPTIONS = RoiAssumptions(deflection_window_hours=48, handle_minutes={"vpn_issue": 12.5})


def _reports(url: str) -> tuple[RoiReport, RoiReport]:
    """Migrate, generate the history, and build the whole-history and sub-period reports."""
    upgrade(build_alembic_config(database_url=url))
    engine = build_engine(DatabaseSettings(url=url))
    try:
        sessions = build_session_factory(engine)
        history = generate_history(sessions, conversations=1500, tickets=700, weeks=6, seed=3, end=END)
        with sessions() as db:
            whole = build_roi_report(db, start=history.start, end=history.end)
            part = build_roi_report(db, start=PART_START, end=PART_END, assumptions=PART_ASSUMPTIONS)
        return whole, part
    finally:
        engine.dispose()


def test_sqlite_and_postgres_give_identical_reports(tmp_path: Path) -> None:
    _require(probe_postgres())
    with temporary_postgres_database() as url:
        postgres_whole, postgres_part = _reports(url)
    sqlite_whole, sqlite_part = _reports(f"sqlite:///{tmp_path / 'roi.db'}")

    assert postgres_whole.totals.conversations == 1500
    assert postgres_whole.totals.tickets == 700
    assert postgres_whole.totals.deflected > 0 and postgres_whole.top_unanswered
    assert 0 < postgres_part.totals.conversations < 1500
    assert postgres_whole.model_dump() == sqlite_whole.model_dump()
    assert postgres_part.model_dump() == sqlite_part.model_dump()
