"""Editing intents from the admin app: description, route, enabled flag and training utterances.

Every change is validated (clear :class:`IntentEditError` messages, never a database error) and audited
in the caller's transaction. Functions take a keyword-only ``db_session`` and never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from services.audit.models import AuditEntry
from services.audit.repo import record
from services.common.errors import NotFoundError, PermanentError
from services.directory.models import Employee
from services.router.catalog import DECLARABLE_ROUTES
from services.router.intents import OUT_OF_SCOPE
from services.router.models import Intent, IntentModelVersion, TrainingUtterance, UtteranceSource
from services.router.routes import Route

MAX_UTTERANCE_CHARS = 500
MAX_DESCRIPTION_CHARS = 500
_SPACES = re.compile(r"\s+")


class IntentEditError(PermanentError):
    """An edit that cannot be saved; the message says why, for the form."""

    code = "invalid_intent_edit"


@dataclass(frozen=True)
class Actor:
    """Who makes a change (for the audit log)."""

    id: int
    label: str


@dataclass(frozen=True)
class IntentSummary:
    """One row of the intents list."""

    id: int
    name: str
    description: str
    route: Route
    automation_flow: str | None
    enabled: bool
    utterances: int


def list_intent_summaries(*, db_session: Session) -> list[IntentSummary]:
    """Every intent with its utterance count, out-of-scope examples last."""
    counts = (
        select(TrainingUtterance.intent_id, func.count().label("n"))
        .group_by(TrainingUtterance.intent_id)
        .subquery()
    )
    rows = db_session.execute(
        select(Intent, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.intent_id == Intent.id)
        .order_by(Intent.name == OUT_OF_SCOPE, Intent.name)
    ).all()
    return [
        IntentSummary(i.id, i.name, i.description, i.route, i.automation_flow, i.enabled, int(n))
        for i, n in rows
    ]


def get_intent_with_utterances(*, db_session: Session, intent_id: int) -> Intent:
    """The intent and its utterances (newest first); NotFoundError when there is none."""
    intent = db_session.scalar(
        select(Intent).where(Intent.id == intent_id).options(selectinload(Intent.utterances))
    )
    if intent is None:
        raise NotFoundError(f"no intent {intent_id}")
    intent.utterances.sort(key=lambda u: u.id, reverse=True)
    return intent


def routes_an_intent_may_take(intent: Intent) -> list[Route]:
    """The routes the edit form offers (automation only for intents that have an automation flow)."""
    if intent.name == OUT_OF_SCOPE:
        return [Route.OUT_OF_SCOPE]
    return [
        r for r in Route if r in DECLARABLE_ROUTES and (r is not Route.AUTOMATION or intent.automation_flow)
    ]


def update_intent(
    *, db_session: Session, intent_id: int, description: str, route: str, enabled: bool, actor: Actor
) -> Intent:
    """Change an intent's description, route and enabled flag."""
    intent = get_intent_with_utterances(db_session=db_session, intent_id=intent_id)
    description = _SPACES.sub(" ", description).strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise IntentEditError(f"The description is longer than {MAX_DESCRIPTION_CHARS} characters.")
    allowed = routes_an_intent_may_take(intent)
    chosen = next((r for r in allowed if r.value == route), None)
    if chosen is None:
        raise IntentEditError(f"Choose one of these routes: {', '.join(r.value for r in allowed)}.")
    if intent.name == OUT_OF_SCOPE and not enabled:
        raise IntentEditError("The out-of-scope examples cannot be disabled: they teach what to refuse.")
    before = {"description": intent.description, "route": intent.route.value, "enabled": intent.enabled}
    intent.description, intent.route, intent.enabled = description, chosen, enabled
    after = {"description": description, "route": chosen.value, "enabled": enabled}
    changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
    if changed:
        record(
            db_session,
            action="intents.updated",
            target_type="intent",
            target_id=intent.id,
            actor_id=actor.id,
            actor_label=actor.label,
            details={"name": intent.name, "changed": changed},
        )
    db_session.flush()
    return intent


