"""Knowledge sources as IT admins manage them: configure, test the connection, sync now, read the runs.

A source row keeps non-secret settings only (``config``); its token comes from the environment as
``DESKPILOT_SOURCES__<NAME>__TOKEN`` and never reaches the database, a page or the audit log. The
effective settings are the environment's, overlaid by the row's. "Sync now" runs the same ingestion
as ``deskpilot ingest`` and records an ``IngestionRun`` even when the source cannot be built.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import ConnectionCheck
from connectors.interfaces import KnowledgeSource as KnowledgeSourceConnector
from connectors.registry import (
    KNOWLEDGE_SOURCE_FIELDS,
    KNOWLEDGE_SOURCE_KINDS,
    build_knowledge_source,
)
from knowledge.index import KnowledgeIndex
from knowledge.ingest import IngestMode, ingest_source
from services.audit import repo as audit
from services.common.config import Settings, SourceSettings
from services.common.db import session_scope, utcnow
from services.common.errors import DeskpilotError, NotFoundError, PermanentError
from services.kb.models import Article, IngestionRun, KnowledgeSource, RunStatus

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_SECRET_WORDS = ("token", "password", "secret", "key")
MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 7 * 24 * 60
RUNNING_FOR_AT_MOST = timedelta(hours=2)
"""A run still marked running after this long is taken as crashed and no longer blocks "Sync now"."""


class SourceActionError(PermanentError):
    """The action cannot run on this source (managed by Deskpilot, a sync already running...)."""

    code = "source_action_refused"


@dataclass(frozen=True)
class SourceInput:
    """A validated source form."""

    name: str
    kind: str
    config: dict[str, Any]
    enabled: bool
    sync_interval_minutes: int | None


@dataclass
class SourceFormResult:
    """The parsed form: ``source`` when valid, else ``errors`` by field name."""

    source: SourceInput | None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of "Test connection"."""

    ok: bool
    message: str
    seconds: float


@dataclass(frozen=True)
class SyncOutcome:
    """The outcome of "Sync now": the run it recorded and a one-line summary."""

    run_id: int | None
    status: RunStatus
    message: str


def token_variable(name: str) -> str:
    """The environment variable holding a source's token."""
    return f"DESKPILOT_SOURCES__{name.upper()}__TOKEN"


def is_configurable(kind: str) -> bool:
    """True for kinds admins configure here (not Deskpilot's own ``generated`` source)."""
    return kind in KNOWLEDGE_SOURCE_KINDS


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config without anything that looks like a secret (defence in depth: rows hold none)."""
    return {k: v for k, v in sorted(config.items()) if not any(word in k.lower() for word in _SECRET_WORDS)}


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,\s]+", value) if item.strip()]


def _field_config(kind: str, form: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """The kind's non-secret fields from the form, checked one by one."""
    config: dict[str, Any] = {}
    wanted = KNOWLEDGE_SOURCE_FIELDS.get(kind, ())
    text = {name: form.get(name, "").strip() for name in wanted}
    if "path" in wanted:
        if not text["path"]:
            errors["path"] = "Give the folder or file path on the server."
        config["path"] = text["path"]
    if "url" in wanted:
        if not re.match(r"^https?://[^\s/]+", text["url"]):
            errors["url"] = "Give the site address, starting with https://."
        config["url"] = text["url"].rstrip("/")
    if "username" in wanted:
        if not text["username"]:
            errors["username"] = "Give the account (e-mail or user name) the token belongs to."
        config["username"] = text["username"]
    if "spaces" in wanted:
        config["spaces"] = _split_list(text["spaces"])
    if "knowledge_bases" in wanted:
        bases = _split_list(text["knowledge_bases"])
        if any(not _SYS_ID.match(b) for b in bases):
            errors["knowledge_bases"] = "Knowledge base ids are sys_ids: 32 lowercase hexadecimal characters."
        config["knowledge_bases"] = bases
    if "locale" in wanted:
        locale = text["locale"].lower() or "en-us"
        if not _LOCALE.match(locale):
            errors["locale"] = "A Help Center locale looks like en-us or de."
        config["locale"] = locale
    if "limit" in wanted and text["limit"]:
        if not text["limit"].isdigit() or int(text["limit"]) < 1:
            errors["limit"] = "The limit is a whole number of articles, at least 1 (or empty for all)."
        else:
            config["limit"] = int(text["limit"])
    return config


