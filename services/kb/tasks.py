"""Celery tasks of the knowledge domain: a source sync (web "Sync now" on workers) and the interval sweep."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.worker.base_task import DeskpilotTask
from services.worker.queues import TaskName


@shared_task(name=TaskName.SYNC_SOURCE, base=DeskpilotTask)
def sync_source(source_id: int, actor_id: int | None = None, changes_only: bool = False) -> dict[str, Any]:
    """Ingest one knowledge source; a sync already running for it makes this one a no-op (recorded)."""
    from knowledge.index import open_knowledge_index
    from services.automations.context import get_automation_context
    from services.common.config import get_settings
    from services.kb.sources import SourceActionError, sync_source_now

    settings = get_settings()
    ctx = get_automation_context()
    try:
        outcome = sync_source_now(
            settings,
            ctx.session_factory,
            open_knowledge_index(settings),
            source_id=source_id,
            actor_id=actor_id,
            changes_only=changes_only,
            trigger="web" if actor_id is not None else "schedule",
        )
    except SourceActionError as exc:
        return {"source_id": source_id, "skipped": str(exc)}
    return {"source_id": source_id, "run_id": outcome.run_id, "status": outcome.status.value}


@shared_task(name=TaskName.SYNC_DUE_SOURCES, base=DeskpilotTask)
def sync_due_sources() -> dict[str, Any]:
    """Beat (every 5 minutes): queue a changes-only sync of every source whose interval has elapsed."""
    from services.automations.context import get_automation_context
    from services.common.db import session_scope, utcnow
    from services.kb.sources import due_source_ids
    from services.worker.dispatch import enqueue

    ctx = get_automation_context()
    with session_scope(ctx.session_factory) as db_session:
        due = due_source_ids(db_session=db_session, now=utcnow())
    for source_id in due:
        enqueue(TaskName.SYNC_SOURCE, source_id=source_id, changes_only=True)
    return {"queued": due}
