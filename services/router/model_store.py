"""Serving the active intent model, hot-swapped when a newer version is activated (by any process)."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import Embedder
from services.common.db import session_scope
from services.common.errors import DeskpilotError
from services.router import repo
from services.router.classifier import TrainedIntentClassifier
from services.router.models import IntentModelVersion

logger = logging.getLogger(__name__)

_activations = 0
"""Bumped when this process activates a model version, so every model in it re-checks at once."""


def announce_model_activation() -> None:
    """Tell this process's :class:`ActiveIntentModel` instances that a new version was just committed
    (other processes see it within their ``refresh_s``)."""
    global _activations
    _activations += 1


class NoIntentModelError(DeskpilotError):
    """No model has been trained yet."""

    http_status = 503
    code = "no_intent_model"


class ActiveIntentModel:
    """The classifier of the active model version.

    ``get()`` looks up the active version in the database at most every ``refresh_s`` seconds; when it
    changed (a retrain in the admin app or the CLI, in any process), the new artifact is loaded outside
    the lock and swapped in, so requests in flight keep the model they started with.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], *, embedder: Embedder, refresh_s: float = 5.0
    ) -> None:
        self._session_factory = session_factory
        self._embedder = embedder
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._classifier: TrainedIntentClassifier | None = None
        self._checked_at = float("-inf")
        self._seen_activations = _activations

    def get(self) -> TrainedIntentClassifier:
        """The classifier to use now; raises NoIntentModelError before the first training."""
        now = time.monotonic()
        current = self._classifier
        activations = _activations
        fresh = now - self._checked_at < self._refresh_s and activations == self._seen_activations
        if current is not None and fresh:
            return current
        self._seen_activations = activations
        with session_scope(self._session_factory) as db_session:
            active = repo.active_model_version(db_session=db_session)
            version, path = (active.version, active.artifact_path) if active else (None, None)
        self._checked_at = now
        if version is None or path is None:
            if current is not None:
                return current
            raise NoIntentModelError("no intent model is trained yet: run `deskpilot intents train`")
        if current is not None and current.version == version:
            return current
        loaded = TrainedIntentClassifier.load(
            self._local_artifact(version, Path(path)), embedder=self._embedder
        )
        with self._lock:
            self._classifier = loaded
        logger.info("intent model swapped in", extra={"version": version})
        return loaded

    def _local_artifact(self, version: str, path: Path) -> Path:
        """The artifact on this machine: the trained file, else a copy fetched from the database."""
        if path.exists():
            return path
        with session_scope(self._session_factory) as db_session:
            blob = db_session.scalar(
                select(IntentModelVersion.artifact).where(IntentModelVersion.version == version)
            )
        if blob is None:
            raise NoIntentModelError(
                f"intent model {version} is neither at {path} nor in the database: retrain"
            )
        for target in (path, Path(tempfile.gettempdir()) / "deskpilot-models" / path.name):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".{os.getpid()}.part")
                partial.write_bytes(blob)
                partial.replace(target)
            except OSError:
                continue  # e.g. a read-only data directory: use the temporary one
            logger.info("intent model fetched from the database", extra={"version": version})
            return target
        raise NoIntentModelError(f"intent model {version} could not be written to {path} or the temp dir")