def parse_source_form(form: Mapping[str, str], *, existing: KnowledgeSource | None) -> SourceFormResult:
    """Validate the create/edit form; the name and kind of an existing source do not change."""
    errors: dict[str, str] = {}
    name = existing.name if existing else form.get("name", "").strip()
    kind = existing.kind if existing else form.get("kind", "").strip()
    if existing is None and not NAME_PATTERN.match(name):
        errors["name"] = (
            "Use 1–63 lowercase letters, digits or _, starting with a letter (it names the token variable)."
        )
    if kind not in KNOWLEDGE_SOURCE_KINDS:
        errors["kind"] = f"Choose one of: {', '.join(KNOWLEDGE_SOURCE_KINDS)}."
        return SourceFormResult(None, errors)
    config = _field_config(kind, form, errors)
    interval_text = form.get("sync_interval_minutes", "").strip()
    interval: int | None = None
    if interval_text:
        if (
            not interval_text.isdigit()
            or not MIN_INTERVAL_MINUTES <= int(interval_text) <= MAX_INTERVAL_MINUTES
        ):
            errors["sync_interval_minutes"] = (
                f"Sync every {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes, or leave it empty "
                "for manual syncs only."
            )
        else:
            interval = int(interval_text)
    if not errors:
        try:
            SourceSettings.model_validate({"kind": kind, **config})
        except ValidationError as exc:
            for error in exc.errors():
                errors[str(error["loc"][0]) if error["loc"] else "kind"] = str(error["msg"])
    if errors:
        return SourceFormResult(None, errors)
    enabled = form.get("enabled", "") in ("on", "true", "1")
    return SourceFormResult(SourceInput(name, kind, config, enabled, interval))


def save_source(
    session_factory: sessionmaker[Session], *, source_id: int | None, data: SourceInput, actor_id: int
) -> int:
    """Create or update a source row (non-secret settings only); audited. Refuses a duplicate name."""
    with session_scope(session_factory) as db_session:
        if source_id is None:
            if db_session.scalar(select(KnowledgeSource.id).where(KnowledgeSource.name == data.name)):
                raise SourceActionError(f"a source called {data.name!r} exists already")
            row = KnowledgeSource(name=data.name, kind=data.kind)
            db_session.add(row)
        else:
            found = db_session.get(KnowledgeSource, source_id)
            if found is None:
                raise NotFoundError(f"no source {source_id}")
            row = found
        before = public_config(row.config or {})
        row.config = dict(data.config)
        row.enabled = data.enabled
        row.sync_interval_minutes = data.sync_interval_minutes
        db_session.flush()
        audit.record(
            db_session,
            action="source.created" if source_id is None else "source.updated",
            target_type="knowledge_source",
            target_id=row.id,
            actor_id=actor_id,
            actor_label=f"employee:{actor_id}",
            details={"before": before, "after": public_config(data.config), "enabled": data.enabled},
        )
        return row.id


def effective_source_settings(settings: Settings, row: KnowledgeSource) -> SourceSettings:
    """The environment's settings for this source name, overlaid by the row's (the token stays env-only)."""
    env = settings.sources.get(row.name)
    base = env.model_dump(exclude={"token"}, exclude_none=True) if env else {}
    own = {k: v for k, v in (row.config or {}).items() if k in SourceSettings.model_fields and k != "token"}
    return SourceSettings.model_validate(
        {**base, **own, "kind": row.kind, "token": env.token if env else None}
    )


def token_configured(settings: Settings, name: str) -> bool:
    """True when the environment holds a token for this source (its value is never read here)."""
    env = settings.sources.get(name)
    return env is not None and env.token is not None and bool(env.token.get_secret_value())


