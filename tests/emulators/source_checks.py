"""Helpers shared by the knowledge-source connector tests."""

from __future__ import annotations

from collections.abc import Iterable

from connectors.http import JsonHttpClient
from connectors.models import DocumentBatch, DocumentFailure, KnowledgeDocument
from tests.emulators.harness import RunningEmulator


def recording_client(
    emulator: RunningEmulator,
    delays: list[float],
    *,
    system: str,
    auth: tuple[str, str],
    timeout_s: float = 5.0,
    max_attempts: int = 3,
) -> JsonHttpClient:
    """A client for ``emulator`` whose backoff sleeps are recorded in ``delays`` instead of slept."""
    return JsonHttpClient(
        system=system,
        base_url=emulator.base_url,
        auth=auth,
        timeout_s=timeout_s,
        max_attempts=max_attempts,
        backoff_base_s=0.01,
        sleep=delays.append,
    )


def gather(
    batches: Iterable[DocumentBatch],
) -> tuple[dict[str, KnowledgeDocument], dict[str, DocumentFailure]]:
    """Every document and failure of a run, keyed by document id."""
    documents: dict[str, KnowledgeDocument] = {}
    failures: dict[str, DocumentFailure] = {}
    for batch in batches:
        documents.update({doc.document_id: doc for doc in batch.documents})
        failures.update({failure.document_id: failure for failure in batch.failures})
    return documents, failures
