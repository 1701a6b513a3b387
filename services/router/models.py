"""Intent catalog, training utterances and versioned classifier models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import Base, StrEnumType, TimestampMixin, utcnow
from services.router.routes import Route


class UtteranceSource(StrEnum):
    """Where a training utterance came from."""

    SEED = "seed"
    ADMIN = "admin"
    FEEDBACK = "feedback"


class Intent(TimestampMixin, Base):
    """One thing an employee can ask for, with the route it takes and the slots its automation needs."""

    __tablename__ = "intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    route: Mapped[Route] = mapped_column(StrEnumType(Route))
    automation_flow: Mapped[str | None] = mapped_column(String(100))
    slots: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)

    utterances: Mapped[list[TrainingUtterance]] = relationship(
        back_populates="intent", cascade="all, delete-orphan"
    )


class TrainingUtterance(Base):
    """An example message labelled with its intent."""

    __tablename__ = "training_utterances"
    __table_args__ = (UniqueConstraint("intent_id", "text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("intents.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(1000))
    source: Mapped[UtteranceSource] = mapped_column(
        StrEnumType(UtteranceSource), default=UtteranceSource.SEED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    intent: Mapped[Intent] = relationship(back_populates="utterances")


class IntentModelVersion(Base):
    """A trained classifier artifact; exactly one is active and served at a time."""

    __tablename__ = "intent_model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_path: Mapped[str] = mapped_column(String(1000))
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    """The joblib file itself, so a process without it on disk (another pod) fetches it from here."""
    is_active: Mapped[bool] = mapped_column(default=False)
    utterance_count: Mapped[int] = mapped_column(default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    trained_by_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
