"""Document ingestion under hostile files: the folder and JSON Lines connectors, chunking and
``ingest_source`` with the hashing embedder.

Malformed Markdown and front matter, HTML soup, deeply nested HTML, binary junk, wrong encodings
(latin-1, UTF-16 with and without BOM, invalid UTF-8), empty and oversized files: the run finishes,
every bad document is reported as a failure with a reason, and the good documents of the same run
load all the same ("loses nothing").
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from connectors.folder.source import MAX_FILE_BYTES, FolderKnowledgeSource
from connectors.jsonl.source import JsonLinesKnowledgeSource
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import IngestReport, ingest_source
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.kb.models import Article, KnowledgeSource
from tests.conftest import make_settings
from tests.fuzz.strategies import awkward_text, json_values
from tests.fuzz.tally import examples, outcome, probe

_runs = itertools.count(1)


@dataclass(repr=False)
class Env:
    root: Path
    sessions: sessionmaker[Session]
    index: KnowledgeIndex


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp_path = tmp_path_factory.mktemp("ingest-fuzz")
    settings = make_settings(tmp_path, knowledge={"bm25_path": tmp_path / "var" / "bm25"})
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    index = open_knowledge_index(settings, embedder=HashingEmbedder())
    yield Env(tmp_path, build_session_factory(engine), index)
    engine.dispose()


def good_article(n: int) -> str:
    body = "Restart the VPN client, then sign in again."
    return f"---\ntitle: Good article {n}\ncategory: IT\n---\n# Good {n}\n\n{body}\n"


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace")


def _nested_html(depth: int) -> bytes:
    return b"<html><body>" + b"<div>" * depth + b"deep text" + b"</div>" * depth + b"</body></html>"


# (suffix, bytes, may it load?) — None: either outcome is fine as long as it is accounted for.
hostile_files = st.one_of(
    st.tuples(st.sampled_from([".md", ".html", ".txt"]), st.binary(max_size=2048), st.none()),
    st.tuples(
        st.just(".md"),
        awkward_text.map(lambda t: ("---\n" + t + "\n---\nbody").encode("utf-8", "surrogatepass")),
        st.none(),
    ),
    st.tuples(
        st.just(".md"),
        st.sampled_from(
            [
                b"---\ntitle: [unclosed\n---\nbody",
                b"---\n- a\n- list\n---\nbody",
                b"---\njust a string\n---\nbody",
                b"---\ntitle: x\naudience: 5\n---\nbody",
                b"---\ntitle: x\ntags: 5\n---\nbody",
                b"---\ntitle: x\ntags: {a: 1}\n---\nbody",
                b"---\ntitle: x\nupdated: 2024-13-45\n---\nbody",
                b"---\ntitle: x\nupdated: 99999-01-01\n---\nbody",
                b"---\n!!python/object:os.system {}\n---\nbody",
                b"---\na: &a [*a]\n---\nbody",
                b"---\ntitle: x\n---\n",
                b"",
                b"   \n\n",
                b"\xef\xbb\xbf# BOM heading\n\ntext",
            ]
        ),
        st.none(),
    ),
    st.tuples(
        st.just(".md"), awkward_text.map(lambda t: _latin1("# Café é\n\n" + t + " naïve résumé")), st.none()
    ),
    st.tuples(
        st.sampled_from([".md", ".txt"]),
        awkward_text.map(lambda t: ("# UTF-16\n\n" + t + " text").encode("utf-16")),
        st.none(),
    ),
    st.tuples(
        st.sampled_from([".md", ".txt"]),
        awkward_text.map(lambda t: ("# UTF-16\n\n" + t + " text").encode("utf-16-le")),
        st.none(),
    ),
    st.tuples(st.just(".html"), st.integers(1, 3000).map(_nested_html), st.none()),
    st.tuples(
        st.just(".html"),
        awkward_text.map(
            lambda t: f"<html><title>{t}<p>soup<div><b>unclosed<script>x</script>{t}".encode(
                "utf-8", "surrogatepass"
            )
        ),
        st.none(),
    ),
    st.tuples(
        st.just(".md"),
        awkward_text.map(
            lambda t: (
                "# "
                + t
                + "\n"
                + "```\nunclosed fence\n"
                + "|a|b|\n|-|\n" * 5
                + "[link](javascript:x) ![img]("
                + t
            ).encode("utf-8", "surrogatepass")
        ),
        st.none(),
    ),
)


def _loaded_ids(env: Env, source: str) -> set[str]:
    with session_scope(env.sessions) as db_session:
        source_id = db_session.scalar(select(KnowledgeSource.id).where(KnowledgeSource.name == source))
        return {
            a
            for a in db_session.scalars(select(Article.external_id).where(Article.source_id == source_id))
            if a
        }


def _check_nothing_lost(
    env: Env, report: IngestReport, source: str, good: set[str], all_ids: set[str]
) -> None:
    loaded = _loaded_ids(env, source)
    failed = {f.document_id: f.error for f in report.failures}
    assert good <= loaded, f"good documents lost: {sorted(good - loaded)}"
    assert not (good & set(failed)), f"good documents reported failed: {failed}"
    assert all(reason and reason.strip() for reason in failed.values()), failed
    unaccounted = all_ids - loaded - set(failed)
    assert not unaccounted, f"documents neither loaded nor reported: {sorted(unaccounted)}"
    for document_id in all_ids:
        outcome("ingest.folder", "loaded" if document_id in loaded else "failed: " + failed[document_id][:40])


@examples(30, share=0.1)
@given(files=st.lists(hostile_files, min_size=1, max_size=6), goods=st.integers(1, 3))
def test_folder_run_reports_bad_files_and_loads_the_good_ones(
    env: Env, files: list[tuple[str, bytes, None]], goods: int
) -> None:
    run = next(_runs)
    folder = env.root / f"folder-{run}"
    folder.mkdir()
    good = set()
    for n in range(goods):
        (folder / f"good-{n}.md").write_text(good_article(n), encoding="utf-8")
        good.add(f"good-{n}.md")
    bad = set()
    for n, (suffix, content, _) in enumerate(files):
        (folder / f"bad-{n}{suffix}").write_bytes(content)
        bad.add(f"bad-{n}{suffix}")
    source = f"fuzz-folder-{run}"
    with probe("ingest.folder"):
        report = ingest_source(
            FolderKnowledgeSource(source, folder),
            kind="folder",
            index=env.index,
            session_factory=env.sessions,
        )
        _check_nothing_lost(env, report, source, good, good | bad)


@examples(30, share=0.1)
@given(
    lines=st.lists(
        st.one_of(
            json_values.map(json.dumps),
            awkward_text,
            st.builds(
                lambda body, extra: json.dumps(
                    {
                        "path": "x.md",
                        "title": extra,
                        "body_markdown": body,
                        "audience_groups": extra,
                        "product_area": extra,
                        "ms_date": extra,
                        "url": extra,
                    }
                ),
                awkward_text,
                json_values,
            ),
            st.just("[" * 50_000 + "]" * 50_000),
            st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        ),
        max_size=6,
    ),
    goods=st.integers(1, 3),
)
def test_jsonl_run_reports_bad_lines_and_loads_the_good_ones(env: Env, lines: list[str], goods: int) -> None:
    run = next(_runs)
    path = env.root / f"articles-{run}.jsonl"
    good_lines = [
        json.dumps(
            {
                "path": f"good/{run}-{n}.md",
                "title": f"Good {n}",
                "body_markdown": "# Good\n\nRestart the VPN client.",
            }
        )
        for n in range(goods)
    ]
    bad_lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
        for line in [*bad_lines, *good_lines]:
            handle.write(line + "\n")
    source = f"fuzz-jsonl-{run}"
    with probe("ingest.jsonl"):
        report = ingest_source(
            JsonLinesKnowledgeSource(source, path),
            kind="jsonl",
            index=env.index,
            session_factory=env.sessions,
        )
        loaded = _loaded_ids(env, source)
        good = {f"good/{run}-{n}.md" for n in range(goods)}
        assert good <= loaded, f"good lines lost: {sorted(good - loaded)} failures={report.failures}"
        assert all(f.error.strip() for f in report.failures)
        outcome("ingest.jsonl", f"{len(report.failures)} failed")


def test_huge_and_oversized_files_fail_clearly_and_the_rest_loads(env: Env) -> None:
    """A 20 MB file (sparse: cheap to make) and a file just over the limit are refused by size."""
    folder = env.root / "huge"
    folder.mkdir()
    (folder / "good.md").write_text(good_article(1), encoding="utf-8")
    with (folder / "huge.md").open("wb") as handle:
        handle.truncate(20 * 1024 * 1024)
    (folder / "just-over.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    with probe("ingest.huge"):
        report = ingest_source(
            FolderKnowledgeSource("fuzz-huge", folder),
            kind="folder",
            index=env.index,
            session_factory=env.sessions,
        )
        failed = {f.document_id: f.error for f in report.failures}
        assert set(failed) == {"huge.md", "just-over.txt"} and all(
            "larger than" in e for e in failed.values()
        )
        assert _loaded_ids(env, "fuzz-huge") == {"good.md"}
        outcome("ingest.huge", "refused by size")
    assert os.path.getsize(folder / "huge.md") == 20 * 1024 * 1024