def add_utterance(*, db_session: Session, intent_id: int, text: str, actor: Actor) -> TrainingUtterance:
    """Add a training example; refuses empty, too long and duplicate ones (also in other intents)."""
    intent = get_intent_with_utterances(db_session=db_session, intent_id=intent_id)
    cleaned = _SPACES.sub(" ", text).strip()
    if not cleaned:
        raise IntentEditError("Type an example message first.")
    if len(cleaned) > MAX_UTTERANCE_CHARS:
        raise IntentEditError(
            f"Examples are at most {MAX_UTTERANCE_CHARS} characters; this one has {len(cleaned)}."
        )
    clash = db_session.execute(
        select(Intent.name)
        .join(TrainingUtterance, TrainingUtterance.intent_id == Intent.id)
        # SQLite's lower() folds ASCII only: the exact text is matched too (the unique constraint's test).
        .where(or_(TrainingUtterance.text == cleaned, func.lower(TrainingUtterance.text) == cleaned.lower()))
    ).first()
    if clash is not None:
        where = "this intent" if clash.name == intent.name else f"the intent {clash.name}"
        raise IntentEditError(f"“{cleaned}” is already an example of {where}.")
    utterance = TrainingUtterance(text=cleaned, source=UtteranceSource.ADMIN)
    intent.utterances.append(utterance)
    db_session.flush()
    record(
        db_session,
        action="intents.utterance_added",
        target_type="intent",
        target_id=intent.id,
        actor_id=actor.id,
        actor_label=actor.label,
        details={"name": intent.name, "utterance_id": utterance.id},
    )
    return utterance


def remove_utterance(*, db_session: Session, intent_id: int, utterance_id: int, actor: Actor) -> None:
    """Delete one training example (an intent keeps at least one)."""
    intent = get_intent_with_utterances(db_session=db_session, intent_id=intent_id)
    utterance = next((u for u in intent.utterances if u.id == utterance_id), None)
    if utterance is None:
        raise NotFoundError(f"intent {intent.name} has no example {utterance_id}")
    if len(intent.utterances) == 1:
        raise IntentEditError("An intent needs at least one example: add another before removing this one.")
    intent.utterances.remove(utterance)
    record(
        db_session,
        action="intents.utterance_removed",
        target_type="intent",
        target_id=intent.id,
        actor_id=actor.id,
        actor_label=actor.label,
        details={"name": intent.name, "utterance_id": utterance_id, "source": utterance.source.value},
    )
    db_session.flush()


def intent_routes(*, db_session: Session) -> dict[str, Route]:
    """Name → route of the enabled intents (what the orchestrator routes with)."""
    rows = db_session.execute(select(Intent.name, Intent.route).where(Intent.enabled.is_(True)))
    return {row.name: row.route for row in rows}


@dataclass(frozen=True)
class ModelVersionRow:
    """A trained model version as the admin sees it."""

    version: str
    is_active: bool
    utterances: int
    trained_at: datetime
    trained_by: str | None
    cross_validation: dict[str, float]


def recent_model_versions(*, db_session: Session, limit: int = 10) -> list[ModelVersionRow]:
    """The latest trained versions, newest first, with who trained them."""
    rows = db_session.execute(
        select(IntentModelVersion, Employee.display_name)
        .outerjoin(Employee, Employee.id == IntentModelVersion.trained_by_id)
        .order_by(IntentModelVersion.trained_at.desc(), IntentModelVersion.id.desc())
        .limit(limit)
    ).all()
    return [
        ModelVersionRow(
            v.version,
            v.is_active,
            v.utterance_count,
            v.trained_at,
            name,
            dict(v.metrics.get("cross_validation") or {}),
        )
        for v, name in rows
    ]


def edits_since(*, db_session: Session, since: datetime | None) -> dict[int, int]:
    """Intent id → number of audited edits after ``since`` (changes the served model has not learnt)."""
    query = (
        select(AuditEntry.target_id, func.count())
        .where(AuditEntry.target_type == "intent", AuditEntry.action.like("intents.%"))
        .group_by(AuditEntry.target_id)
    )
    if since is not None:
        query = query.where(AuditEntry.created_at > since)
    return {int(target): int(n) for target, n in db_session.execute(query) if target.isdigit()}
