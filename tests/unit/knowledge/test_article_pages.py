from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.folder.source import FolderKnowledgeSource
from knowledge.ingest import ingest_source
from services.admin.app import create_app
from services.common.db import session_scope
from services.kb.models import Article
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article


def test_article_page_renders_public_articles_and_hides_restricted_ones(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(
        folder,
        "vpn.md",
        title="VPN keeps dropping",
        body="## Steps\n\n1. Open GlobalProtect.\n2. Reconnect.\n\n<script>alert('x')</script>\n",
    )
    write_article(folder, "pay.md", title="Payroll codes", body="Code NWL-PAY-7781.", audience=["finance"])
    ingest_source(
        FolderKnowledgeSource("kb", folder),
        kind="folder",
        index=knowledge_env.index,
        session_factory=knowledge_env.session_factory,
    )
    with session_scope(knowledge_env.session_factory) as db_session:
        ids = {a.title: a.id for a in db_session.scalars(select(Article))}
    with TestClient(create_app(knowledge_env.settings)) as client:
        page = client.get(f"/kb/articles/{ids['VPN keeps dropping']}")
        restricted = client.get(f"/kb/articles/{ids['Payroll codes']}")
        missing = client.get("/kb/articles/999999")
    assert page.status_code == 200
    assert "<ol>" in page.text and "<li>Open GlobalProtect.</li>" in page.text
    assert "<script>alert" not in page.text  # raw HTML in a body is escaped, never executed
    assert restricted.status_code == 403 and "NWL-PAY-7781" not in restricted.text
    assert "Payroll codes" not in restricted.text
    assert missing.status_code == 404
