"""Training flow: database utterances -> trained classifier -> versioned artifact -> active model version."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import Embedder
from services.common.db import session_scope, utcnow
from services.common.errors import PermanentError
from services.router import repo
from services.router.classifier import TrainedIntentClassifier, TrainingReport
from services.router.model_store import announce_model_activation
from services.router.models import IntentModelVersion


class NothingToTrainError(PermanentError):
    """The database has no (or too few) training utterances."""

    code = "nothing_to_train"


def intents_train_flow(
    session_factory: sessionmaker[Session],
    *,
    embedder: Embedder,
    model_dir: Path,
    trained_by_id: int | None = None,
) -> tuple[IntentModelVersion, TrainingReport]:
    """Train on every enabled intent's utterances and activate the new version (served at once by
    :class:`services.router.model_store.ActiveIntentModel`, which hot-swaps)."""
    with session_scope(session_factory) as db_session:
        texts, labels = repo.training_set(db_session=db_session)
    if len(set(labels)) < 2:
        raise NothingToTrainError("no intents to train on: run `deskpilot intents load` first")
    digest = hashlib.sha256(
        "\n".join(f"{label}\t{text}" for text, label in zip(texts, labels, strict=True)).encode()
    ).hexdigest()
    version = f"{utcnow():%Y%m%dT%H%M%S%f}-{digest[:8]}"  # µs: two retrains of the same data differ
    classifier, report = TrainedIntentClassifier.train(texts, labels, embedder=embedder, version=version)
    artifact = model_dir / f"intent-{version}.joblib"
    classifier.save(artifact)
    with session_scope(session_factory) as db_session:
        row = IntentModelVersion(
            version=version,
            artifact_path=str(artifact.resolve()),
            artifact=artifact.read_bytes(),
            utterance_count=len(texts),
            metrics=asdict(report),
            trained_by_id=trained_by_id,
        )
        db_session.add(row)
        db_session.flush()
        repo.activate_model_version(db_session=db_session, version=row)
    announce_model_activation()
    return row, report


def ensure_intent_model(
    session_factory: sessionmaker[Session], *, embedder: Embedder, model_dir: Path
) -> IntentModelVersion | None:
    """Load the shipped catalog and train once when no model is active (first start, demo); else no-op."""
    from services.router.catalog import load_catalog

    with session_scope(session_factory) as db_session:
        if repo.active_model_version(db_session=db_session) is not None:
            return None
        repo.sync_catalog(db_session=db_session, catalog=load_catalog())
    row, _ = intents_train_flow(session_factory, embedder=embedder, model_dir=model_dir)
    return row
