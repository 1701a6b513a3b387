"""Knowledge source pages: create and edit with validation, test the connection (emulator, dead port,
missing token), sync now (the run and its per-document errors on the page); admins only; no secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.fakes.embedder import HashingEmbedder
from connectors.registry import KNOWLEDGE_SOURCE_FIELDS, KNOWLEDGE_SOURCE_KINDS
from knowledge.acl import PUBLIC
from knowledge.index import KnowledgeIndex, open_knowledge_index
from services.audit.models import AuditEntry
from services.common.db import session_scope
from services.kb.models import Article, IngestionRun, KnowledgeSource, RunStatus
from tests.emulators import confluence
from tests.emulators.fixtures_kb import CONFLUENCE_PAGES, CONFLUENCE_TOKEN, CONFLUENCE_USER
from tests.emulators.harness import RunningEmulator, free_port, serve_emulator
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, WebSite, csrf, sign_in, web_site

ENV_SOURCES = {
    "wiki": {"kind": "confluence", "token": CONFLUENCE_TOKEN},
    "deadwiki": {"kind": "confluence", "token": CONFLUENCE_TOKEN},
}


@pytest.fixture(scope="module")
def wiki() -> Iterator[RunningEmulator]:
    app, state = confluence.build_app(CONFLUENCE_PAGES, user=CONFLUENCE_USER, secret=CONFLUENCE_TOKEN)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    with web_site(
        tmp_path, (ADMIN, EDITOR, EMPLOYEE), knowledge={"bm25_path": tmp_path / "bm25"}, sources=ENV_SOURCES
    ) as running:
        running.app.state.knowledge_index = open_knowledge_index(running.settings, embedder=HashingEmbedder())
        sign_in(running.client, ADMIN.email)
        yield running


def _post(site: WebSite, path: str, data: dict[str, Any], *, form_page: str) -> Any:
    token = csrf(site.client, form_page)
    return site.client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _create(site: WebSite, **fields: str) -> int:
    response = _post(site, "/admin/sources", {"enabled": "on", **fields}, form_page="/admin/sources/new")
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/sources/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


def _action(site: WebSite, source_id: int, action: str, **data: str) -> str:
    response = _post(
        site, f"/admin/sources/{source_id}/{action}", data, form_page=f"/admin/sources/{source_id}"
    )
    assert response.status_code == 303
    return str(site.client.get(response.headers["location"]).text)


def _handbook(tmp_path: Path) -> Path:
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "vpn.md").write_text(
        "# VPN\n\n## Connect\n\nOpen the VPN client and choose the Office profile.\n"
    )
    (folder / "printer.md").write_text("# Printers\n\n## Jams\n\nOpen tray 2 and remove the jammed sheet.\n")
    (folder / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    return folder


def test_registry_describes_the_fields_of_every_kind() -> None:
    assert set(KNOWLEDGE_SOURCE_FIELDS) == set(KNOWLEDGE_SOURCE_KINDS)


def test_admin_adds_a_folder_source_tests_it_and_syncs_it_into_the_index(
    site: WebSite, tmp_path: Path
) -> None:
    folder = _handbook(tmp_path)
    source_id = _create(site, kind="folder", name="handbook", path=str(folder), sync_interval_minutes="60")

    tested = _action(site, source_id, "test")
    assert "Connection OK" in tested and "3 supported files" in tested

    synced = _action(site, source_id, "sync")
    assert (
        "Sync partial: 2 documents (2 new or changed, 0 unchanged), 2 passages embedded, 0 removed, 1 failed"
        in synced
    )
    runs = synced[synced.index('data-testid="runs"') :]
    assert "status-partial" in runs and "broken.md" in runs and "not valid UTF-8" in runs
    index: KnowledgeIndex = site.app.state.knowledge_index
    hits = index.retriever().retrieve("remove the jammed sheet", viewer=PUBLIC, k=3).chunks
    assert hits and "tray 2" in hits[0].chunk.text

    listing = site.client.get("/admin/sources").text
    row = listing[listing.index(f'href="/admin/sources/{source_id}"') :].split("</tr>")[0]
    assert "Folder on the server" in row and "60 min" in row and "status-partial" in row
    assert f'href="/admin/articles?source={source_id}">2<' in row
    with session_scope(site.sessions) as db_session:
        run = db_session.scalars(select(IngestionRun).where(IngestionRun.source_id == source_id)).one()
        assert run.trigger == "web" and run.status is RunStatus.PARTIAL and run.documents == 2
        actions = db_session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "knowledge_source")
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["source.created", "source.tested", "source.synced"]


def test_bad_settings_show_errors_in_the_form_and_save_nothing(site: WebSite) -> None:
    cases = [
        ({"kind": "folder", "name": "Hand Book", "path": "/srv/kb"}, "lowercase letters"),
        ({"kind": "folder", "name": "docs", "path": " "}, "Give the folder or file path"),
        (
            {"kind": "confluence", "name": "wiki", "url": "acme.atlassian.net", "username": "a@b.c"},
            "https://",
        ),
        (
            {
                "kind": "servicenow",
                "name": "snow",
                "url": "https://x.service-now.com",
                "username": "svc",
                "knowledge_bases": "IT-KB",
            },
            "32 lowercase hexadecimal",
        ),
        ({"kind": "jsonl", "name": "kb", "path": "/kb.jsonl", "limit": "-3"}, "whole number"),
        ({"kind": "folder", "name": "often", "path": "/kb", "sync_interval_minutes": "1"}, "Sync every 5 to"),
    ]
    for fields, message in cases:
        response = _post(site, "/admin/sources", fields, form_page="/admin/sources/new")
        assert response.status_code == 400, fields
        assert 'data-testid="form-errors"' in response.text and message in response.text, fields
    unknown = _post(site, "/admin/sources", {"kind": "gopher", "name": "x"}, form_page="/admin/sources/new")
    assert unknown.status_code == 400 and "Choose one of: folder, jsonl" in unknown.text
    _create(site, kind="folder", name="docs", path="/srv/docs")
    duplicate = _post(
        site,
        "/admin/sources",
        {"kind": "folder", "name": "docs", "path": "/x"},
        form_page="/admin/sources/new",
    )
    assert duplicate.status_code == 400 and "exists already" in duplicate.text
    with session_scope(site.sessions) as db_session:
        assert db_session.scalar(select(func.count(KnowledgeSource.id))) == 1


def test_editing_settings_keeps_the_name_and_validates(site: WebSite) -> None:
    source_id = _create(site, kind="jsonl", name="kb", path="/srv/kb.jsonl")
    form = site.client.get(f"/admin/sources/{source_id}/edit").text
    assert 'value="/srv/kb.jsonl"' in form and 'name="name"' not in form
    bad = _post(
        site, f"/admin/sources/{source_id}/edit", {"path": ""}, form_page=f"/admin/sources/{source_id}/edit"
    )
    assert bad.status_code == 400 and "Give the folder or file path" in bad.text
    good = _post(
        site,
        f"/admin/sources/{source_id}/edit",
        {"path": "/srv/other.jsonl", "limit": "50"},
        form_page=f"/admin/sources/{source_id}/edit",
    )
    assert good.status_code == 303
    with session_scope(site.sessions) as db_session:
        row = db_session.get_one(KnowledgeSource, source_id)
        assert (row.name, row.config, row.enabled) == ("kb", {"path": "/srv/other.jsonl", "limit": 50}, False)


def test_test_connection_reports_ok_against_the_emulator_and_the_error_for_a_dead_port(
    site: WebSite, wiki: RunningEmulator
) -> None:
    live = _create(site, kind="confluence", name="wiki", url=wiki.base_url, username=CONFLUENCE_USER)
    dead = _create(
        site,
        kind="confluence",
        name="deadwiki",
        url=f"http://127.0.0.1:{free_port()}",
        username=CONFLUENCE_USER,
    )
    ok = _action(site, live, "test")
    assert "Connection OK" in ok and f"Confluence at {wiki.base_url} answered" in ok
    failed = _action(site, dead, "test")
    assert (
        'class="notice error"' in failed and "Connection failed" in failed and "connection failed" in failed
    )
    for page in (
        ok,
        failed,
        site.client.get(f"/admin/sources/{live}/edit").text,
        site.client.get("/admin/sources").text,
    ):
        assert CONFLUENCE_TOKEN not in page
    assert "Token</dt><dd>set" in ok


def test_a_source_without_its_token_names_the_variable_and_sync_records_the_failed_run(
    site: WebSite, wiki: RunningEmulator
) -> None:
    source_id = _create(site, kind="confluence", name="intranet", url=wiki.base_url, username=CONFLUENCE_USER)
    page = site.client.get(f"/admin/sources/{source_id}").text
    assert "Token</dt><dd>not set (<code>DESKPILOT_SOURCES__INTRANET__TOKEN</code>)" in page
    tested = _action(site, source_id, "test")
    assert "Connection failed" in tested and "DESKPILOT_SOURCES__INTRANET__TOKEN" in tested
    synced = _action(site, source_id, "sync")
    assert "Sync failed" in synced and 'data-testid="last-error"' in synced
    with session_scope(site.sessions) as db_session:
        run = db_session.scalars(select(IngestionRun).where(IngestionRun.source_id == source_id)).one()
        assert run.status is RunStatus.FAILED and "TOKEN" in run.errors[0]["error"]


def test_sync_now_of_a_confluence_source_imports_pages_and_lists_the_failed_one(
    site: WebSite, wiki: RunningEmulator
) -> None:
    source_id = _create(site, kind="confluence", name="wiki", url=wiki.base_url, username=CONFLUENCE_USER)
    synced = _action(site, source_id, "sync")
    assert "Sync partial" in synced and "65542" in synced  # the page without a body is reported by id
    with session_scope(site.sessions) as db_session:
        titles = set(db_session.scalars(select(Article.title).where(Article.source_id == source_id)))
    assert "Reset your VPN token" in titles
    articles = site.client.get("/admin/articles", params={"source": str(source_id)}).text
    assert "Reset your VPN token" in articles


def test_source_pages_are_for_admins_only_and_posts_need_the_csrf_token(
    site: WebSite, tmp_path: Path
) -> None:
    source_id = _create(site, kind="folder", name="handbook", path=str(_handbook(tmp_path)))
    for path in ("/admin/sources", f"/admin/sources/{source_id}", "/admin/sources/new"):
        for person in (EDITOR, EMPLOYEE):
            sign_in(site.client, person.email)
            assert site.client.get(path).status_code == 403, (person.email, path)
    sign_in(site.client, ADMIN.email)
    for path in (f"/admin/sources/{source_id}/sync", f"/admin/sources/{source_id}/test", "/admin/sources"):
        assert site.client.post(path, data={"kind": "folder", "name": "x", "path": "/x"}).status_code == 403
    with session_scope(site.sessions) as db_session:
        assert db_session.scalar(select(func.count(IngestionRun.id))) == 0
