"""Which route a classified message takes: one decision for the orchestrator and the admin test box."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.router.intents import IntentPrediction
from services.router.routes import Route


@dataclass(frozen=True)
class RouteDecision:
    """The route for a prediction and why; ``intent`` is the intent to act on (None when rejected)."""

    route: Route
    intent: str | None
    reason: str


def decide_route(prediction: IntentPrediction, intent_routes: Mapping[str, Route]) -> RouteDecision:
    """Route a prediction given the routes of the enabled intents.

    Rejected messages go out of scope, ambiguous ones get a clarifying question, an intent the model
    knows but that was since disabled or removed falls back to a knowledge answer, and every other
    message takes the route its intent declares.
    """
    if prediction.out_of_scope:
        return RouteDecision(Route.OUT_OF_SCOPE, None, "out of scope")
    if prediction.ambiguous:
        return RouteDecision(Route.CLARIFY, None, "the top two intents are too close: asks which one")
    route = intent_routes.get(prediction.intent)
    if route is None:
        return RouteDecision(Route.ANSWER, prediction.intent, "intent disabled or unknown: answers")
    return RouteDecision(route, prediction.intent, f"the route of {prediction.intent}")
