"""Shared helpers for benchmarks: dataset paths, a throwaway Deskpilot environment, metrics, JSON output."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import Embedder
from knowledge.index import KnowledgeIndex, open_knowledge_index
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory
from services.common.migrate import build_alembic_config, upgrade

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("DESKPILOT_DATASETS", REPO.parent / "shared" / "datasets"))


def dataset(*parts: str) -> Path:
    """Path of a file under ../shared/datasets, with a clear error when it is missing."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        sys.exit(f"dataset not found: {path} (set DESKPILOT_DATASETS to the datasets folder)")
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@dataclass
class BenchEnv:
    """A throwaway embedded Deskpilot: SQLite, Chroma and BM25 under a temp folder."""

    settings: Settings
    session_factory: sessionmaker[Session]
    index: KnowledgeIndex


@contextmanager
def open_bench_environment(root: Path, embedder: Embedder | None = None) -> Iterator[BenchEnv]:
    """Open (creating and migrating when needed) an embedded environment under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        _env_file=None,
        environment="test",
        database={"url": f"sqlite:///{root / 'bench.db'}"},
        chroma={"path": root / "chroma"},
        knowledge={"bm25_path": root / "bm25"},
    )
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    try:
        yield BenchEnv(
            settings, build_session_factory(engine), open_knowledge_index(settings, embedder=embedder)
        )
    finally:
        engine.dispose()


@contextmanager
def bench_environment(embedder: Embedder | None = None) -> Iterator[BenchEnv]:
    """A fresh embedded environment in a temporary folder, removed afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="deskpilot-bench-") as tmp,
        open_bench_environment(Path(tmp), embedder) as env,
    ):
        yield env


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ranking_metrics(ranks: Iterable[int | None]) -> dict[str, float]:
    """Recall@1, Recall@5, MRR@10 and nDCG@10 for one relevant item per query (rank is 1-based)."""
    ranks = list(ranks)
    n = len(ranks)
    return {
        "recall@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        "ndcg@10": sum(1 / math.log2(r + 1) for r in ranks if r is not None and r <= 10) / n,
    }


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's JSON figures (one document on stdout)."""
    print(json.dumps({**result, "machine": machine()}, indent=2, default=str))


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean."""
    return statistics.fmean(values)
