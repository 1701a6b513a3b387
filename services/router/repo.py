"""Router queries: intents, utterances and model versions. Keyword-only ``db_session``; never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from services.router.catalog import Catalog
from services.router.intents import OUT_OF_SCOPE
from services.router.models import Intent, IntentModelVersion, TrainingUtterance, UtteranceSource
from services.router.routes import Route


@dataclass(frozen=True)
class CatalogSyncResult:
    """What loading a catalog changed."""

    intents_added: int
    intents_updated: int
    utterances_added: int


def sync_catalog(*, db_session: Session, catalog: Catalog) -> CatalogSyncResult:
    """Add the catalog's intents and utterances; update routes, slots and descriptions.

    Nothing is deleted: utterances admins added stay, and intents missing from the file keep their data.
    The catalog's ``out_of_scope`` examples go to the ``out_of_scope`` pseudo-intent.
    """
    existing = {
        intent.name: intent
        for intent in db_session.scalars(select(Intent).options(selectinload(Intent.utterances)))
    }
    added = updated = utterances_added = 0
    specs: list[tuple[str, str, Route, str | None, list[dict[str, object]], list[str]]] = [
        (
            i.name,
            i.description,
            i.route,
            i.automation_flow,
            [s.model_dump(mode="json") for s in i.slots],
            i.utterances,
        )
        for i in catalog.intents
    ]
    if catalog.out_of_scope:
        specs.append(
            (
                OUT_OF_SCOPE,
                "Messages that are none of Deskpilot's business",
                Route.OUT_OF_SCOPE,
                None,
                [],
                catalog.out_of_scope,
            )
        )
    for name, description, route, flow, slots, utterances in specs:
        intent = existing.get(name)
        if intent is None:
            intent = Intent(
                name=name, description=description, route=route, automation_flow=flow, slots=slots
            )
            db_session.add(intent)
            added += 1
        elif (intent.description, intent.route, intent.automation_flow, intent.slots) != (
            description,
            route,
            flow,
            slots,
        ):
            intent.description, intent.route, intent.automation_flow, intent.slots = (
                description,
                route,
                flow,
                slots,
            )
            updated += 1
        known = {u.text.casefold() for u in intent.utterances}
        for text in utterances:
            if text.casefold() not in known:
                intent.utterances.append(TrainingUtterance(text=text[:1000], source=UtteranceSource.SEED))
                known.add(text.casefold())
                utterances_added += 1
    db_session.flush()
    return CatalogSyncResult(added, updated, utterances_added)


def training_set(*, db_session: Session) -> tuple[list[str], list[str]]:
    """(texts, labels) of every utterance of every enabled intent."""
    rows = db_session.execute(
        select(TrainingUtterance.text, Intent.name)
        .join(Intent, Intent.id == TrainingUtterance.intent_id)
        .where(Intent.enabled.is_(True))
        .order_by(TrainingUtterance.id)
    ).all()
    return [text for text, _ in rows], [name for _, name in rows]


def intents_by_name(*, db_session: Session) -> dict[str, Intent]:
    """Every intent keyed by name."""
    return {intent.name: intent for intent in db_session.scalars(select(Intent))}


def active_model_version(*, db_session: Session) -> IntentModelVersion | None:
    """The model version currently served."""
    return db_session.scalar(select(IntentModelVersion).where(IntentModelVersion.is_active.is_(True)))


def activate_model_version(*, db_session: Session, version: IntentModelVersion) -> None:
    """Make ``version`` the only active one."""
    db_session.execute(update(IntentModelVersion).values(is_active=False))
    version.is_active = True
    db_session.flush()
