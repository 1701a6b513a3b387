"""Question -> answer latency over the full ms-office-support-kb index, extractive mode, model warm.

200 varied questions: 80 article titles, 60 problem descriptions, 30 short keyword queries (all drawn at
random from the dataset, so most have an answer), and 30 out-of-scope utterances from CLINC150 (which
should get "found nothing"). Each goes through ``answer_question`` exactly as ``deskpilot ask`` does
(retrieval with the permission filter, threshold, passage choice, extractive rendering).

The floor is what any answer must pay here: one query encode plus the dense and BM25 look-ups, taken
as the medians measured in the same run; the report gives p50 and p95 and their ratio to that floor.
Targets: p50 <= 60 ms, p95 <= 150 ms.

Run after ``bench/ingest_ms_office.py`` (it reuses that index), or it ingests first:
``.venv/bin/python -m bench.answer_latency [--data-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path

from bench.common import dataset, emit, open_bench_environment, percentile, read_jsonl
from bench.ingest_ms_office import DEFAULT_DIR, SOURCE
from connectors.jsonl.source import JsonLinesKnowledgeSource
from knowledge.acl import Viewer
from knowledge.answer import AnswerPolicy, AnswerStatus, answer_question
from knowledge.embeddings import LocalMiniLMEmbedder
from knowledge.ingest import ingest_source

STOP = {
    "a",
    "an",
    "the",
    "to",
    "in",
    "of",
    "for",
    "and",
    "or",
    "on",
    "with",
    "is",
    "you",
    "when",
    "can't",
    "not",
}


def build_questions(seed: int = 5) -> list[tuple[str, str]]:
    """(kind, question) pairs: titles, descriptions, keyword queries and out-of-scope utterances."""
    rng = random.Random(seed)
    articles = [a for a in read_jsonl(dataset("ms-office-support-kb", "articles.jsonl")) if a.get("title")]
    picked = rng.sample(articles, 170)
    questions: list[tuple[str, str]] = [("title", a["title"]) for a in picked[:80]]
    questions += [
        ("description", (a.get("description") or a["title"]).split(". ")[0]) for a in picked[80:140]
    ]
    for article in picked[140:170]:
        words = [w for w in re.findall(r"[A-Za-z0-9'-]+", article["title"]) if w.lower() not in STOP]
        questions.append(("keywords", " ".join(words[:3])))
    clinc = json.loads(dataset("clinc150", "clinc150_trainval.json").read_text())
    questions += [("out_of_scope", text) for text, _ in rng.sample(clinc["oos_val"], 30)]
    return questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    embedder = LocalMiniLMEmbedder()
    embedder.load()
    questions = build_questions()
    with open_bench_environment(args.data_dir, embedder) as env:
        if env.index.lexical.size == 0:
            source = JsonLinesKnowledgeSource(SOURCE, dataset("ms-office-support-kb", "articles.jsonl"))
            ingest_source(source, kind="jsonl", index=env.index, session_factory=env.session_factory)
        retriever = env.index.retriever()
        policy = AnswerPolicy.from_settings(env.settings)
        viewer = Viewer()
        for _, question in questions[:20]:  # warm caches (Chroma segments, BM25 arrays, torch kernels)
            answer_question(question, viewer=viewer, retriever=retriever, policy=policy)

        totals: list[float] = []
        embed: list[float] = []
        dense: list[float] = []
        lexical: list[float] = []
        answered: dict[str, list[bool]] = {}
        for kind, question in questions:
            started = time.perf_counter()
            answer = answer_question(question, viewer=viewer, retriever=retriever, policy=policy)
            totals.append((time.perf_counter() - started) * 1000)
            embed.append(answer.timings_ms["retrieve_embed_ms"])
            dense.append(answer.timings_ms["retrieve_dense_ms"])
            lexical.append(answer.timings_ms["retrieve_lexical_ms"])
            answered.setdefault(kind, []).append(answer.status is AnswerStatus.ANSWERED)
        chunks = env.index.lexical.size

    floor = statistics.median(embed) + statistics.median(dense) + statistics.median(lexical)
    p50, p95 = percentile(totals, 50), percentile(totals, 95)
    emit(
        {
            "benchmark": "answer_latency",
            "mode": "extractive",
            "questions": len(questions),
            "indexed_chunks": chunks,
            "latency_ms": {"p50": round(p50, 1), "p95": round(p95, 1), "max": round(max(totals), 1)},
            "targets_ms": {"p50": 60, "p95": 150},
            "floor_ms": {
                "query_encode_median": round(statistics.median(embed), 1),
                "dense_lookup_median": round(statistics.median(dense), 1),
                "bm25_lookup_median": round(statistics.median(lexical), 1),
                "total": round(floor, 1),
            },
            "ratio_to_floor": {"p50": round(p50 / floor, 2), "p95": round(p95 / floor, 2)},
            "answered_rate_by_kind": {k: round(sum(v) / len(v), 3) for k, v in answered.items()},
        }
    )


if __name__ == "__main__":
    main()
