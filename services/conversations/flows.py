"""Conversation flows: they own the transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from knowledge.answer import Answer
from services.common.db import session_scope
from services.conversations import repo
from services.conversations.models import AnswerOutcome, Channel, MessageRole
from services.router.routes import Route


def conversation_record_answer_flow(
    session_factory: sessionmaker[Session], *, employee_id: int, channel: Channel, answer: Answer
) -> int:
    """Store a question and its answer as one turn (NO_ANSWER turns are knowledge gaps); return reply id."""
    with session_scope(session_factory) as db_session:
        conversation = repo.create_conversation(
            db_session=db_session, employee_id=employee_id, channel=channel
        )
        repo.add_message(
            db_session=db_session,
            conversation=conversation,
            role=MessageRole.EMPLOYEE,
            text=answer.question,
            route=Route.ANSWER,
        )
        reply = repo.add_message(
            db_session=db_session,
            conversation=conversation,
            role=MessageRole.ASSISTANT,
            text=answer.text,
            route=Route.ANSWER,
            outcome=AnswerOutcome.ANSWERED if answer.answered else AnswerOutcome.NO_ANSWER,
            latency_ms=round(answer.timings_ms.get("total_ms", 0.0)),
            citations=[c.as_dict() for c in answer.citations],
            details={
                "mode": answer.mode.value,
                "confidence": round(answer.confidence, 4),
                "notice": answer.notice,
                "llm_tokens": answer.llm_tokens,
            },
        )
        return reply.id
