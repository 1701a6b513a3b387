"""Prometheus metrics shared by every process (module-level collectors, the prometheus_client convention).

Labels are low-cardinality values only (enum values, route templates, task names, the configured model):
never user ids, channel ids or free text. The helpers below are what instrumented code calls, so label
names and allowed values live in one place. The Grafana dashboard (helm/deskpilot/dashboards) charts
every collector defined here; a unit test keeps the two in step.

Processes without a web server (Celery worker and beat, the Socket Mode bot) serve these metrics with
:func:`start_metrics_server` when ``DESKPILOT_METRICS__PORT`` is set. The prefork worker runs tasks in
child processes, so it needs prometheus_client's multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set
before start; see :func:`scrape_registry`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import values as prometheus_values

from services.common.config import LLMPrice

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "deskpilot_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "deskpilot_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DEPENDENCY_UP = Gauge(
    "deskpilot_dependency_up", "1 when the last readiness check of a dependency passed", ["dependency"]
)

# ---- Slack -----------------------------------------------------------------------------------------

SlackAckKind = Literal["event", "interaction", "command", "other"]
SlackAckOutcome = Literal["ok", "unhandled", "rejected", "error"]

SLACK_ACKS = Counter(
    "deskpilot_slack_acks_total",
    "Slack requests acknowledged, by kind (event, interaction, command, other) and outcome",
    ["kind", "outcome"],
)
SLACK_ACK_LATENCY = Histogram(
    "deskpilot_slack_ack_duration_seconds",
    "Time from bolt receiving a Slack request to its ack response (Slack gives up after 3 s)",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)

# ---- answers ---------------------------------------------------------------------------------------

ANSWER_LATENCY = Histogram(
    "deskpilot_answer_duration_seconds",
    "Time to reply to one employee message (classify, route, retrieve, LLM, record), by channel, "
    "route and outcome",
    ["channel", "route", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0),
)
RETRIEVAL_TOP_SCORE = Histogram(
    "deskpilot_retrieval_top_score",
    "Similarity of the best passage retrieved for a question; cleared=true when it reached the answer "
    "threshold (DESKPILOT_KNOWLEDGE__MIN_RELEVANCE)",
    ["cleared"],
    buckets=tuple(round(0.05 * step, 2) for step in range(1, 21)),
)
ANSWER_CITATIONS = Histogram(
    "deskpilot_answer_citations",
    "Citations per knowledge-base answer, by answer mode (llm, extractive, none)",
    ["mode"],
    buckets=(0, 1, 2, 3, 4, 5, 8),
)

# ---- LLM -------------------------------------------------------------------------------------------

LLMCallOutcome = Literal["ok", "auth_error", "rate_limited", "unavailable", "rejected", "error"]

LLM_CALLS = Counter(
    "deskpilot_llm_calls_total", "LLM calls by purpose, model and outcome", ["purpose", "model", "outcome"]
)
LLM_TOKENS = Counter(
    "deskpilot_llm_tokens_total",
    "LLM tokens reported by the endpoint, by purpose, model and kind (prompt, completion)",
    ["purpose", "model", "kind"],
)
LLM_COST = Counter(
    "deskpilot_llm_cost_usd_total",
    "Estimated LLM cost in USD (tokens x DESKPILOT_METRICS__LLM_PRICES; 0 for unpriced models)",
    ["purpose", "model"],
)
LLM_LATENCY = Histogram(
    "deskpilot_llm_request_duration_seconds",
    "LLM call latency, by purpose and model (failed calls included)",
    ["purpose", "model"],
    buckets=(0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0),
)

# ---- Celery tasks ----------------------------------------------------------------------------------

TASK_OUTCOMES = Counter(
    "deskpilot_task_outcomes_total",
    "Celery task runs by task name and outcome (success, retry, failure, ...)",
    ["task", "outcome"],
)
TASK_DURATION = Histogram(
    "deskpilot_task_duration_seconds",
    "Celery task run time, by task name",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
TASK_QUEUE_WAIT = Histogram(
    "deskpilot_task_queue_wait_seconds",
    "Time a Celery task waited between its send (or its ETA) and its start, by task name and queue "
    "(queue=eager when it ran in the sending process)",
    ["task", "queue"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)


_INTERACTION_TYPES = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "interactive_message",
        "dialog_submission",
        "dialog_cancellation",
        "dialog_suggestion",
    }
)


def slack_ack_kind(body: Mapping[str, Any]) -> SlackAckKind:
    """What a Slack request is: an Events API event, an interaction, a slash command, or other."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind == "event_callback" or "event" in body:
        return "event"
    if kind in _INTERACTION_TYPES:
        return "interaction"
    return "other"


