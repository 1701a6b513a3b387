"""In a real browser: a knowledge editor opens an intent, adds examples, retrains, and the test box then
ranks the intent first for a message it did not recognise before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from connectors.fakes.embedder import HashingEmbedder
from services.admin.app import create_app
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.router.models import Intent
from services.router.repo import sync_catalog
from services.router.training import intents_train_flow
from tests.browser.conftest import serve
from tests.conftest import make_settings
from tests.unit.web.test_admin_intents import CATALOG, NEW_PHRASE
from tests.web_support import EDITOR, PASSWORD, add_people


@dataclass
class Site:
    url: str
    intent_id: int


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = make_settings(tmp_path, router={"model_dir": tmp_path / "models"})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    add_people(sessions, [EDITOR])
    embedder = HashingEmbedder()
    with session_scope(sessions) as db_session:
        sync_catalog(db_session=db_session, catalog=CATALOG)
        intent_id = db_session.scalars(select(Intent.id).where(Intent.name == "talk_to_human")).one()
    intents_train_flow(sessions, embedder=embedder, model_dir=settings.router.model_dir)
    app = create_app(settings)
    app.state.intent_embedder = embedder
    for url in serve(app):
        yield Site(url, intent_id)
    engine.dispose()


def _classify(page: Page, message: str) -> None:
    page.get_by_label("Message an employee might send").fill(message)
    page.get_by_role("button", name="Classify").click()


def test_editor_adds_examples_retrains_and_the_test_box_ranks_the_intent_first(
    browser: Browser, site: Site
) -> None:
    page = browser.new_page()
    page.goto(f"{site.url}/login?next=/admin/intents")
    page.get_by_label("Work e-mail").fill(EDITOR.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Intents", exact=True)).to_be_visible()
    page.get_by_role("link", name="talk_to_human").click()
    expect(page.get_by_role("heading", name="talk_to_human")).to_be_visible()

    _classify(page, NEW_PHRASE)
    expect(page.get_by_test_id("rank-1")).not_to_have_text("talk_to_human")

    for example in ("my badge does not open the door", "the door will not open with my badge"):
        page.get_by_label("New example").fill(example)
        page.get_by_role("button", name="Add example").click()
        expect(page.get_by_role("status").first).to_contain_text("Example added")
        expect(page.locator("ul.examples")).to_contain_text(example)

    page.get_by_label("New example").fill("human please")
    page.get_by_role("button", name="Add example").click()
    expect(page.get_by_role("alert")).to_contain_text("is already an example of this intent")

    page.get_by_role("button", name="Retrain now").click()
    expect(page.get_by_test_id("retrain-status")).to_contain_text("succeeded")

    _classify(page, NEW_PHRASE)
    expect(page.get_by_test_id("rank-1")).to_have_text("talk_to_human")
    expect(page.get_by_test_id("test-route")).to_have_text("handoff")
    page.close()
