"""Intent predictions: the top intent, its confidence, the full ranking, and the two routing flags."""

from __future__ import annotations

from dataclasses import dataclass, field

OUT_OF_SCOPE = "out_of_scope"
"""Label of messages that are none of Deskpilot's business (also usable as a training label)."""


@dataclass(frozen=True)
class IntentScore:
    """One intent and the classifier's probability for it."""

    intent: str
    confidence: float


@dataclass(frozen=True)
class IntentPrediction:
    """What the classifier thinks a message is.

    ``intent`` is the top in-scope intent, or ``OUT_OF_SCOPE`` when the message was rejected (top
    confidence under the threshold, or the out-of-scope class won). ``ambiguous`` is set when the top two
    in-scope intents are closer than the ambiguity threshold: the router then asks which one was meant.
    The ranking is kept on the message for later steps and analytics.
    """

    intent: str
    confidence: float
    ranking: tuple[IntentScore, ...]
    out_of_scope: bool
    ambiguous: bool
    model_version: str
    latency_ms: float = field(default=0.0, compare=False)

    @property
    def top_two(self) -> tuple[IntentScore, ...]:
        """The two best in-scope intents (for a clarifying question)."""
        return self.ranking[:2]

    def ranking_as_list(self, limit: int = 5) -> list[dict[str, float | str]]:
        """JSON-ready ranking (stored on the message row)."""
        return [{"intent": s.intent, "confidence": round(s.confidence, 4)} for s in self.ranking[:limit]]
