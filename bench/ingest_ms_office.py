"""Ingestion of the full ms-office-support-kb (2,457 articles) through the real pipeline.

Reports: seconds, chunks per second, the ratio to raw all-MiniLM-L6-v2 encode throughput of the very
same chunk texts on the same machine (target >= 0.8), and the time to re-ingest it unchanged (target:
at least 20x faster than the first run).

The environment is kept in ``--data-dir`` (default: a folder under /tmp) so that
``bench/answer_latency.py`` can reuse the index.

Run: ``.venv/bin/python -m bench.ingest_ms_office [--data-dir DIR]``
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from bench.common import dataset, emit, open_bench_environment
from connectors.jsonl.source import JsonLinesKnowledgeSource
from knowledge.chunking import chunk_document
from knowledge.embeddings import LocalMiniLMEmbedder
from knowledge.ingest import ingest_source

DEFAULT_DIR = Path("/tmp/deskpilot-bench-ms-office")
SOURCE = "microsoft-365-support"


def raw_encode_throughput(
    embedder: LocalMiniLMEmbedder, source: JsonLinesKnowledgeSource
) -> tuple[int, float]:
    """Chunks and seconds to encode the same chunk texts with sentence-transformers directly."""
    texts = [
        chunk.index_text
        for batch in source.load_all()
        for document in batch.documents
        for chunk in chunk_document(document)
    ]
    started = time.perf_counter()
    embedder.load().encode(
        texts, batch_size=embedder.batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return len(texts), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N articles (for a quick look)"
    )
    args = parser.parse_args()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    articles = dataset("ms-office-support-kb", "articles.jsonl")
    source = JsonLinesKnowledgeSource(SOURCE, articles, limit=args.limit)
    embedder = LocalMiniLMEmbedder()
    embedder.load()
    embedder.embed_documents(["warm-up"])

    with open_bench_environment(args.data_dir, embedder) as env:
        started = time.perf_counter()
        first = ingest_source(source, kind="jsonl", index=env.index, session_factory=env.session_factory)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = ingest_source(source, kind="jsonl", index=env.index, session_factory=env.session_factory)
        second_s = time.perf_counter() - started

    raw_chunks, raw_s = raw_encode_throughput(embedder, source)
    ingest_rate = first.chunks_embedded / first_s
    raw_rate = raw_chunks / raw_s
    emit(
        {
            "benchmark": "ingest_ms_office",
            "articles": first.documents,
            "failed": len(first.failures),
            "chunks": first.chunks_embedded,
            "first_run_seconds": round(first_s, 1),
            "first_run_embed_seconds": round(first.embed_seconds, 1),
            "ingest_chunks_per_second": round(ingest_rate, 1),
            "raw_minilm_encode_chunks_per_second": round(raw_rate, 1),
            "ratio_to_raw_encode": round(ingest_rate / raw_rate, 3),
            "target_ratio": 0.8,
            "unchanged_rerun_seconds": round(second_s, 2),
            "unchanged_rerun_embedded_chunks": second.chunks_embedded,
            "rerun_speedup": round(first_s / second_s, 1),
            "target_speedup": 20,
            "data_dir": str(args.data_dir),
        }
    )


if __name__ == "__main__":
    main()
