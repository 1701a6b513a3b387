"""Answering a question from the knowledge base: grounded LLM answer with citations, or extractive.

``answer_question`` knows nothing of Slack or HTTP: it takes a question and the viewer and returns an
:class:`Answer` that every channel renders. The rules it guarantees:
- below the relevance threshold the answer is NO_ANSWER ("found nothing", offer a ticket);
- an LLM answer is sent only when every citation resolves to a passage it was given; otherwise, or when
  the LLM is down or too slow, the extractive answer is used and the fallback is stated;
- the question is scrubbed of personal data before it reaches an LLM;
- restricted passages never reach anyone outside their audience (retrieval filters by viewer);
- when retrieval ran degraded (vector store unreachable, keyword matching only), the answer says so,
  whatever else it says.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from connectors.interfaces import LLM
from connectors.models import LLMPurpose
from knowledge.acl import Viewer
from knowledge.citations import Citation, InvalidCitationError, citation_for, resolve_citations
from knowledge.pii import scrub_pii
from knowledge.prompts import answer_v1
from knowledge.retrieve import HybridRetriever, RetrievalResult, RetrievedChunk
from services.common.config import Settings
from services.common.errors import DeskpilotError
from services.common.metrics import observe_answer_quality

logger = logging.getLogger(__name__)

EXTRACTIVE_MAX_CHARS = 1400
# Passages this far below the best one are not worth the LLM's attention.
CONTEXT_MARGIN = 0.15


class AnswerMode(StrEnum):
    """How the answer text was produced."""

    LLM = "llm"
    EXTRACTIVE = "extractive"
    NONE = "none"


class AnswerStatus(StrEnum):
    """Whether the knowledge base answered."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True)
class AnswerPolicy:
    """Knobs of answering; :meth:`from_settings` takes them from Settings."""

    min_relevance: float = 0.45
    top_k: int = 5
    max_tokens: int = 600
    llm_timeout_s: float = 20.0
    prompt_version: str = answer_v1.VERSION

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerPolicy:
        """The policy configured by ``knowledge.*`` and ``llm.*`` settings."""
        return cls(
            min_relevance=settings.knowledge.min_relevance,
            top_k=settings.knowledge.top_k,
            max_tokens=settings.llm.max_tokens,
            llm_timeout_s=settings.llm.timeout_s,
        )


@dataclass
class Answer:
    """A reply to one question, ready for any channel to render."""

    question: str
    status: AnswerStatus
    mode: AnswerMode
    text: str
    citations: list[Citation]
    confidence: float
    related: list[Citation] = field(default_factory=list)
    notice: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    llm_tokens: int = 0
    search_degraded: bool = False

    @property
    def answered(self) -> bool:
        """True when the knowledge base had an answer."""
        return self.status is AnswerStatus.ANSWERED


NO_ANSWER_TEXT = (
    "I couldn't find anything in the knowledge base that answers this. "
    "I can open a ticket so someone from IT can help."
)
EXTRACTIVE_NOTICE = "Quoted from the best-matching article (no AI summary is configured)."
LLM_FALLBACK_NOTICE = "The AI assistant is unavailable right now, so here is the best-matching article."
LLM_UNGROUNDED_NOTICE = "Here is the best-matching article, quoted as written."
SEARCH_DEGRADED_NOTICE = (
    "Search is running in a reduced mode right now (keyword matching only), "
    "so this answer may be less precise."
)


def _notice(*parts: str | None) -> str | None:
    """The notices that apply, as one text (None when there is none)."""
    return " ".join(part for part in parts if part) or None


