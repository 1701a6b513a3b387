"""BM25 lexical index over chunks (bm25s), with permission masks so restricted chunks never score.

bm25s has no incremental add: the index is rebuilt from all chunks after an ingestion that changed
something (about 12 s for 50k chunks here, 1–2 s for the demo). Reads are lock-free: a rebuild swaps a
new immutable snapshot in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.acl import Viewer

_META_FILE = "chunks.json"


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

    def __init__(self, path: Path) -> None:
        self.path = path
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Number of indexed chunks."""
        snapshot = self._snapshot
        return len(snapshot.chunk_ids) if snapshot else 0

    def build(
        self, chunk_ids: Sequence[str], texts: Sequence[str], audiences: Sequence[frozenset[str]]
    ) -> None:
        """Replace the index with these chunks and persist it under ``path``."""
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
            self._persist(snapshot)
            self._snapshot = snapshot

    def _persist(self, snapshot: _Snapshot | None) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / _META_FILE
        if snapshot is None:
            meta.unlink(missing_ok=True)
            return
        snapshot.model.save(str(self.path))
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"chunk_ids": snapshot.chunk_ids, "audiences": [sorted(a) for a in snapshot.audiences]}
            )
        )
        tmp.replace(meta)

    def load(self) -> bool:
        """Load the persisted index; False when there is none yet."""
        import bm25s

        meta = self.path / _META_FILE
        if not meta.exists():
            return False
        data = json.loads(meta.read_text())
        model = bm25s.BM25.load(str(self.path), mmap=False)
        snapshot = _Snapshot(model, data["chunk_ids"], [frozenset(a) for a in data["audiences"]])
        with self._lock:
            self._snapshot = snapshot
        return True

    def search(self, query: str, *, viewer: Viewer, k: int) -> list[LexicalHit]:
        """Top-``k`` chunks the viewer may read, by BM25 score; chunks scoring 0 are left out."""
        import bm25s

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