def slack_ack_outcome(status: int) -> SlackAckOutcome:
    """The outcome label of an ack's HTTP status: ok, unhandled (no listener), rejected (4xx), error."""
    if 200 <= status < 300:
        return "ok"
    if status == 404:
        return "unhandled"
    return "rejected" if status < 500 else "error"


def observe_slack_ack(kind: SlackAckKind, outcome: SlackAckOutcome, seconds: float) -> None:
    """Count one Slack ack and its latency."""
    SLACK_ACKS.labels(kind=kind, outcome=outcome).inc()
    SLACK_ACK_LATENCY.labels(kind=kind).observe(seconds)


def observe_answer_turn(*, channel: str, route: str, outcome: str, seconds: float) -> None:
    """Record the latency of one reply (channel, route and outcome are enum values)."""
    ANSWER_LATENCY.labels(channel=channel, route=route, outcome=outcome).observe(seconds)


def observe_answer_quality(*, top_score: float, cleared: bool, mode: str, citations: int) -> None:
    """Record the best retrieval score of a question and the citations of the answer given."""
    RETRIEVAL_TOP_SCORE.labels(cleared="true" if cleared else "false").observe(top_score)
    ANSWER_CITATIONS.labels(mode=mode).observe(citations)


def llm_cost_usd(
    prices: Mapping[str, LLMPrice], model: str, *, prompt_tokens: int, completion_tokens: int
) -> float:
    """Estimated cost of one call from the price table (0 for a model the table does not know)."""
    price = prices.get(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.prompt_per_1k + completion_tokens * price.completion_per_1k) / 1000


def observe_llm_call(
    *,
    purpose: str,
    model: str,
    outcome: LLMCallOutcome,
    seconds: float,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    prices: Mapping[str, LLMPrice] | None = None,
) -> None:
    """Record one LLM call: outcome, latency, tokens and estimated cost."""
    LLM_CALLS.labels(purpose=purpose, model=model, outcome=outcome).inc()
    LLM_LATENCY.labels(purpose=purpose, model=model).observe(seconds)
    LLM_TOKENS.labels(purpose=purpose, model=model, kind="prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(purpose=purpose, model=model, kind="completion").inc(completion_tokens)
    cost = llm_cost_usd(prices or {}, model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    LLM_COST.labels(purpose=purpose, model=model).inc(cost)


# ---- exposition ------------------------------------------------------------------------------------


def multiprocess_mode_enabled() -> bool:
    """True when prometheus_client writes values to per-process files (it decides once, at import)."""
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def scrape_registry(multiproc_dir: Path | None) -> CollectorRegistry:
    """The registry to serve: every process's files in multi-process mode, else this process's metrics.

    In multi-process mode (the prefork worker) the default registry would only show the serving
    process, which runs no task; prometheus_client's ``MultiProcessCollector`` sums the files of all.
    """
    if not multiprocess_mode_enabled() or multiproc_dir is None:
        return REGISTRY
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    return registry


def clear_multiprocess_dir(multiproc_dir: Path) -> None:
    """Remove the value files of earlier runs (prometheus_client: wipe the directory before start)."""
    multiproc_dir.mkdir(parents=True, exist_ok=True)
    for stale in multiproc_dir.glob("*.db"):
        stale.unlink(missing_ok=True)


def mark_metrics_process_dead(pid: int, multiproc_dir: Path | None) -> None:
    """Drop the live-gauge files of a finished child process (no-op outside multi-process mode)."""
    if multiprocess_mode_enabled() and multiproc_dir is not None:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, str(multiproc_dir))  # type: ignore[no-untyped-call]


def start_metrics_server(port: int, *, multiproc_dir: Path | None, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve ``/metrics`` on ``port`` from a daemon thread (for processes without a web server)."""
    server, _thread = start_http_server(port, addr=addr, registry=scrape_registry(multiproc_dir))
    logger.info(
        "metrics server started",
        extra={"port": port, "multiprocess": multiprocess_mode_enabled() and multiproc_dir is not None},
    )
    return server
