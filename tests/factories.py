"""factory_boy factories for the ORM models; bind a session with :func:`bind_session` (the fixtures do)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from factory.alchemy import SQLAlchemyModelFactory
from factory.declarations import Iterator, Sequence, SubFactory
from factory.faker import Faker
from sqlalchemy.orm import Session

from services import models


class _SessionHolder:
    session: Session | None = None


def bind_session(session: Session | None) -> None:
    """Make every factory create its objects in ``session``."""
    _SessionHolder.session = session


def _current_session() -> Session:
    if _SessionHolder.session is None:
        raise RuntimeError("no session bound: use the db_session fixture")
    return _SessionHolder.session


T = TypeVar("T")


class _Base(SQLAlchemyModelFactory, Generic[T]):
    """Use ``XFactory.make(**fields)``: like ``create``, typed to return the model."""

    @classmethod
    def make(cls, **fields: Any) -> T:
        """Create, add to the bound session and flush one object."""
        return cast(T, cls.create(**fields))

    class Meta:
        abstract = True
        sqlalchemy_session_factory = _current_session
        sqlalchemy_session_persistence = "flush"


class GroupFactory(_Base[models.Group]):
    class Meta:
        model = models.Group

    name = Sequence(lambda n: f"group-{n}")


class EmployeeFactory(_Base[models.Employee]):
    class Meta:
        model = models.Employee

    email = Sequence(lambda n: f"employee{n}@example.test")
    display_name = Faker("name")
    slack_team_id = "T0TEST"
    slack_user_id = Sequence(lambda n: f"U{n:08d}")
    department = Iterator(["Engineering", "Finance", "Sales", "People"])


class ConversationFactory(_Base[models.Conversation]):
    class Meta:
        model = models.Conversation

    employee = SubFactory(EmployeeFactory)
    channel = models.Channel.SLACK
    slack_team_id = "T0TEST"
    slack_channel_id = "D0TEST"
    slack_thread_ts = Sequence(lambda n: f"1700000000.{n:06d}")


class MessageFactory(_Base[models.Message]):
    class Meta:
        model = models.Message

    conversation = SubFactory(ConversationFactory)
    role = models.MessageRole.EMPLOYEE
    text = "my VPN keeps dropping"


class TicketFactory(_Base[models.Ticket]):
    class Meta:
        model = models.Ticket

    system = models.TicketSystemKind.BUILTIN
    external_key = Sequence(lambda n: f"HD-{n + 1}")
    title = "VPN disconnects every few minutes"
    requester = SubFactory(EmployeeFactory)


class AutomationRunFactory(_Base[models.AutomationRun]):
    class Meta:
        model = models.AutomationRun

    kind = models.AutomationKind.PASSWORD_RESET
    idempotency_key = Sequence(lambda n: f"auto:password_reset:{n}")
    requester = SubFactory(EmployeeFactory)