@dataclass(frozen=True)
class _SourceSnapshot:
    id: int
    name: str
    kind: str
    settings: SourceSettings | None


def _snapshot(settings: Settings, session_factory: sessionmaker[Session], source_id: int) -> _SourceSnapshot:
    with session_scope(session_factory) as db_session:
        row = db_session.get(KnowledgeSource, source_id)
        if row is None:
            raise NotFoundError(f"no source {source_id}")
        effective = effective_source_settings(settings, row) if is_configurable(row.kind) else None
        return _SourceSnapshot(row.id, row.name, row.kind, effective)


def _connector(session_factory: sessionmaker[Session], source: _SourceSnapshot) -> KnowledgeSourceConnector:
    """The adapter for a source (raises ``SourceConfigurationError`` naming what is missing)."""
    if source.settings is not None:
        return build_knowledge_source(source.name, source.settings)
    if source.kind == "generated":
        from services.articles.review import GeneratedArticlesSource

        return GeneratedArticlesSource(session_factory)
    raise SourceActionError(f"source kind {source.kind!r} cannot be synced from here")


def _close(connector: object) -> None:
    close = getattr(connector, "close", None)
    if callable(close):
        close()


def _audit(
    session_factory: sessionmaker[Session],
    action: str,
    source_id: int,
    actor_id: int | None,
    **details: object,
) -> None:
    with session_scope(session_factory) as db_session:
        audit.record(
            db_session,
            action=action,
            target_type="knowledge_source",
            target_id=source_id,
            actor_id=actor_id,
            actor_label=f"employee:{actor_id}" if actor_id is not None else "schedule",
            details=details,
        )


def check_source_connection(
    settings: Settings, session_factory: sessionmaker[Session], *, source_id: int, actor_id: int
) -> CheckResult:
    """Build the source and reach it once; ok or the connector's error, timed and audited."""
    source = _snapshot(settings, session_factory, source_id)
    started = time.perf_counter()
    try:
        connector = _connector(session_factory, source)
        try:
            if not isinstance(connector, ConnectionCheck):
                raise SourceActionError(f"{source.kind} sources have no connection to test")
            result = CheckResult(True, connector.check_connection(), time.perf_counter() - started)
        finally:
            _close(connector)
    except (DeskpilotError, ValueError) as exc:
        result = CheckResult(False, str(exc), time.perf_counter() - started)
    _audit(session_factory, "source.tested", source_id, actor_id, ok=result.ok, message=result.message[:300])
    return result


def _running_since(db_session: Session, source_id: int) -> datetime | None:
    cutoff = utcnow() - RUNNING_FOR_AT_MOST
    return db_session.scalar(
        select(func.max(IngestionRun.started_at)).where(
            IngestionRun.source_id == source_id,
            IngestionRun.status == RunStatus.RUNNING,
            IngestionRun.started_at >= cutoff,
        )
    )


def _record_failed_run(
    session_factory: sessionmaker[Session], source_id: int, error: str, *, trigger: str
) -> int:
    """A run that could not start (the source could not be built), so the failure shows as the last run."""
    with session_scope(session_factory) as db_session:
        now = utcnow()
        run = IngestionRun(
            source_id=source_id,
            trigger=trigger,
            status=RunStatus.FAILED,
            started_at=now,
            finished_at=now,
            errors=[{"error": error}],
        )
        db_session.add(run)
        row = db_session.get_one(KnowledgeSource, source_id)
        row.last_status, row.last_error = RunStatus.FAILED, error[:2000]
        db_session.flush()
        return run.id


def _last_run_id(session_factory: sessionmaker[Session], source_id: int) -> int | None:
    with session_scope(session_factory) as db_session:
        return db_session.scalar(select(func.max(IngestionRun.id)).where(IngestionRun.source_id == source_id))


