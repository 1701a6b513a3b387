"""In a real browser: a manager opens the ROI report, clicks Download PDF and gets the report's figures."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Role
from services.reports.history import generate_history
from tests.browser.conftest import serve
from tests.conftest import make_settings

PASSWORD = "correct horse battery"
PERIOD = "start=2026-11-02&end=2026-11-29"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    generate_history(
        sessions, conversations=300, tickets=120, weeks=4, end=datetime(2026, 11, 30, tzinfo=UTC)
    )
    with session_scope(sessions) as db_session:
        manager = Employee(
            email="mo@example.com", display_name="Mo Ødegård", password_hash=hash_password(PASSWORD)
        )
        manager.role_grants.append(EmployeeRole(role=Role.MANAGER))
        db_session.add(manager)
    engine.dispose()
    yield from serve(create_app(settings))


def test_manager_downloads_the_roi_report_as_pdf_with_the_pages_deflection(
    browser: Browser, site: str
) -> None:
    page = browser.new_page()
    page.goto(f"{site}/login?next={quote(f'/reports/roi?{PERIOD}', safe='')}")
    page.get_by_label("Work e-mail").fill("mo@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Return on investment")).to_be_visible()
    deflection = page.get_by_test_id("deflection").inner_text().strip()
    assert deflection.endswith("%")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value

    assert download.suggested_filename == "deskpilot-roi-2026-11-02-2026-11-29.pdf"
    reader = PdfReader(io.BytesIO(Path(download.path()).read_bytes()))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert f"Deflection {deflection}" in text and "2026-11-02 to 2026-11-29" in text
    page.close()
