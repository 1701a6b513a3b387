"""``deskpilot ingest``, ``ask`` and ``demo``: the knowledge commands of the CLI (imported lazily)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import KnowledgeSource
from connectors.models import DocumentFailure
from knowledge.citations import Citation
from knowledge.index import KnowledgeIndex, open_knowledge_index
from knowledge.ingest import IngestMode, IngestReport, ProgressCallback, ingest_source
from services.common.config import Settings, SourceSettings
from services.common.db import build_engine, build_session_factory, session_scope


@contextmanager
def database_runtime(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Session factory for one CLI command (exits with a hint when the schema is not migrated)."""
    import services.models  # noqa: F401 - every mapper must be known before the first flush (see below)
    from services.common.migrate import SchemaOutOfDateError, ensure_schema_current

    # A command that touches only some domains (``articles generate --fixtures`` inserts tickets) would
    # otherwise fail at flush: ``tickets.conversation_id`` names a table no imported model defines.
    engine = build_engine(settings.database)
    try:
        try:
            ensure_schema_current(engine)
        except SchemaOutOfDateError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from exc
        yield build_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def knowledge_runtime(settings: Settings) -> Iterator[tuple[sessionmaker[Session], KnowledgeIndex]]:
    """Session factory and knowledge index for one CLI command."""
    with database_runtime(settings) as session_factory:
        yield session_factory, open_knowledge_index(settings)


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A terminal progress bar counting documents (rate and elapsed time)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("documents"),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=None)
        yield lambda n: progress.advance(task, n)


def resolve_source(
    settings: Settings, source: str, path: Path | None, limit: int | None
) -> tuple[str, SourceSettings]:
    """A source name and its settings: a configured source, or ``folder``/``jsonl`` given a path."""
    if source in settings.sources:
        return source, settings.sources[source]
    if source in ("folder", "jsonl"):
        if path is None:
            raise typer.BadParameter(f"'{source}' needs --path", param_hint="--path")
        return f"{source}:{path.resolve().name}", SourceSettings(kind=source, path=path, limit=limit)
    configured = ", ".join(sorted(settings.sources)) or "none"
    raise typer.BadParameter(
        f"unknown source {source!r}: use 'folder --path DIR', 'jsonl --path FILE', 'demo', or a configured "
        f"source (DESKPILOT_SOURCES__<NAME>__KIND=...; configured: {configured})",
        param_hint="SOURCE",
    )


def print_report(report: IngestReport, *, as_json: bool) -> None:
    """Summary line and one line per failed document."""
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), "failures": [f.model_dump() for f in report.failures]}))
        return
    typer.echo(
        f"{report.source}: {report.documents} documents "
        f"({report.changed} new or changed, {report.unchanged} unchanged), "
        f"{report.chunks_embedded} chunks embedded, {report.chunks_reused} reused, {report.removed} removed, "
        f"{len(report.failures)} failed, {report.seconds:.1f} s"
    )
    for failure in report.failures:
        _print_failure(failure)


def _print_failure(failure: DocumentFailure) -> None:
    typer.secho(f"  ✗ {failure.document_id}: {failure.error}", fg=typer.colors.RED, err=True)


def run_ingest(
    settings: Settings,
    source: str,
    *,
    path: Path | None,
    limit: int | None,
    changed_only: bool,
    as_json: bool,
) -> int:
    """Ingest one source; returns the exit code (1 when the source itself failed)."""
    from connectors.registry import build_knowledge_source
    from services.common.errors import DeskpilotError

    if source == "demo":
        return run_demo(settings, as_json=as_json)
    name, source_settings = resolve_source(settings, source, path, limit)
    try:
        connector: KnowledgeSource = build_knowledge_source(name, source_settings)
    except DeskpilotError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return 1
    with (
        knowledge_runtime(settings) as (session_factory, index),
        progress_bar(f"ingesting {name}") as advance,
    ):
        try:
            report = ingest_source(
                connector,
                kind=source_settings.kind,
                index=index,
                session_factory=session_factory,
                mode=IngestMode.POLL if changed_only else IngestMode.FULL,
                config=source_settings.model_dump(mode="json", exclude={"token"}, exclude_none=True),
                progress=advance,
            )
        except (DeskpilotError, OSError) as exc:
            typer.secho(f"error: ingestion of {name} stopped: {exc}", fg=typer.colors.RED, err=True)
            return 1
    print_report(report, as_json=as_json)
    return 0


def run_demo(settings: Settings, *, as_json: bool) -> int:
    """Seed the demo directory and ingest the demo knowledge base."""
    from knowledge.demo import load_demo, ms_office_articles_path

    with (
        knowledge_runtime(settings) as (session_factory, index),
        progress_bar("loading demo knowledge base") as adv,
    ):
        reports = load_demo(settings, index=index, session_factory=session_factory, progress=adv)
    for report in reports:
        print_report(report, as_json=as_json)
    if len(reports) == 1 and settings.demo.ms_office_articles:
        typer.echo(
            f"note: {ms_office_articles_path(settings)} not found, Microsoft 365 articles were not loaded"
        )
    return 0