def _trim(text: str, limit: int) -> str:
    """Cut at a paragraph (or line) boundary under ``limit`` characters, never inside a numbered list item."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n\n", 0, limit)
    if cut < limit // 3:
        cut = text.rfind("\n", 0, limit)
    if cut < limit // 3:
        cut = text.rfind(" ", 0, limit)
    return text[: max(cut, 1)].rstrip() + "\n…"


def extractive_text(item: RetrievedChunk) -> str:
    """The best passage as written (Markdown steps kept), under a heading saying where it comes from."""
    chunk = item.chunk
    heading = f"{chunk.title} — {chunk.heading_path}" if chunk.heading_path else chunk.title
    body = re.sub(r"\n{3,}", "\n\n", chunk.text.strip())
    return f"*{heading}*\n{_trim(body, EXTRACTIVE_MAX_CHARS)} [1]"


_ACTION_HEADING = re.compile(
    r"(?i)\b(resolution|resolve|solution|steps?|fix|workaround|how to|procedure|instructions|what to do)\b"
)
_CONTEXT_HEADING = re.compile(
    r"(?i)\b(symptoms?|cause|more information|overview|summary|problem|introduction)\b"
)
_WHY_QUESTION = re.compile(r"(?i)^\s*(why|what causes|what is causing|what's causing)\b")
SIBLING_SCAN = 40
INTRO_MARGIN = 0.08


def _is_context(item: RetrievedChunk) -> bool:
    heading = item.chunk.heading_path
    return not heading or (bool(_CONTEXT_HEADING.search(heading)) and not _ACTION_HEADING.search(heading))


def choose_extractive_passage(
    question: str, passages: Sequence[RetrievedChunk], retriever: HybridRetriever, viewer: Viewer
) -> RetrievedChunk:
    """The passage to quote: the best match, unless it only describes the problem while its article has steps.

    An extractive answer should tell the employee what to do. When the best passage is an introduction,
    the symptoms or the cause (and the question is not a "why" question), quote the article's resolution
    or steps section instead: first one that was retrieved, else one read from the same article.
    """
    best = passages[0]
    if not _is_context(best) or _WHY_QUESTION.match(question):
        return best
    same_article = [p for p in passages[1:] if p.chunk.doc_key == best.chunk.doc_key]
    for item in same_article:
        if _ACTION_HEADING.search(item.chunk.heading_path):
            return item
    siblings = retriever.get_chunks([f"{best.chunk.doc_key}:{n}" for n in range(SIBLING_SCAN)], viewer=viewer)
    for chunk_id in sorted(siblings, key=lambda cid: int(cid.rsplit(":", 1)[1])):
        chunk = siblings[chunk_id]
        if _ACTION_HEADING.search(chunk.heading_path):
            return RetrievedChunk(chunk=chunk, score=best.score, dense=best.dense, lexical=None)
    if not best.chunk.heading_path:
        for item in same_article:
            if item.score >= best.score - INTRO_MARGIN:
                return item
    return best


def _related(passages: Sequence[RetrievedChunk], cited: Sequence[Citation]) -> list[Citation]:
    """Other articles among the passages, one citation each, for a "see also" line."""
    seen = {c.article_id for c in cited}
    related: list[Citation] = []
    for item in passages:
        if item.chunk.article_id not in seen:
            seen.add(item.chunk.article_id)
            related.append(citation_for(len(related) + 1, item))
    return related[:3]


def answer_question(
    question: str,
    *,
    viewer: Viewer,
    retriever: HybridRetriever,
    llm: LLM | None = None,
    policy: AnswerPolicy | None = None,
    history: Sequence[tuple[str, str]] = (),
) -> Answer:
    """Answer ``question`` for ``viewer`` from the knowledge base (see the module docstring for the rules)."""
    policy = policy or AnswerPolicy()
    answer = _compose_answer(question, viewer, retriever, llm, policy, history)
    if answer.search_degraded:
        answer.notice = _notice(answer.notice, SEARCH_DEGRADED_NOTICE)
    observe_answer_quality(
        top_score=answer.confidence,
        cleared=answer.confidence >= policy.min_relevance,
        mode=answer.mode.value,
        citations=len(answer.citations),
    )
    return answer


def _compose_answer(
    question: str,
    viewer: Viewer,
    retriever: HybridRetriever,
    llm: LLM | None,
    policy: AnswerPolicy,
    history: Sequence[tuple[str, str]],
) -> Answer:
    started = time.perf_counter()
    result: RetrievalResult = retriever.retrieve(question, viewer=viewer, k=policy.top_k)
    timings = {f"retrieve_{k}": v for k, v in result.timings_ms.items()}
    confidence = result.top_similarity
    if not result.chunks or confidence < policy.min_relevance:
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        return Answer(
            question,
            AnswerStatus.NO_ANSWER,
            AnswerMode.NONE,
            NO_ANSWER_TEXT,
            [],
            confidence,
            timings_ms=timings,
            search_degraded=result.degraded,
        )
    passages = [
        item
        for item in result.chunks
        if (item.dense if item.dense is not None else 0.0)
        >= max(policy.min_relevance, confidence - CONTEXT_MARGIN)
    ] or result.chunks[:1]

    notice = EXTRACTIVE_NOTICE
    if llm is not None:
        mark = time.perf_counter()
        try:
            answer = _llm_answer(
                question, passages, llm=llm, policy=policy, history=history, confidence=confidence
            )
        except DeskpilotError as exc:
            logger.warning("LLM answer failed, falling back to extractive", extra={"error": str(exc)})
            notice = LLM_FALLBACK_NOTICE
        except InvalidCitationError as exc:
            logger.warning("LLM answer had unresolvable citations; not sent", extra={"error": str(exc)})
            notice = LLM_UNGROUNDED_NOTICE
        else:
            timings["llm_ms"] = (time.perf_counter() - mark) * 1000
            timings["total_ms"] = (time.perf_counter() - started) * 1000
            answer.timings_ms = timings
            answer.search_degraded = result.degraded
            return answer
        timings["llm_ms"] = (time.perf_counter() - mark) * 1000

    best = choose_extractive_passage(question, passages, retriever, viewer)
    citations = [citation_for(1, best)]
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    return Answer(
        question,
        AnswerStatus.ANSWERED,
        AnswerMode.EXTRACTIVE,
        extractive_text(best),
        citations,
        confidence,
        related=_related(passages, citations),
        notice=notice,
        timings_ms=timings,
        search_degraded=result.degraded,
    )


def _llm_answer(
    question: str,
    passages: Sequence[RetrievedChunk],
    *,
    llm: LLM,
    policy: AnswerPolicy,
    history: Sequence[tuple[str, str]],
    confidence: float,
) -> Answer:
    """Ask the LLM; raises InvalidCitationError when its citations do not resolve."""
    scrubbed_history = [(role, scrub_pii(text).text) for role, text in history]
    messages = answer_v1.build_messages(
        scrub_pii(question).text,
        [
            (
                f"{p.chunk.title} — {p.chunk.heading_path}" if p.chunk.heading_path else p.chunk.title,
                p.chunk.text,
            )
            for p in passages
        ],
        scrubbed_history,
    )
    result = llm.complete(
        messages, purpose=LLMPurpose.ANSWER, max_tokens=policy.max_tokens, timeout_s=policy.llm_timeout_s
    )
    text = result.text.strip()
    tokens = result.prompt_tokens + result.completion_tokens
    if text.upper().startswith(answer_v1.NO_ANSWER) or not text:
        return Answer(
            question,
            AnswerStatus.NO_ANSWER,
            AnswerMode.LLM,
            NO_ANSWER_TEXT,
            [],
            confidence,
            llm_tokens=tokens,
        )
    citations = resolve_citations(text, passages)
    return Answer(
        question,
        AnswerStatus.ANSWERED,
        AnswerMode.LLM,
        text,
        citations,
        confidence,
        related=_related(passages, citations),
        llm_tokens=tokens,
    )
