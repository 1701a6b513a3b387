"""The ROI report as PDF: the page's figures for the same period and history, definitions and sources,
text in any script, roles and the audit of the download."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.audit.models import AuditEntry
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Role
from services.reports.history import generate_history
from services.reports.pdf import latin1, roi_report_pdf
from services.reports.roi import (
    DEFAULT_SOURCES,
    GeneratedArticlesUsage,
    RoiAssumptions,
    RoiBreakdownRow,
    RoiMetrics,
    RoiReport,
    UnansweredQuestion,
    build_roi_report,
)
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
HISTORY_END = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday: four full weeks before it
PERIOD = "start=2026-11-02&end=2026-11-29"
FOOTER = re.compile(r"Deskpilot ROI report - page \d+/\d+")


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    yield build_session_factory(engine)
    engine.dispose()


@pytest.fixture
def client(tmp_path: Path, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    generate_history(sessions, conversations=400, tickets=200, weeks=4, end=HISTORY_END)
    with session_scope(sessions) as db_session:
        for email, role in (
            ("mo.boss@example.com", Role.MANAGER),
            ("ada.admin@example.com", Role.ADMIN),
            ("eve.staff@example.com", None),
        ):
            person = Employee(email=email, display_name=email[:3], password_hash=hash_password(PASSWORD))
            if role is not None:
                person.role_grants.append(EmployeeRole(role=role))
            db_session.add(person)
    with TestClient(create_app(make_settings(tmp_path)), base_url="https://testserver") as test_client:
        yield test_client


def _sign_in(client: TestClient, email: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})


def pdf_text(data: bytes) -> str:
    """All the PDF's text without page footers, whitespace collapsed (lines wrap between any words)."""
    pages = PdfReader(io.BytesIO(data)).pages
    text = " ".join(FOOTER.sub(" ", page.extract_text()) for page in pages)
    return " ".join(text.split())


def _squash(text: str) -> str:
    return " ".join(text.split())


def _tile(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]+)<', page)
    assert found, testid
    return _squash(found.group(1))


def test_manager_pdf_shows_the_pages_figures_period_definitions_and_sources(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _sign_in(client, "mo.boss@example.com")
    page = client.get(f"/reports/roi?{PERIOD}").text
    assert f'href="/reports/roi.pdf?{PERIOD}"' in page

    response = client.get(f"/reports/roi.pdf?{PERIOD}")

    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert 'filename="deskpilot-roi-2026-11-02-2026-11-29.pdf"' in response.headers["content-disposition"]
    text = pdf_text(response.content)
    tiles = {testid: _tile(page, testid) for testid in ("conversations", "deflection", "hours-saved")}
    assert int(tiles["conversations"]) > 0 and tiles["deflection"].endswith("%")
    for value in tiles.values():
        assert value in text
    assert _tile(page, "money-saved") in text  # "USD 4,880"
    assert "2026-11-02 to 2026-11-29" in text
    with session_scope(sessions) as db_session:
        report = build_roi_report(
            db_session, start=datetime(2026, 11, 2, tzinfo=UTC), end=datetime(2026, 11, 30, tzinfo=UTC)
        )
    for department in report.by_department:  # every breakdown row, with its deflection as the page has it
        rate = "-" if department.deflection_rate is None else f"{department.deflection_rate * 100:.1f} %"
        assert f"{department.key} {department.conversations} {rate}" in text
    for week in report.by_week:
        assert f"{week.key} {week.conversations} " in text
    for question in report.top_unanswered:
        assert _squash(latin1(f"{question.text} ({question.count})")) in text
    assert "How these figures are defined" in text and "Sources of the cost assumptions" in text
    for definition in report.definitions.values():
        assert _squash(definition) in text
    for source in DEFAULT_SOURCES:
        assert _squash(source) in text


def test_pdf_download_is_audited_and_admins_may_download_it(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    _sign_in(client, "ada.admin@example.com")
    assert client.get(f"/reports/roi.pdf?{PERIOD}").status_code == 200
    with session_scope(sessions) as db_session:
        entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "report.exported")).one()
    assert entry.actor_label == "ada.admin@example.com" and entry.details["format"] == "pdf"
    assert entry.details["start"].startswith("2026-11-02")


def test_employees_are_refused_the_pdf_and_a_reversed_period_is_rejected(client: TestClient) -> None:
    _sign_in(client, "eve.staff@example.com")
    assert client.get(f"/reports/roi.pdf?{PERIOD}").status_code == 403
    _sign_in(client, "mo.boss@example.com")
    assert client.get("/reports/roi.pdf?start=2026-05-01&end=2026-01-01").status_code == 400


def _row(key: str | None, conversations: int, deflected: int, week: date | None = None) -> RoiBreakdownRow:
    support = conversations
    return RoiBreakdownRow(
        key=key,
        week_start=week,
        conversations=conversations,
        support_conversations=support,
        deflected=deflected,
        deflection_rate=round(deflected / support, 4) if support else None,
    )


def test_text_in_any_script_is_drawn_without_failing_and_deterministically() -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    report = RoiReport(
        start=start,
        end=start + timedelta(weeks=2),
        assumptions=RoiAssumptions(currency="€"),
        definitions={"deflection": "Deflected — “helpful” or no ticket…"},
        totals=RoiMetrics(conversations=12, support_conversations=10, deflected=7, deflection_rate=0.7),
        by_week=[_row("2026-W45", 5, 3, start.date()), _row("2026-W46", 7, 4, (start + timedelta(7)).date())],
        by_department=[_row("Recherche & Développement — Zürich", 8, 5), _row("営業部", 4, 2)],
        by_intent=[_row(None, 12, 7)],
        top_unanswered=[UnansweredQuestion(text="can’t reach “Łódź” VPN 🙈", count=2)],
        generated_articles=GeneratedArticlesUsage(),
    )

    data = roi_report_pdf(report)

    text = pdf_text(data)
    assert "Recherche & Développement - Zürich 8 62.5 %" in text
    assert "??? 4 50.0 %" in text
    assert 'can\'t reach "Lódz" VPN ? (2)' in text
    assert 'Deflected - "helpful" or no ticket...' in text and "Saved (EUR)" in text
    assert "Deflection 70.0 %" in text
    assert roi_report_pdf(report) == data


def test_an_empty_period_still_gives_a_readable_pdf(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as db_session:
        report = build_roi_report(
            db_session, start=datetime(2026, 1, 5, tzinfo=UTC), end=datetime(2026, 1, 12, tzinfo=UTC)
        )

    text = pdf_text(roi_report_pdf(report))

    assert "Conversations 0" in text and "Deflection -" in text
    assert "No data in this period." in text and "None in this period." in text
