"""``deskpilot reports ...``: the managers' weekly ROI digest in Slack, sent (or previewed) by hand."""

from __future__ import annotations

import json
from datetime import date

import typer
from slack_sdk import WebClient

from services.common.config import Settings


def run_digest(settings: Settings, *, week: date | None, dry_run: bool, as_json: bool = False) -> int:
    """Send the digest of ``week`` (default: the last full week) to every manager not yet sent it.

    Exit codes: 0 done, 1 some managers failed or are still owed it (Slack outage: run again later),
    2 Slack is not configured (except with ``--dry-run``, which posts nothing).
    """
    from services.bot.clients import slack_client_factory
    from services.cli_knowledge import database_runtime
    from services.common.db import utcnow
    from services.reports.digest import last_full_week, monday_of, send_weekly_digest

    if not settings.slack.enabled and not dry_run:
        typer.secho(
            "error: Slack is not configured (DESKPILOT_SLACK__BOT_TOKEN or OAuth client); "
            "use --dry-run to preview",
            fg=typer.colors.RED,
            err=True,
        )
        return 2
    week_start = monday_of(week) if week else last_full_week(utcnow(), settings.reports.timezone)
    with database_runtime(settings) as session_factory:
        engine = session_factory.kw.get("bind")
        clients = slack_client_factory(settings, engine) if settings.slack.enabled else _no_slack
        outcome = send_weekly_digest(
            session_factory,
            clients,
            week_start=week_start,
            public_url=settings.web.public_url,
            claim=f"cli:{utcnow().isoformat()}",
            dry_run=dry_run,
        )
    if as_json:
        typer.echo(json.dumps(outcome.summary() | {"text": outcome.message.text}))
    elif dry_run:
        typer.echo(outcome.message.text)
        typer.echo(
            f"would send to {len(outcome.recipients)} managers: "
            + ", ".join(r.email for r in outcome.recipients)
        )
    else:
        summary = outcome.summary()
        typer.echo(
            f"week of {summary['week']}: sent to {summary['sent']}, "
            f"already sent to {summary['already_done']}, failed {summary['failed']}, "
            f"still owed {summary['pending']}"
        )
        for employee_id, error in outcome.failed.items():
            typer.echo(f"  employee {employee_id}: {error}", err=True)
    return 1 if outcome.failed or outcome.pending else 0


def _no_slack(_team_id: str) -> WebClient:
    """The client factory of a dry run without Slack: never called (nothing is posted)."""
    raise LookupError("Slack is not configured")
