"""BM25 lexical index over chunks (bm25s), with permission masks so restricted chunks never score.

bm25s has no incremental add: the index is rebuilt from all chunks after an ingestion that changed
something (about 12 s for 50k chunks here, 1–2 s for the demo). Reads are lock-free: a rebuild swaps a
new immutable snapshot in.

Several processes share the index directory (web processes, workers, CLI ingestion; a shared volume in
Kubernetes). Each build is written to a new generation directory and published by atomically replacing
the ``CURRENT`` pointer file, so a reader never sees half an index; every process notices a newer
generation within ``refresh_s`` on its next search and reloads it. Writers serialise whole rebuilds with
:meth:`LexicalIndex.exclusive` (an ``flock`` on ``.lock``), so the last rebuild always reads the database
after every earlier commit and the published index is never older than the newest data.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.acl import Viewer

_META_FILE = "chunks.json"
_POINTER_FILE = "CURRENT"
_LOCK_FILE = ".lock"
_KEEP_GENERATIONS = 3


@dataclass(frozen=True)
class LexicalHit:
    """A chunk id with its BM25 score (> 0)."""

    chunk_id: str
    score: float


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


class _Snapshot:
    """An immutable built index: the bm25s model, chunk ids and the per-group permission masks."""

    def __init__(self, model: Any, chunk_ids: list[str], audiences: list[frozenset[str]]) -> None:
        self.model = model
        self.chunk_ids = chunk_ids
        self.audiences = audiences
        public = np.array([not audience for audience in audiences], dtype=np.float32)
        self.public_mask: npt.NDArray[np.float32] = public
        self.group_masks: dict[str, npt.NDArray[np.float32]] = {}
        for position, audience in enumerate(audiences):
            for group in audience:
                mask = self.group_masks.setdefault(group, np.zeros(len(audiences), dtype=np.float32))
                mask[position] = 1.0

    def mask_for(self, viewer: Viewer) -> npt.NDArray[np.float32] | None:
        """1.0 where the viewer may read the chunk; None when everything is readable."""
        if not self.group_masks:
            return None
        mask = self.public_mask.copy()
        for group in viewer.groups:
            group_mask = self.group_masks.get(group)
            if group_mask is not None:
                np.maximum(mask, group_mask, out=mask)
        return mask


class LexicalIndex:
    """BM25 over chunk index texts (English stop words removed, Snowball-stemmed)."""

    def __init__(self, path: Path, *, refresh_s: float = 1.0) -> None:
        self.path = path
        self.refresh_s = refresh_s
        self._snapshot: _Snapshot | None = None
        self._generation: str | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Number of indexed chunks."""
        self._refresh_if_stale()
        snapshot = self._snapshot
        return len(snapshot.chunk_ids) if snapshot else 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the cross-process rebuild lock (read the data and :meth:`build` inside it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / _LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def build(
        self, chunk_ids: Sequence[str], texts: Sequence[str], audiences: Sequence[frozenset[str]]
    ) -> None:
        """Replace the index with these chunks and publish it under ``path`` for every process."""
        import bm25s

        if not (len(chunk_ids) == len(texts) == len(audiences)):
            raise ValueError("chunk_ids, texts and audiences must have the same length")
        snapshot: _Snapshot | None = None
        if chunk_ids:
            tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False)
            model = bm25s.BM25()
            model.index(tokens, show_progress=False)
            snapshot = _Snapshot(model, list(chunk_ids), list(audiences))
        with self._lock:
            generation = self._publish(snapshot)
            self._snapshot, self._generation = snapshot, generation
            self._checked_at = time.monotonic()

    def _publish(self, snapshot: _Snapshot | None) -> str:
        """Write a new generation directory, then point ``CURRENT`` at it atomically; returns its name."""
        self.path.mkdir(parents=True, exist_ok=True)
        generation = f"gen-{time.time_ns()}-{os.getpid()}"
        folder = self.path / generation
        folder.mkdir()
        if snapshot is not None:
            snapshot.model.save(str(folder))
            meta = {"chunk_ids": snapshot.chunk_ids, "audiences": [sorted(a) for a in snapshot.audiences]}
            (folder / _META_FILE).write_text(json.dumps(meta))
        pointer = self.path / f"{_POINTER_FILE}.{os.getpid()}.tmp"
        pointer.write_text(generation)
        pointer.replace(self.path / _POINTER_FILE)
        self._prune(keep=generation)
        return generation

    def _prune(self, *, keep: str) -> None:
        """Delete old generations (a reader that opened one keeps its files: bm25s loads into memory)."""
        generations = sorted(p for p in self.path.glob("gen-*") if p.is_dir())
        stale = [p for p in generations if p.name != keep][: max(0, len(generations) - _KEEP_GENERATIONS)]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)

    def _current_generation(self) -> str | None:
        try:
            return (self.path / _POINTER_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def load(self) -> bool:
        """Load the published index; False when there is none yet."""
        import bm25s

        generation = self._current_generation()
        folder = self.path / generation if generation else self.path  # before generations: files at the top
        meta = folder / _META_FILE
        self._checked_at = time.monotonic()
        if not meta.exists():
            with self._lock:
                self._snapshot, self._generation = None, generation
            return False
        data = json.loads(meta.read_text())
        model = bm25s.BM25.load(str(folder), mmap=False)
        snapshot = _Snapshot(model, data["chunk_ids"], [frozenset(a) for a in data["audiences"]])
        with self._lock:
            self._snapshot, self._generation = snapshot, generation
        return True

    def _refresh_if_stale(self) -> None:
        """Reload when another process published a newer generation (checked at most every ``refresh_s``)."""
        if time.monotonic() - self._checked_at < self.refresh_s:
            return
        self._checked_at = time.monotonic()
        generation = self._current_generation()
        if generation is not None and generation != self._generation:
            try:
                self.load()
            except (OSError, ValueError):  # pruned between the pointer read and the load: next time
                self._checked_at = float("-inf")

    def search(self, query: str, *, viewer: Viewer, k: int) -> list[LexicalHit]:
        """Top-``k`` chunks the viewer may read, by BM25 score; chunks scoring 0 are left out."""
        import bm25s

        self._refresh_if_stale()
        snapshot = self._snapshot
        if snapshot is None or k <= 0:
            return []
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
        )
        if not any(tokens):
            return []
        k = min(k, len(snapshot.chunk_ids))
        documents, scores = snapshot.model.retrieve(
            tokens, k=k, weight_mask=snapshot.mask_for(viewer), show_progress=False, n_threads=1
        )
        hits: list[LexicalHit] = []
        for position, score in zip(documents[0], scores[0], strict=True):
            if score <= 0:
                continue
            index = int(position)
            if not viewer.can_read(snapshot.audiences[index]):  # defence in depth: never trust the mask alone
                continue
            hits.append(LexicalHit(snapshot.chunk_ids[index], float(score)))
        return hits