def sync_source_now(
    settings: Settings,
    session_factory: sessionmaker[Session],
    index: KnowledgeIndex,
    *,
    source_id: int,
    actor_id: int | None,
    changes_only: bool = False,
    trigger: str = "web",
) -> SyncOutcome:
    """Ingest the source now (full, or changes since the last sync); the run is recorded either way.

    ``actor_id`` is None for scheduled syncs; ``trigger`` is recorded on the run (web, schedule, cli).
    """
    source = _snapshot(settings, session_factory, source_id)
    with session_scope(session_factory) as db_session:
        running = _running_since(db_session, source_id)
    if running is not None:
        raise SourceActionError(
            f"a sync of {source.name} has been running since {running:%Y-%m-%d %H:%M} UTC"
        )
    try:
        connector = _connector(session_factory, source)
    except (DeskpilotError, ValueError) as exc:
        run_id = _record_failed_run(session_factory, source_id, str(exc), trigger=trigger)
        _audit(session_factory, "source.synced", source_id, actor_id, run_id=run_id, status="failed")
        return SyncOutcome(run_id, RunStatus.FAILED, str(exc))
    try:
        report = ingest_source(
            connector,
            kind=source.kind,
            index=index,
            session_factory=session_factory,
            mode=IngestMode.POLL if changes_only else IngestMode.FULL,
            trigger=trigger,
        )
        status = RunStatus.PARTIAL if report.failures else RunStatus.SUCCEEDED
        message = (
            f"{report.documents} documents ({report.changed} new or changed, {report.unchanged} unchanged), "
            f"{report.chunks_embedded} passages embedded, {report.removed} removed, "
            f"{len(report.failures)} failed"
        )
    except (DeskpilotError, OSError, ValueError) as exc:
        status, message = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        _close(connector)
    last_run = _last_run_id(session_factory, source_id)
    _audit(session_factory, "source.synced", source_id, actor_id, run_id=last_run, status=status.value)
    return SyncOutcome(last_run, status, message)


@dataclass(frozen=True)
class SourceRow:
    """One line of the source list."""

    id: int
    name: str
    kind: str
    enabled: bool
    sync_interval_minutes: int | None
    last_sync_at: datetime | None
    last_status: RunStatus | None
    last_error: str | None
    articles: int


def list_sources(*, db_session: Session) -> list[SourceRow]:
    """Every source with its article count, by name."""
    counts = dict(
        db_session.execute(
            select(Article.source_id, func.count(Article.id))
            .where(Article.source_id.is_not(None))
            .group_by(Article.source_id)
        ).all()
    )
    return [
        SourceRow(
            s.id,
            s.name,
            s.kind,
            s.enabled,
            s.sync_interval_minutes,
            s.last_sync_at,
            s.last_status,
            s.last_error,
            int(counts.get(s.id, 0)),
        )
        for s in db_session.scalars(select(KnowledgeSource).order_by(KnowledgeSource.name))
    ]


def recent_runs(*, db_session: Session, source_id: int, limit: int = 20) -> list[IngestionRun]:
    """The source's latest runs, newest first."""
    return list(
        db_session.scalars(
            select(IngestionRun)
            .where(IngestionRun.source_id == source_id)
            .order_by(IngestionRun.id.desc())
            .limit(limit)
        )
    )


def article_count(*, db_session: Session, source_id: int) -> int:
    """Articles that came from the source."""
    return int(db_session.scalar(select(func.count(Article.id)).where(Article.source_id == source_id)) or 0)


def due_source_ids(*, db_session: Session, now: datetime) -> list[int]:
    """Enabled sources with a sync interval whose last sync is older than it (or never ran)."""
    due: list[int] = []
    rows = db_session.scalars(
        select(KnowledgeSource).where(
            KnowledgeSource.enabled.is_(True), KnowledgeSource.sync_interval_minutes.is_not(None)
        )
    )
    for row in rows:
        interval = timedelta(minutes=row.sync_interval_minutes or 0)
        last = row.last_sync_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)  # SQLite returns naive UTC
        if is_configurable(row.kind) and (last is None or now - last >= interval):
            due.append(row.id)
    return due
