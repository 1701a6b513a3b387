"""Admin article pages: search and filters in SQL, edit → new version → diff → the index answers with the
new text, publish / unpublish / archive reach both indexes at once, stale edits are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.errors import RemoteUnavailableError
from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import FolderKnowledgeSource
from connectors.interfaces import Vectors
from knowledge.acl import PUBLIC, Viewer
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import ingest_source
from services.audit.models import AuditEntry
from services.common.db import session_scope
from services.kb import editing
from services.kb.models import Article, ArticleStatus, ArticleVersion, Chunk
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, Person, WebSite, csrf, sign_in, web_site

FINANCE_CLERK = Person("fay.finance@example.com", groups=("finance",))
PORTAL_BODY = "## Steps\n\n1. Open the self-service portal.\n2. Choose Reset token and follow the prompts.\n"
KIOSK_BODY = (
    "## Steps\n\n1. Walk to the IT kiosk on floor 2.\n2. Choose Reset token and follow the prompts.\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    people = (ADMIN, EDITOR, MANAGER, EMPLOYEE, FINANCE_CLERK)
    with web_site(tmp_path, people, knowledge={"bm25_path": tmp_path / "bm25"}) as running:
        running.app.state.knowledge_index = open_knowledge_index(running.settings, embedder=HashingEmbedder())
        yield running


def _index(site: WebSite) -> KnowledgeIndex:
    index: KnowledgeIndex = site.app.state.knowledge_index
    return index


def _texts(site: WebSite, query: str, viewer: Viewer = PUBLIC) -> list[str]:
    """What retrieval returns now for ``query`` (the same index the answer path reads)."""
    found = _index(site).retriever().retrieve(query, viewer=viewer, k=10)
    return [hit.chunk.text for hit in found.chunks]


def _lexical_ids(site: WebSite, query: str, viewer: Viewer = PUBLIC) -> list[str]:
    return [hit.chunk_id for hit in _index(site).lexical.search(query, viewer=viewer, k=10)]


def _create(site: WebSite, title: str, body: str, *, action: str = "publish", **extra: str) -> int:
    token = csrf(site.client, "/admin/articles/new")
    response = site.client.post(
        "/admin/articles",
        data={"csrf_token": token, "title": title, "body_markdown": body, "action": action, **extra},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/articles/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


def _edit(
    site: WebSite, article_id: int, base: int, body: str, title: str = "Reset your VPN token", **extra: str
) -> tuple[int, str]:
    token = csrf(site.client, f"/admin/articles/{article_id}/edit")
    data = {"csrf_token": token, "base_version": str(base), "title": title, "body_markdown": body}
    response = site.client.post(
        f"/admin/articles/{article_id}/edit", data={**data, **extra}, follow_redirects=False
    )
    return response.status_code, response.text


def _status(site: WebSite, article_id: int, action: str) -> str:
    token = csrf(site.client, f"/admin/articles/{article_id}")
    response = site.client.post(
        f"/admin/articles/{article_id}/status", data={"csrf_token": token, "action": action}
    )
    assert response.status_code == 200
    return response.text


def test_edit_makes_a_version_the_diff_shows_it_and_the_index_answers_with_the_new_text(
    site: WebSite,
) -> None:
    sign_in(site.client, EDITOR.email)
    article_id = _create(site, "Reset your VPN token", PORTAL_BODY)
    page = site.client.get(f"/admin/articles/{article_id}").text
    assert 'data-testid="article-status">published<' in page
    assert re.search(r"Passages indexed</dt><dd><span class=\"ok\">1 of 1<", page)
    assert any("self-service portal" in text for text in _texts(site, "reset token portal"))

    status, _ = _edit(
        site, article_id, 1, KIOSK_BODY + "\n<script>alert(1)</script>\n", change_note="kiosk now"
    )
    assert status == 303

    versions = site.client.get(f"/admin/articles/{article_id}/versions").text
    assert "kiosk now" in versions and "Kim Editor" in versions and "current" in versions
    diff = site.client.get(f"/admin/articles/{article_id}/diff", params={"from": 1, "to": 2}).text
    assert re.search(r'<tr class="removed">.*?Open the self-service portal\.</del>', diff, re.S)
    assert re.search(r'<tr class="added">.*?Walk to the IT kiosk on floor 2\.</ins>', diff, re.S)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in diff and "<script>alert(1)" not in diff
    assert "3 lines added" in diff and "1 removed" in diff

    texts = _texts(site, "reset token kiosk portal")
    assert any("IT kiosk on floor 2" in text for text in texts)
    assert not any("self-service portal" in text for text in texts)
    with session_scope(site.sessions) as db_session:
        chunks = db_session.scalars(select(Chunk).where(Chunk.article_id == article_id)).all()
        assert chunks and all(c.indexed_at is not None for c in chunks)
        assert _index(site).vectors.count() == len(chunks)  # the old passage was replaced, not added to
        entry = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "article.edited")).one()
        assert entry.target_id == str(article_id) and entry.details["version"] == 2

    listing = site.client.get("/admin/articles", params={"q": "kiosk on floor"}).text
    assert f'href="/admin/articles/{article_id}"' in listing
    gone = site.client.get("/admin/articles", params={"q": "self-service portal"}).text
    assert f'href="/admin/articles/{article_id}"' not in gone  # only the current text is searched


def test_unpublish_and_archive_take_the_article_out_of_both_indexes_at_once(site: WebSite) -> None:
    sign_in(site.client, ADMIN.email)
    article_id = _create(site, "Printer queue stuck", "## Fix\n\nRestart the print spooler service.\n")
    assert any("print spooler" in text for text in _texts(site, "restart print spooler"))
    assert _lexical_ids(site, "spooler")

    page = _status(site, article_id, "unpublish")
    assert "Unpublished: 1 passages removed from the index." in page
    assert 'data-testid="article-status">draft<' in page
    assert _texts(site, "restart print spooler") == []
    assert _lexical_ids(site, "spooler") == []
    assert _index(site).vectors.count() == 0

    assert "Published: 1 passages indexed." in _status(site, article_id, "publish")
    assert any("print spooler" in text for text in _texts(site, "restart print spooler"))

    archived = _status(site, article_id, "archive")
    assert 'data-testid="article-status">archived<' in archived
    assert _texts(site, "restart print spooler") == []
    with session_scope(site.sessions) as db_session:
        actions = db_session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "article", AuditEntry.target_id == str(article_id))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == [
        "article.created",
        "article.publish",
        "article.unpublish",
        "article.publish",
        "article.archive",
    ]


def test_a_stale_edit_is_refused_with_the_text_kept_and_saving_again_is_explicit(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    article_id = _create(site, "Reset your VPN token", PORTAL_BODY)
    assert _edit(site, article_id, 1, KIOSK_BODY, change_note="first")[0] == 303

    status, page = _edit(site, article_id, 1, PORTAL_BODY + "3. Call the desk if it fails.\n")
    assert status == 409
    assert "someone saved version 2" in page and "after you opened version 1" in page
    assert "3. Call the desk if it fails." in page  # the editor's text is not lost
    assert f'href="/admin/articles/{article_id}/diff?from=1&amp;to=2"' in page
    assert 'name="base_version" value="2"' in page
    with session_scope(site.sessions) as db_session:
        count = db_session.scalar(select(func.count()).where(ArticleVersion.article_id == article_id))
        assert count == 2

    assert _edit(site, article_id, 2, PORTAL_BODY + "3. Call the desk if it fails.\n")[0] == 303
    assert any("Call the desk" in text for text in _texts(site, "call the desk reset token"))


def test_saving_unchanged_text_or_an_empty_article_is_refused_without_a_version(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    article_id = _create(site, "Reset your VPN token", PORTAL_BODY)
    same_status, same = _edit(site, article_id, 1, PORTAL_BODY)
    empty_status, empty = _edit(site, article_id, 1, "   ")
    assert same_status == 400 and "nothing changed" in same
    assert empty_status == 400 and "the article is empty" in empty
    with session_scope(site.sessions) as db_session:
        assert db_session.scalar(select(Article.current_version).where(Article.id == article_id)) == 1


def test_audience_groups_limit_who_retrieval_serves(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    article_id = _create(
        site, "Expense approval limits", "## Limits\n\nExpense claims above 500 need approval.\n"
    )
    assert _texts(site, "expense claims approval")
    status, _ = _edit(
        site,
        article_id,
        1,
        "## Limits\n\nExpense claims above 500 need approval.\n",
        title="Expense approval limits",
        new_groups="finance, auditors",
    )
    assert status == 303  # audience only: no new text, so no new version
    page = site.client.get(f"/admin/articles/{article_id}").text
    assert 'data-testid="audience">auditors, finance<' in page
    assert _texts(site, "expense claims approval") == []
    assert _texts(site, "expense claims approval", Viewer.of({"finance"}))
    with session_scope(site.sessions) as db_session:
        assert db_session.scalar(select(Article.current_version).where(Article.id == article_id)) == 1


def test_preview_renders_markdown_safely_with_and_without_javascript(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    token = csrf(site.client, "/admin/articles/new")
    body = "# Hello\n\n- one\n\n<script>alert(1)</script>\n"
    fragment = site.client.post("/admin/articles/preview", data={"csrf_token": token, "body_markdown": body})
    assert fragment.status_code == 200
    assert "<h1>Hello</h1>" in fragment.text and "<li>one</li>" in fragment.text
    assert "&lt;script&gt;" in fragment.text and "<script>" not in fragment.text

    no_js = site.client.post(
        "/admin/articles",
        data={"csrf_token": token, "title": "T", "body_markdown": body, "action": "preview"},
    )
    assert no_js.status_code == 200 and '<div id="preview"' in no_js.text and "<h1>Hello</h1>" in no_js.text
    with session_scope(site.sessions) as db_session:
        assert db_session.scalar(select(func.count(Article.id))) == 0


def test_list_searches_filters_counts_and_pages_in_sql(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    index = _index(site)
    for n in range(27):
        edit = editing.build_article_edit(
            title=f"Laptop tip {n:02d}",
            body_markdown=f"Tip number {n} for laptops.",
            category="",
            audience=("finance",) if n % 9 == 0 else (),
            change_note="",
        )
        editing.create_article(site.sessions, index, edit=edit, author_id=1, publish=n % 3 == 0)
    special = editing.build_article_edit(
        title="Disk quota",
        body_markdown="Quotas are 100% enforced.",
        category="",
        audience=(),
        change_note="",
    )
    editing.create_article(site.sessions, index, edit=special, author_id=1, publish=False)

    first = site.client.get("/admin/articles", params={"q": "laptop"}).text
    assert "27 articles" in first and "27 articles · draft 18, published 9, archived 0" in first
    assert (
        "Page 1 of 2" in first
        and first.count('href="/admin/articles/') - first.count("/admin/articles/new") == 25
    )
    second = site.client.get("/admin/articles", params={"q": "laptop", "page": 2}).text
    assert "Page 2 of 2" in second and "Laptop tip 00" in second  # newest first: the first one is last

    published = site.client.get("/admin/articles", params={"q": "laptop", "status": "published"}).text
    assert "9 articles" in published and "Laptop tip 01<" not in published
    with session_scope(site.sessions) as db_session:
        finance_id = db_session.scalar(select(func.min(Article.id)).where(Article.title == "Laptop tip 00"))
    groups = site.client.get("/admin/articles").text
    finance_option = re.search(r'<option value="(\d+)">finance</option>', groups)
    assert finance_option
    restricted = site.client.get("/admin/articles", params={"audience": finance_option.group(1)}).text
    assert "3 articles" in restricted and f'href="/admin/articles/{finance_id}"' in restricted
    public = site.client.get("/admin/articles", params={"audience": "public", "q": "laptop"}).text
    assert "24 articles" in public
    local = site.client.get("/admin/articles", params={"source": "local", "origin": "authored"}).text
    assert "28 articles" in local
    percent = site.client.get("/admin/articles", params={"q": "100%"}).text
    assert "1 article" in percent and "Disk quota" in percent
    underscore = site.client.get("/admin/articles", params={"q": "_"}).text
    assert "0 articles" in underscore  # LIKE wildcards are matched literally
    by_title = site.client.get("/admin/articles", params={"sort": "title", "q": "tip"}).text
    assert by_title.index("Laptop tip 00") < by_title.index("Laptop tip 01")


def test_a_synced_article_warns_and_keeps_the_ingestion_chunk_ids_when_edited(
    site: WebSite, tmp_path: Path
) -> None:
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "wifi.md").write_text(
        "# Guest Wi-Fi\n\n## Connect\n\nJoin the Guest network and accept the terms.\n"
    )
    ingest_source(
        FolderKnowledgeSource("handbook", folder),
        kind="folder",
        index=_index(site),
        session_factory=site.sessions,
    )
    with session_scope(site.sessions) as db_session:
        article_id = db_session.scalars(select(Article.id)).one()
        before = set(db_session.scalars(select(Chunk.id).where(Chunk.article_id == article_id)))
    sign_in(site.client, EDITOR.email)
    page = site.client.get(f"/admin/articles/{article_id}").text
    assert "Synced from <strong>handbook</strong>" in page
    assert (
        "lasts until the source changes this article"
        in site.client.get(f"/admin/articles/{article_id}/edit").text
    )

    token = csrf(site.client, f"/admin/articles/{article_id}/edit")
    saved = site.client.post(
        f"/admin/articles/{article_id}/edit",
        data={
            "csrf_token": token,
            "base_version": "1",
            "title": "Guest Wi-Fi",
            "body_markdown": "## Connect\n\nJoin the Guest network; the password is on the screen.\n",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with session_scope(site.sessions) as db_session:
        after = set(db_session.scalars(select(Chunk.id).where(Chunk.article_id == article_id)))
    assert after and all(chunk_id.startswith("handbook:wifi.md:") for chunk_id in after | before)
    assert _index(site).vectors.count() == len(after)
    assert any("password is on the screen" in text for text in _texts(site, "guest network password"))


class _EmbedderDown(HashingEmbedder):
    """An embedding endpoint that is unreachable."""

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        raise RemoteUnavailableError("embeddings: connection failed (ConnectError)")


def test_an_embedding_outage_keeps_the_saved_version_and_re_index_recovers(site: WebSite) -> None:
    sign_in(site.client, EDITOR.email)
    article_id = _create(site, "Reset your VPN token", PORTAL_BODY)
    working = _index(site).embedder
    _index(site).embedder = _EmbedderDown()

    status, _ = _edit(site, article_id, 1, KIOSK_BODY)
    assert status == 303
    page = site.client.get(f"/admin/articles/{article_id}").text
    assert "Saved version 2, but indexing failed: embeddings: connection failed" in page
    assert re.search(r'Passages indexed</dt><dd><span class="warn">0 of 1<', page)
    assert any(
        "self-service portal" in t for t in _texts(site, "reset token portal")
    )  # old text still answers

    _status(site, article_id, "unpublish")
    refused = _status(site, article_id, "publish")
    assert "Not done: embeddings: connection failed" in refused
    assert 'data-testid="article-status">draft<' in refused

    _index(site).embedder = working
    assert "Published: 1 passages indexed." in _status(site, article_id, "publish")
    assert any("IT kiosk" in t for t in _texts(site, "reset token kiosk"))


def test_article_pages_need_an_editor_and_every_post_needs_the_csrf_token(site: WebSite) -> None:
    for person in (EMPLOYEE, MANAGER):
        sign_in(site.client, person.email)
        assert site.client.get("/admin/articles").status_code == 403
        assert site.client.get("/admin/articles/new").status_code == 403
    site.client.cookies.clear()
    anonymous = site.client.get("/admin/articles", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    sign_in(site.client, EDITOR.email)
    article_id = _create(site, "Reset your VPN token", PORTAL_BODY)
    refused = [
        site.client.post("/admin/articles", data={"title": "x", "body_markdown": "y", "action": "publish"}),
        site.client.post(f"/admin/articles/{article_id}/status", data={"action": "archive"}),
        site.client.post(
            f"/admin/articles/{article_id}/edit",
            data={"base_version": "1", "title": "x", "body_markdown": "y"},
        ),
        site.client.post("/admin/articles/preview", data={"body_markdown": "y"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    with session_scope(site.sessions) as db_session:
        article = db_session.get_one(Article, article_id)
        assert article.status is ArticleStatus.PUBLISHED and article.current_version == 1