def _dispatch(
    settings: Settings, session_factory: sessionmaker[Session], run_id: int | None
) -> dict[str, str] | None:
    """Send a just-recorded automation run to the workers (run here when no broker is configured)."""
    if run_id is None:
        return None
    from services.automations.context import build_automation_context, configure_automation_context
    from services.automations.models import AutomationRun
    from services.worker.celery_app import create_celery_app
    from services.worker.dispatch import enqueue
    from services.worker.queues import TaskName

    create_celery_app(settings)
    configure_automation_context(build_automation_context(settings, session_factory))
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    with session_scope(session_factory) as db_session:
        run = db_session.get(AutomationRun, run_id)
        assert run is not None
        return {
            "reference": f"AR-{run.id}",
            "state": run.state.value,
            "notice": str((run.result or {}).get("notice") or "sent to the workers"),
        }


def run_ask(
    settings: Settings,
    question: str | None,
    *,
    as_email: str | None,
    as_json: bool,
    conversation_id: int | None = None,
    press: str | None = None,
    value: str = "",
) -> int:
    """Send a message (or press a button) as an employee; print the reply, citations, buttons and timings.

    The message goes through the orchestrator, exactly as from Slack or the web chat: classified, routed
    (answer, automation with slot filling and confirmation, ticket status, handoff, small talk) and recorded.
    """
    from services.common.db import session_scope
    from services.conversations.models import Channel
    from services.conversations.orchestrator import ButtonAction
    from services.conversations.runtime import build_orchestrator
    from services.directory import repo as directory

    if press is None and not (question or "").strip():
        typer.secho("error: the question is empty", fg=typer.colors.RED, err=True)
        return 2
    if press is not None and conversation_id is None:
        typer.secho("error: --press needs --conversation", fg=typer.colors.RED, err=True)
        return 2
    with knowledge_runtime(settings) as (session_factory, index):
        with session_scope(session_factory) as db_session:
            if as_email:
                employee = directory.get_employee_by_email(db_session=db_session, email=as_email)
                if employee is None:
                    typer.secho(f"error: no employee with e-mail {as_email}", fg=typer.colors.RED, err=True)
                    return 2
            else:
                employee = directory.get_or_create_employee(
                    db_session=db_session,
                    email="cli@deskpilot.local",
                    display_name="Command line (public articles)",
                )
            employee_id = employee.id
        orchestrator = build_orchestrator(settings, session_factory=session_factory, index=index)
        try:
            if press is not None:
                assert conversation_id is not None
                reply = orchestrator.handle_action(
                    employee_id=employee_id,
                    conversation_id=conversation_id,
                    action=ButtonAction(press),
                    value=value,
                )
            else:
                reply = orchestrator.handle_message(
                    employee_id=employee_id,
                    channel=Channel.CLI,
                    text=str(question),
                    conversation_id=conversation_id,
                )
        except ValueError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            return 2
        automation = _dispatch(settings, session_factory, reply.automation_run_id)
    base = settings.web.public_url.rstrip("/")

    def link(citation: Citation) -> str:
        return citation.url or f"{base}/kb/articles/{citation.article_id}"

    if as_json:
        typer.echo(
            json.dumps(
                {
                    "conversation_id": reply.conversation_id,
                    "message_id": reply.message_id,
                    "route": reply.route.value,
                    "outcome": reply.outcome.value,
                    "mode": reply.answer_mode,
                    "intent": reply.intent,
                    "confidence": None if reply.confidence is None else round(reply.confidence, 4),
                    "text": reply.text,
                    "notice": reply.notice,
                    "citations": [{**c.as_dict(), "link": link(c)} for c in reply.citations],
                    "buttons": [
                        {"action": b.action.value, "label": b.label, "value": b.value} for b in reply.buttons
                    ],
                    "latency_ms": round(reply.latency_ms, 1),
                    "automation": automation,
                }
            )
        )
        return 0
    typer.echo(reply.text)
    if automation:
        typer.echo(f"{automation['reference']}: {automation['state']} · {automation['notice']}")
    if reply.notice:
        typer.secho(f"({reply.notice})", fg=typer.colors.YELLOW)
    for citation in reply.citations:
        where = f" › {citation.heading_path}" if citation.heading_path else ""
        typer.echo(f"[{citation.number}] {citation.title}{where} — {link(citation)}")
    if reply.buttons:
        typer.echo(
            "Buttons: "
            + " · ".join(
                f"{b.label} (--press {b.action.value}{f' --value {b.value}' if b.value else ''})"
                for b in reply.buttons
            )
        )
    intent = (
        f"{reply.intent} ({reply.confidence:.2f})" if reply.intent and reply.confidence is not None else "-"
    )
    typer.secho(
        f"conversation {reply.conversation_id} · intent {intent} · route {reply.route.value} · "
        f"{reply.latency_ms:.0f} ms",
        dim=True,
    )
    return 0
