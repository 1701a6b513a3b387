from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from connectors.folder.source import FolderKnowledgeSource
from knowledge.acl import Viewer
from knowledge.ingest import IngestMode, ingest_source
from services.common.db import session_scope
from services.kb.models import Article, ArticleVersion, Chunk, IngestionRun, KnowledgeSource, RunStatus
from tests.unit.knowledge.conftest import KnowledgeEnv, write_article

VPN_BODY = """## Symptoms

GlobalProtect VPN disconnects every few minutes when working from a hotel network or a home router.

## Resolution

1. Open GlobalProtect and choose Settings.
2. Change the portal to vpn.northwind.example and reconnect.
3. If it still drops, restart the laptop and try a wired connection.
"""
PRINTER_BODY = (
    "## Steps\n\n1. Open PaperCut.\n2. Release your print job at any printer with your badge.\n"
    + ("Secure print keeps documents private until you are at the printer. " * 3)
)
PAYROLL_BODY = (
    "## Steps\n\nPayroll approval code NWL-PAY-7781 is needed before month-end close in NetSuite. " * 3
)


def _ingest(env: KnowledgeEnv, folder: Path, mode: IngestMode = IngestMode.FULL):  # type: ignore[no-untyped-def]
    source = FolderKnowledgeSource("handbook", folder)
    return ingest_source(
        source, kind="folder", index=env.index, session_factory=env.session_factory, mode=mode
    )


def _count(env: KnowledgeEnv, model: type) -> int:
    with session_scope(env.session_factory) as db_session:
        return int(db_session.scalar(select(func.count()).select_from(model)) or 0)


