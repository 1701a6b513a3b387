"""``deskpilot intents load|train|test``: the intent catalog and classifier from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from services.common.config import Settings


def run_load(settings: Settings, path: Path | None) -> int:
    """Load a catalog file into the database."""
    from services.cli_knowledge import database_runtime
    from services.common.db import session_scope
    from services.router.catalog import DEFAULT_CATALOG, CatalogError, load_catalog
    from services.router.repo import sync_catalog

    try:
        catalog = load_catalog(path or DEFAULT_CATALOG)
    except CatalogError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 1
    with database_runtime(settings) as session_factory, session_scope(session_factory) as db_session:
        result = sync_catalog(db_session=db_session, catalog=catalog)
    typer.echo(
        f"{len(catalog.intents)} intents in the catalog: {result.intents_added} added, "
        f"{result.intents_updated} updated, {result.utterances_added} new utterances"
    )
    return 0


def run_train(settings: Settings) -> int:
    """Train on the database's utterances and activate the new model version."""
    from knowledge.embeddings import build_embedder
    from services.cli_knowledge import database_runtime
    from services.router.training import NothingToTrainError, intents_train_flow

    with database_runtime(settings) as session_factory:
        try:
            row, report = intents_train_flow(
                session_factory,
                embedder=build_embedder(settings.knowledge.embedding),
                model_dir=settings.router.model_dir,
            )
        except NothingToTrainError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            return 1
    cv = ", ".join(f"{k} {v:.3f}" for k, v in report.cross_validation.items())
    typer.echo(
        f"trained {row.version}: {report.utterances} utterances, {report.intents} intents, "
        f"{report.out_of_scope_examples} out-of-scope examples in {report.seconds:.1f} s "
        f"(embedding {report.embed_seconds:.1f} s); thresholds {report.thresholds}; cross-validated: {cv}"
    )
    return 0


def run_test(settings: Settings, text: str, *, as_json: bool) -> int:
    """Classify one message with the active model and print the ranking and the route."""
    from knowledge.embeddings import build_embedder
    from services.cli_knowledge import database_runtime
    from services.common.db import session_scope
    from services.router.model_store import ActiveIntentModel, NoIntentModelError
    from services.router.repo import intents_by_name

    with database_runtime(settings) as session_factory:
        model = ActiveIntentModel(session_factory, embedder=build_embedder(settings.knowledge.embedding))
        try:
            prediction = model.get().predict(text)
        except NoIntentModelError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            return 1
        with session_scope(session_factory) as db_session:
            intent = intents_by_name(db_session=db_session).get(prediction.intent)
            route = intent.route.value if intent else "out_of_scope"
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "intent": prediction.intent,
                    "confidence": round(prediction.confidence, 4),
                    "out_of_scope": prediction.out_of_scope,
                    "ambiguous": prediction.ambiguous,
                    "route": route,
                    "ranking": prediction.ranking_as_list(),
                    "model_version": prediction.model_version,
                }
            )
        )
        return 0
    flags = (
        " (out of scope)"
        if prediction.out_of_scope
        else " (ambiguous: would ask)"
        if prediction.ambiguous
        else ""
    )
    typer.echo(f"{prediction.intent} → {route}{flags}   [model {prediction.model_version}]")
    for score in prediction.ranking[:5]:
        typer.echo(f"  {score.confidence:6.3f}  {score.intent}")
    return 0
