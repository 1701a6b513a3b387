"""Resolution articles from resolved tickets, end to end on generated tickets with seeded PII.

Part 1 (quality): one fixture set (default seed 7: 14 problems, 3–8 tickets each, 10 noise tickets) is
loaded as resolved tickets; the pipeline scrubs, clusters with the real all-MiniLM-L6-v2, and drafts
extractively. Reports cluster quality against the fixture labels (ARI, V-measure), drafts, seeded PII
strings found in drafts (whole word), mean step recall against each problem's canonical steps.

Part 2 (scale): drafting N clusters (default 50) built from several fixture seeds, extractively, with
wall time and peak Python memory (tracemalloc).

Run: ``.venv/bin/python -m bench.article_generation [--seed 7] [--clusters 50]``
"""

from __future__ import annotations

import argparse
import re
import resource
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable

from sqlalchemy import select

from bench.common import bench_environment, emit
from knowledge import embeddings
from services.articles.clustering import cluster_quality, cluster_tickets, labels_from_clusters
from services.articles.drafting import draft_extractive, step_recall
from services.articles.fixture_loader import load_fixture_tickets
from services.articles.fixtures import generate_resolved_tickets
from services.articles.models import ArticleDraft
from services.articles.pipeline import generate_drafts
from services.articles.scrub import scrub_ticket
from services.articles.types import TicketCluster
from services.common.db import session_scope


def _quality(seed: int, embedder: embeddings.LocalMiniLMEmbedder) -> dict[str, object]:
    fixtures = generate_resolved_tickets(seed=seed)
    with bench_environment(embedder) as env:
        sessions = env.session_factory
        loaded = load_fixture_tickets(sessions, fixtures)
        by_db_id = {t.ticket_id: f.ticket_id for t, f in zip(loaded, fixtures.tickets, strict=True)}
        report = generate_drafts(sessions, embedder=embedder, retriever=env.index.retriever(), llm=None)
        with session_scope(sessions) as db_session:
            drafts = [
                (d.title + "\n" + d.body_markdown, [by_db_id[t.id] for t in d.source_tickets])
                for d in db_session.scalars(select(ArticleDraft))
            ]
    seeded = {s for strings in fixtures.seeded_pii.values() for s in strings}
    leaks = sum(
        1
        for s in seeded
        for text, _ in drafts
        if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text, re.IGNORECASE)
    )
    recalls = []
    for text, sources in drafts:
        label = Counter(fixtures.labels[t] for t in sources).most_common(1)[0][0]
        if label == "noise":
            continue
        steps = [line.split(". ", 1)[1] for line in text.splitlines() if re.match(r"^\d+\. ", line)]
        from services.articles.types import DraftArticle, DraftStep

        draft = DraftArticle("", "", "", tuple(DraftStep(s, ()) for s in steps), (), "extractive", 0.0, ())
        recalls.append(step_recall(draft, fixtures.problems[label].steps))
    scrubbed = [scrub_ticket(t) for t in fixtures.tickets]
    clusters = cluster_tickets(scrubbed, embedder, min_size=1)
    predicted = labels_from_clusters([t.ticket_id for t in scrubbed], clusters)
    truth = [  # each one-off ticket is its own problem (a shared "noise" label would punish completeness)
        label if label != "noise" else f"noise-{t.ticket_id}"
        for t in scrubbed
        for label in [fixtures.labels[t.ticket_id]]
    ]
    quality = cluster_quality(truth, predicted)
    return {
        "tickets": report.tickets_considered,
        "problems": len(fixtures.problems),
        "clusters_kept": report.clusters,
        "drafts": len(report.drafts_created),
        "covered": len(report.covered),
        "cluster_quality_all_tickets": {k: round(v, 3) for k, v in quality.items()},
        "seeded_pii_strings": len(seeded),
        "seeded_pii_in_drafts": leaks,
        "mean_step_recall": round(sum(recalls) / max(1, len(recalls)), 3),
        "min_step_recall": round(min(recalls, default=0.0), 3),
        "pipeline_seconds": report.seconds,
        "pipeline_peak_python_mb": report.peak_memory_mb,
    }


def _clusters(count: int, embedder: embeddings.LocalMiniLMEmbedder) -> list[TicketCluster]:
    clusters: list[TicketCluster] = []
    seed = 1
    while len(clusters) < count:
        fixtures = generate_resolved_tickets(seed=seed)
        clusters += cluster_tickets([scrub_ticket(t) for t in fixtures.tickets], embedder)
        seed += 1
    return clusters[:count]


def _timed(work: Callable[[], object]) -> dict[str, float]:
    tracemalloc.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return {"seconds": round(seconds, 2), "peak_python_mb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clusters", type=int, default=50)
    args = parser.parse_args()
    embedder = embeddings.LocalMiniLMEmbedder()
    embedder.load()
    quality = _quality(args.seed, embedder)
    clusters = _clusters(args.clusters, embedder)
    extractive = _timed(lambda: [draft_extractive(c) for c in clusters])
    emit(
        {
            "benchmark": "article_generation",
            "quality": quality,
            "scale": {"clusters": len(clusters), "extractive": extractive},
            "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    )


if __name__ == "__main__":
    main()
