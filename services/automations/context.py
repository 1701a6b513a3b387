"""The automation context of this process: configured by the web app and tests, built from settings in
a worker process on its first task (after the fork, so no connection is shared between processes)."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from services.automations.notify import SlackNotifier
from services.automations.runner import AutomationContext
from services.common.config import Settings, get_settings

_lock = threading.Lock()
_context: AutomationContext | None = None


def configure_automation_context(context: AutomationContext | None) -> None:
    """Use ``context`` for the tasks of this process (None forgets it)."""
    global _context
    with _lock:
        _context = context


def get_automation_context() -> AutomationContext:
    """This process's context, built from settings on first use."""
    global _context
    with _lock:
        if _context is None:
            from services.common.db import build_engine, build_session_factory

            settings = get_settings()
            _context = build_automation_context(
                settings, build_session_factory(build_engine(settings.database))
            )
        return _context


def build_automation_context(settings: Settings, session_factory: sessionmaker[Session]) -> AutomationContext:
    """Adapters chosen by settings: the configured ITSM and identity provider, else the built-in ones."""
    from connectors.registry import build_identity_provider, build_ticket_system
    from services.bot.clients import slack_client_factory
    from services.directory.identity import BuiltinIdentityProvider
    from services.tickets.builtin import BuiltinTicketSystem

    engine = session_factory.kw.get("bind")
    return AutomationContext(
        session_factory=session_factory,
        tickets=build_ticket_system(settings.ticketing)
        or BuiltinTicketSystem(session_factory, public_url=settings.web.public_url),
        identity=build_identity_provider(settings.identity) or BuiltinIdentityProvider(session_factory),
        notifier=SlackNotifier(
            session_factory, slack_client_factory(settings, engine) if settings.slack.enabled else None
        ),
        policy=settings.automations,
    )
