"""What permission-aware retrieval costs: audience partitions (shipped) against a Chroma ``where`` filter.

Uses the full ms-office index of ``bench/ingest_ms_office.py`` plus the demo IT handbook (three articles
restricted to finance, hr and it-staff). For 200 query vectors it times the dense look-up for a viewer
with no groups (public partition only), for a viewer in all three groups (public + three partitions),
and, for comparison, one query over the public collection with a metadata ``where`` filter, which is
what a single-collection design would run for every query.

Run: ``.venv/bin/python -m bench.permission_filter_cost [--data-dir DIR]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from bench.answer_latency import build_questions
from bench.common import dataset, emit, open_bench_environment
from bench.ingest_ms_office import DEFAULT_DIR, SOURCE
from connectors.folder.source import FolderKnowledgeSource
from connectors.jsonl.source import JsonLinesKnowledgeSource
from knowledge.acl import Viewer
from knowledge.demo import DEMO_IT_FOLDER, IT_SOURCE
from knowledge.embeddings import LocalMiniLMEmbedder
from knowledge.ingest import ingest_source


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    embedder = LocalMiniLMEmbedder()
    questions = [q for _, q in build_questions()]
    vectors = embedder.embed_documents(questions)
    with open_bench_environment(args.data_dir, embedder) as env:
        if env.index.lexical.size == 0:
            source = JsonLinesKnowledgeSource(SOURCE, dataset("ms-office-support-kb", "articles.jsonl"))
            ingest_source(source, kind="jsonl", index=env.index, session_factory=env.session_factory)
        ingest_source(
            FolderKnowledgeSource(IT_SOURCE, DEMO_IT_FOLDER),
            kind="folder",
            index=env.index,
            session_factory=env.session_factory,
        )
        store = env.index.vectors
        public, member = Viewer(), Viewer.of(["finance", "hr", "it-staff"])
        collection = store._collection(None, create=False)  # noqa: SLF001 - measuring the raw alternative
        assert collection is not None
        size = collection.count()
        timings: dict[str, list[float]] = {"public_viewer": [], "viewer_in_3_groups": [], "where_filter": []}
        for vector in vectors[:20]:  # warm up
            store.query(vector, viewer=member, k=30)
        for vector in vectors:
            started = time.perf_counter()
            store.query(vector, viewer=public, k=30)
            timings["public_viewer"].append(time.perf_counter() - started)
            started = time.perf_counter()
            store.query(vector, viewer=member, k=30)
            timings["viewer_in_3_groups"].append(time.perf_counter() - started)
            started = time.perf_counter()
            collection.query(
                query_embeddings=np.asarray(vector).reshape(1, -1),
                n_results=30,
                where={"audience": ""},
                include=["documents", "metadatas", "distances"],
            )
            timings["where_filter"].append(time.perf_counter() - started)
    emit(
        {
            "benchmark": "permission_filter_cost",
            "public_chunks": size,
            "queries": len(vectors),
            "dense_lookup_median_ms": {name: _median_ms(values) for name, values in timings.items()},
            "dense_lookup_p95_ms": {
                name: round(float(np.percentile(values, 95)) * 1000, 2) for name, values in timings.items()
            },
        }
    )


if __name__ == "__main__":
    main()