def test_ingest_indexes_documents_in_both_indexes_and_records_the_run(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    write_article(folder, "printer.md", title="Print with PaperCut", body=PRINTER_BODY)
    report = _ingest(knowledge_env, folder)
    assert (report.documents, report.changed, report.removed, report.failures) == (2, 2, 0, [])
    chunks = _count(knowledge_env, Chunk)
    assert report.chunks_embedded == chunks > 0
    assert knowledge_env.index.vectors.count() == chunks
    assert knowledge_env.index.lexical.size == chunks
    with session_scope(knowledge_env.session_factory) as db_session:
        run = db_session.scalars(select(IngestionRun)).one()
        source = db_session.scalars(select(KnowledgeSource)).one()
        assert run.status is RunStatus.SUCCEEDED and run.documents == 2 and run.finished_at is not None
        assert source.kind == "folder" and source.last_sync_at is not None
    hits = knowledge_env.index.retriever().retrieve("VPN disconnects at the hotel", viewer=Viewer(), k=3)
    assert hits.chunks[0].chunk.title == "VPN keeps dropping"


def test_ingest_unchanged_rerun_embeds_nothing(knowledge_env: KnowledgeEnv, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    _ingest(knowledge_env, folder)
    calls_before = list(knowledge_env.embedder.calls)
    again = _ingest(knowledge_env, folder)
    assert (again.unchanged, again.changed, again.chunks_embedded) == (1, 0, 0)
    assert knowledge_env.embedder.calls == calls_before


def test_ingest_edit_reembeds_only_changed_chunks_and_adds_a_version(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    first = _ingest(knowledge_env, folder)
    write_article(
        folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY.replace("hotel network", "café network")
    )
    second = _ingest(knowledge_env, folder)
    assert second.changed == 1
    assert second.chunks_embedded == 1
    assert second.chunks_reused == first.chunks_embedded - 1
    with session_scope(knowledge_env.session_factory) as db_session:
        versions = db_session.scalars(select(ArticleVersion.version).order_by(ArticleVersion.version)).all()
        assert versions == [1, 2]
        assert db_session.scalars(select(Article.current_version)).one() == 2
    top = knowledge_env.index.retriever().retrieve("café network VPN", viewer=Viewer(), k=1).chunks[0]
    assert "café" in top.chunk.text


def test_ingest_deleted_document_leaves_both_indexes(knowledge_env: KnowledgeEnv, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    printer = write_article(folder, "printer.md", title="Print with PaperCut", body=PRINTER_BODY)
    _ingest(knowledge_env, folder)
    printer.unlink()
    report = _ingest(knowledge_env, folder)
    assert report.removed == 1
    remaining = _count(knowledge_env, Chunk)
    assert knowledge_env.index.vectors.count() == remaining == knowledge_env.index.lexical.size
    hits = knowledge_env.index.retriever().retrieve("PaperCut badge print release", viewer=Viewer(), k=5)
    assert all(h.chunk.title != "Print with PaperCut" for h in hits.chunks)
    assert _count(knowledge_env, Article) == 1


def test_ingest_bad_documents_are_reported_and_the_rest_load(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9 menu".encode("latin-1"))
    (folder / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (folder / "empty.md").write_text("---\ntitle: Empty\n---\n\n", encoding="utf-8")
    report = _ingest(knowledge_env, folder)
    errors = {f.document_id: f.error for f in report.failures}
    assert set(errors) == {"broken.md", "latin1.txt", "binary.md", "empty.md"}
    assert "front matter" in errors["broken.md"] and "UTF-8" in errors["latin1.txt"]
    assert report.changed == 1
    with session_scope(knowledge_env.session_factory) as db_session:
        run = db_session.scalars(select(IngestionRun)).one()
        assert run.status is RunStatus.PARTIAL and len(run.errors) == 4


def test_ingest_restricted_article_is_only_retrievable_by_its_audience(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "payroll.md", title="Payroll approvals", body=PAYROLL_BODY, audience=["finance"])
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    _ingest(knowledge_env, folder)
    retriever = knowledge_env.index.retriever()
    query = "payroll approval code NetSuite month-end"
    for viewer in (Viewer(), Viewer.of(["sales", "hr"])):
        found = retriever.retrieve(query, viewer=viewer, k=10).chunks
        assert found and all("NWL-PAY-7781" not in h.chunk.text for h in found)
        lexical = knowledge_env.index.lexical.search(query, viewer=viewer, k=10)
        assert all(not hit.chunk_id.startswith("handbook:payroll") for hit in lexical)
    member = retriever.retrieve(query, viewer=Viewer.of(["finance"]), k=3).chunks
    assert "NWL-PAY-7781" in member[0].chunk.text


def test_ingest_audience_change_moves_chunks_between_partitions(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "payroll.md", title="Payroll approvals", body=PAYROLL_BODY, audience=["finance"])
    _ingest(knowledge_env, folder)
    write_article(folder, "payroll.md", title="Payroll approvals", body=PAYROLL_BODY, audience=[])
    _ingest(knowledge_env, folder)
    public = knowledge_env.index.retriever().retrieve("payroll approval code", viewer=Viewer(), k=3).chunks
    assert public and "NWL-PAY-7781" in public[0].chunk.text
    write_article(folder, "payroll.md", title="Payroll approvals", body=PAYROLL_BODY, audience=["hr"])
    _ingest(knowledge_env, folder)
    assert (
        knowledge_env.index.retriever().retrieve("payroll approval code", viewer=Viewer(), k=3).chunks == []
    )
    assert knowledge_env.index.vectors.count() == _count(knowledge_env, Chunk)


def test_ingest_interrupted_embedding_resumes_on_next_run(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    original = knowledge_env.embedder.embed_documents

    def crash(texts):  # type: ignore[no-untyped-def]
        raise RuntimeError("worker killed mid-embedding")

    knowledge_env.embedder.embed_documents = crash  # type: ignore[method-assign]
    try:
        _ingest(knowledge_env, folder)
    except RuntimeError:
        pass
    knowledge_env.embedder.embed_documents = original  # type: ignore[method-assign]
    with session_scope(knowledge_env.session_factory) as db_session:
        run = db_session.scalars(select(IngestionRun)).one()
        assert run.status is RunStatus.FAILED
    report = _ingest(knowledge_env, folder)
    assert report.changed == 1 and report.chunks_embedded == _count(knowledge_env, Chunk) > 0
    assert knowledge_env.index.vectors.count() == report.chunks_embedded


def test_ingest_poll_mode_reads_changes_and_prunes_by_listing(
    knowledge_env: KnowledgeEnv, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    write_article(folder, "vpn.md", title="VPN keeps dropping", body=VPN_BODY)
    printer = write_article(folder, "printer.md", title="Print with PaperCut", body=PRINTER_BODY)
    _ingest(knowledge_env, folder)
    printer.unlink()
    report = _ingest(knowledge_env, folder, IngestMode.POLL)
    assert report.documents == 0 and report.removed == 1
