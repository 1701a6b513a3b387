"""In a real browser: an employee asks in the web chat and rates the cited answer; an editor approves a
draft and the next question is answered from it; a manager is refused the admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from services.admin.app import create_app
from services.admin.auth import hash_password
from services.articles.models import ArticleDraft, DraftGenerator
from services.common.db import session_scope
from services.directory.models import Employee, EmployeeRole, Role
from tests.browser.conftest import serve
from tests.unit.conversations.harness import build_world

PASSWORD = "correct horse battery"


@dataclass
class Site:
    url: str
    draft_id: int


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    world = build_world(tmp_path)
    with session_scope(world.sessions) as db_session:
        for email, role in (
            ("eve@example.com", None),
            ("kim@example.com", Role.KNOWLEDGE_EDITOR),
            ("mo@example.com", Role.MANAGER),
        ):
            person = Employee(
                email=email, display_name=email.split("@")[0].title(), password_hash=hash_password(PASSWORD)
            )
            if role is not None:
                person.role_grants.append(EmployeeRole(role=role))
            db_session.add(person)
        draft = ArticleDraft(
            title="VPN certificate expired",
            body_markdown=(
                "# VPN certificate expired\n\n## Symptoms\n\nThe VPN client says the certificate expired.\n\n"
                "## Resolution\n\n1. Open Company Portal and renew the VPN certificate.\n"
            ),
            generator=DraftGenerator.EXTRACTIVE,
            confidence=0.6,
            cluster_size=3,
        )
        db_session.add(draft)
        db_session.flush()
        draft_id = draft.id
    app = create_app(world.settings)
    for url in serve(app):
        app.state.chat_orchestrator = world.orchestrator()
        app.state.knowledge_index = world.index
        yield Site(url, draft_id)
    world.engine.dispose()


def _sign_in(page: Page, url: str, email: str, path: str) -> None:
    page.goto(f"{url}/login?next={path}")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_employee_asks_in_the_web_chat_gets_a_cited_answer_and_rates_it(browser: Browser, site: Site) -> None:
    page = browser.new_page()
    _sign_in(page, site.url, "eve@example.com", "/chat")
    expect(page.get_by_role("heading", name="Ask IT")).to_be_visible()
    page.get_by_label("Your question").fill("my vpn keeps dropping")
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".turn.assistant").first
    expect(reply).to_contain_text("TCP")
    expect(reply.get_by_role("link", name="VPN keeps dropping")).to_be_visible()
    reply.get_by_role("button", name="Helpful", exact=True).click()
    expect(page.locator(".turn.assistant").nth(1)).to_contain_text("Thanks")
    page.close()


def test_editor_approves_a_draft_it_answers_the_next_question_and_a_manager_is_refused_admin(
    browser: Browser, site: Site
) -> None:
    editor = browser.new_page()
    _sign_in(editor, site.url, "kim@example.com", "/admin/drafts")
    editor.get_by_role("link", name="VPN certificate expired").click()
    editor.get_by_role("button", name="Approve and publish").click()
    expect(editor.get_by_test_id("draft-status")).to_have_text("approved")
    editor.get_by_role("link", name="published article").click()
    expect(editor.get_by_role("heading", name="VPN certificate expired")).to_be_visible()
    editor.close()

    employee = browser.new_page()
    _sign_in(employee, site.url, "eve@example.com", "/chat")
    employee.get_by_label("Your question").fill("the vpn says my certificate expired")
    employee.get_by_role("button", name="Send").click()
    answer = employee.locator(".turn.assistant").first
    expect(answer).to_contain_text("renew the VPN certificate")
    expect(answer.get_by_role("link", name="VPN certificate expired")).to_be_visible()
    employee.close()

    manager = browser.new_page()
    _sign_in(manager, site.url, "mo@example.com", "/admin")
    expect(manager.locator("body")).to_contain_text("You don't have access to this page.")
    manager.close()


def test_manager_reads_the_roi_report_and_downloads_csv_and_an_employee_is_refused(
    browser: Browser, site: Site
) -> None:
    manager = browser.new_page()
    _sign_in(manager, site.url, "mo@example.com", "/reports/roi")
    expect(manager.get_by_role("heading", name="Return on investment")).to_be_visible()
    expect(manager.get_by_text("How these figures are defined")).to_be_visible()
    with manager.expect_download() as download_info:
        manager.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("deskpilot-roi-") and download.suggested_filename.endswith(
        ".csv"
    )
    content = Path(download.path()).read_text(encoding="utf-8")
    assert "conversations" in content.lower()
    manager.close()

    employee = browser.new_page()
    _sign_in(employee, site.url, "eve@example.com", "/reports/roi")
    expect(employee.locator("body")).to_contain_text("You don't have access to this page.")
    employee.close()
