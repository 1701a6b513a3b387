"""ROI report on PostgreSQL: build time over 12 weeks of generated history (100k conversations, 50k tickets).

Setup: a scratch database on the server (default ``deskpilot_roi_bench``; dropped at the end unless
``--keep``), migrated to head, filled by ``services.reports.history.generate_history`` (bulk Core inserts),
then ``VACUUM ANALYZE`` (what autovacuum does to a live database; it keeps index-only scans possible).
``build_roi_report`` then runs over the generated 12 weeks ``--runs`` times (after one warm-up run, so the
figures are for a warm cache, as on a server that serves the page); the target is a median <= 1000 ms.

Needs PostgreSQL on localhost (as for the integration tests).
Run: ``.venv/bin/python -m bench.roi_report [--conversations 100000] [--tickets 50000] [--runs 5]``
``[--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]``
``[--database deskpilot_roi_bench] [--keep]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import emit
from services.automations.models import AutomationRun
from services.common.config import DatabaseSettings
from services.common.db import build_engine, build_session_factory
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import Conversation, Feedback, Message
from services.directory.models import Employee
from services.kb.models import Article
from services.reports.history import generate_history
from services.reports.roi import build_roi_report
from services.tickets.models import Ticket

TARGET_MS = 1000.0


@contextmanager
def scratch_database(admin_url: str, name: str, *, keep: bool) -> Iterator[str]:
    """A new, empty database ``name`` on the server of ``admin_url`` (replaced if it exists)."""
    admin = make_url(admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE the whole database (outside a transaction)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Create, fill, time, report."""
    with scratch_database(args.postgres_url, args.database, keep=args.keep) as url:
        upgrade(build_alembic_config(database_url=url))
        engine = build_engine(DatabaseSettings(url=url))
        try:
            sessions = build_session_factory(engine)
            began = time.perf_counter()
            history = generate_history(
                sessions,
                conversations=args.conversations,
                tickets=args.tickets,
                weeks=args.weeks,
                seed=args.seed,
            )
            generate_s = time.perf_counter() - began
            began = time.perf_counter()
            vacuum_analyze(url)
            vacuum_s = time.perf_counter() - began

            with sessions() as session:
                counts = {
                    model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    for model in (Employee, Conversation, Message, Feedback, Ticket, AutomationRun, Article)
                }
                build_roi_report(session, start=history.start, end=history.end)  # warm-up
                timings = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    report = build_roi_report(session, start=history.start, end=history.end)
                    timings.append((time.perf_counter() - began) * 1000)
        finally:
            engine.dispose()

    median = statistics.median(timings)
    totals = report.totals
    return {
        "benchmark": "roi_report",
        "database": "postgresql",
        "period": {"start": history.start, "end": history.end, "weeks": args.weeks},
        "rows": counts,
        "generate_s": round(generate_s, 1),
        "vacuum_analyze_s": round(vacuum_s, 1),
        "report_ms": {
            "runs": args.runs,
            "min": round(min(timings), 1),
            "median": round(median, 1),
            "max": round(max(timings), 1),
            "all": [round(t, 1) for t in timings],
        },
        "target_ms": TARGET_MS,
        "within_target": median <= TARGET_MS,
        "report_summary": {
            "conversations": totals.conversations,
            "deflection_rate": totals.deflection_rate,
            "automation_success_rate": totals.automation_success_rate,
            "tickets": totals.tickets,
            "mttr_bot_hours_median": totals.mttr_bot_hours_median,
            "mttr_agent_hours_median": totals.mttr_agent_hours_median,
            "agent_hours_saved": totals.agent_hours_saved,
            "money_saved": totals.money_saved,
            "satisfaction": totals.satisfaction,
            "weeks": len(report.by_week),
            "departments": len(report.by_department),
            "intents": len(report.by_intent),
            "top_unanswered": report.top_unanswered[0].model_dump() if report.top_unanswered else None,
            "generated_articles": report.generated_articles.model_dump(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="deskpilot_roi_bench")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    emit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
