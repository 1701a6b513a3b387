"""A migrated database with the demo directory, the built-in ITSM and directory, and a notifier that
records what it was asked to deliver (a real implementation of the ``Notifier`` seam)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.interfaces import IdentityProvider, TicketSystem
from services.automations.models import AutomationKind, AutomationRun
from services.automations.notify import ApprovalButtons
from services.automations.runner import AutomationContext
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.conversations.models import Channel, Conversation
from services.directory.demo import seed_demo_directory
from services.directory.identity import BuiltinIdentityProvider
from services.directory.models import Employee, Group
from services.tickets.builtin import BuiltinTicketSystem
from tests.conftest import make_settings


@dataclass
class RecordingNotifier:
    """Keeps every notice; ``fail_private`` makes private deliveries fail (no DM channel)."""

    told: list[dict[str, Any]] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)
    fail_private: bool = False

    def tell_requester(
        self, *, employee_id: int, conversation_id: int | None, text: str, private: bool = False
    ) -> None:
        if private and self.fail_private:
            raise RuntimeError("no DM channel")
        self.told.append(
            {"employee_id": employee_id, "conversation_id": conversation_id, "text": text, "private": private}
        )

    def ask_approver(self, *, approver_id: int, text: str, buttons: ApprovalButtons) -> None:
        self.asked.append({"approver_id": approver_id, "text": text, "run_id": buttons.run_id})


@dataclass
class World:
    sessions: sessionmaker[Session]
    ctx: AutomationContext
    notifier: RecordingNotifier
    people: dict[str, int]

    def employee(self, email_prefix: str) -> int:
        return next(i for e, i in self.people.items() if e.startswith(email_prefix))

    def new_run(
        self, kind: AutomationKind, params: dict[str, Any], *, who: str = "fiona", key: str = "k1"
    ) -> int:
        with session_scope(self.sessions) as db_session:
            conversation = Conversation(employee_id=self.employee(who), channel=Channel.WEB)
            db_session.add(conversation)
            db_session.flush()
            run = AutomationRun(
                kind=kind,
                idempotency_key=f"auto:{kind.value}:{key}",
                requester_id=self.employee(who),
                conversation_id=conversation.id,
                params=params,
            )
            db_session.add(run)
            db_session.flush()
            return run.id

    def run(self, run_id: int) -> AutomationRun:
        with session_scope(self.sessions) as db_session:
            run = db_session.get(AutomationRun, run_id)
            assert run is not None
            db_session.expunge(run)
            return run


def build_world(
    tmp_path: Path, *, tickets: TicketSystem | None = None, identity: IdentityProvider | None = None
) -> World:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    sessions = build_session_factory(build_engine(settings.database))
    with session_scope(sessions) as db_session:
        seed_demo_directory(db_session)
        db_session.add(Group(name="app-adobe-acrobat"))
    with session_scope(sessions) as db_session:
        people = {e.email: e.id for e in db_session.scalars(select(Employee))}
    notifier = RecordingNotifier()
    ctx = AutomationContext(
        session_factory=sessions,
        tickets=tickets or BuiltinTicketSystem(sessions, public_url="https://deskpilot.example"),
        identity=identity or BuiltinIdentityProvider(sessions),
        notifier=notifier,
    )
    return World(sessions, ctx, notifier, people)
