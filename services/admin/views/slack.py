"""Slack's HTTP endpoints (Events API, interactivity, slash commands), served by the bolt app.

Before bolt sees a request we check the signature and the 5-minute replay window ourselves (401), then
that the body parses (400), so a malformed body never reaches a listener and nothing secret is logged.
A malformed signature header (a timestamp that is not a number, non-ASCII text) is refused with 401 too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier

router = APIRouter(tags=["slack"])
logger = logging.getLogger(__name__)

MAX_TIMESTAMP_DIGITS = 12
REPLAY_WINDOW_S = 5 * 60


def signature_is_valid(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """Slack's v0 signature check: ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with
    the verifier's signing secret, compared in constant time, timestamp within 5 minutes of its clock.

    Over the raw bytes (slack-sdk's ``is_valid`` decodes the body as UTF-8 first and raises on anything
    else), and refusing rather than raising on a malformed timestamp or a non-ASCII signature.
    """
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        lowered.setdefault(key.lower(), value)  # the first of repeated headers, as bolt reads them
    timestamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        return False
    if not signature or not signature.isascii():
        return False
    if abs(verifier.clock.now() - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    digest = hmac.new(
        verifier.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"v0={digest}", signature)


def _body_problem(body: bytes, content_type: str) -> str | None:
    """Why the body is malformed, or None: it must be UTF-8, read as a JSON object both strictly and by
    bolt's own ``parse_body``, and have a sound envelope (:func:`_envelope_problem`)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            if not isinstance(json.loads(text), dict):
                return "body is not a JSON object"
        else:
            form = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
            payload = form.get("payload")
            if payload is not None and (len(payload) != 1 or not isinstance(json.loads(payload[0]), dict)):
                return "payload is not one JSON object"
        parsed = parse_body(text, content_type.split(";")[0] or None)
    except UnicodeDecodeError:
        return "body is not UTF-8"
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:
        return f"body does not parse: {str(exc)[:100]}"
    if not isinstance(parsed, dict):
        return "body is not a JSON object"
    return _envelope_problem(parsed)


_OBJECT_OR_ID = ("team", "user", "channel", "enterprise", "container", "message", "authorizations")


def _ids_problem(part: dict[str, Any], where: str) -> str | None:
    """Bolt reads ``team``/``user``/``channel``... as an id string or an object with an ``id``."""
    for key in _OBJECT_OR_ID:
        value = part.get(key)
        if key == "authorizations":
            if value is not None and not (
                isinstance(value, list) and all(isinstance(a, dict) for a in value)
            ):
                return f"{where}{key} is not a list of objects"
        elif value is not None and not isinstance(value, dict | str):
            return f"{where}{key} is neither an id nor an object"
    for key in ("user_id", "team_id", "channel_id", "enterprise_id"):
        if part.get(key) is not None and not isinstance(part[key], str):
            return f"{where}{key} is not a string"
    return None


def _envelope_problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with the fields bolt indexes without checking (its matchers raise on them and it
    answers 500); None when the envelope is sound. The listeners check everything else themselves."""
    if not isinstance(payload.get("type", ""), str):
        return "type is not a string"
    for key in ("command", "callback_id", "trigger_id", "team_id", "api_app_id", "enterprise_id"):
        if key in payload and not isinstance(payload[key], str | None):
            return f"{key} is not a string"
    if (problem := _ids_problem(payload, "")) is not None:
        return problem
    if "event" in payload:
        event = payload["event"]
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event is not an object with a type"
        for key in ("message", "previous_message", "item", "workflow_step"):
            if key in event and not isinstance(event[key], dict | None):
                return f"event.{key} is not an object"
        for part, where in (
            (event, "event."),
            *((event.get(k), f"event.{k}.") for k in ("message", "previous_message")),
        ):
            if isinstance(part, dict) and (problem := _ids_problem(part, where)) is not None:
                return problem
    if "actions" in payload:
        actions = payload["actions"]
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return "actions is not a list of objects"
    if "view" in payload or payload.get("type") in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type", ""), str):
            return "view is not an object"
        if payload.get("type") == "view_submission" and not isinstance(view.get("type"), str):
            return "view without a type"
    return None


async def _dispatch(request: Request) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    verifier = getattr(request.app.state, "slack_verifier", None)
    if handler is None or verifier is None:
        return JSONResponse({"error": "slack_not_configured"}, status_code=404)
    body = await request.body()
    if not signature_is_valid(verifier, body, request.headers):
        logger.warning("Slack request refused: bad or stale signature", extra={"path": request.url.path})
        return JSONResponse({"error": "invalid_signature"}, status_code=401)
    problem = _body_problem(body, request.headers.get("content-type", ""))
    if problem is not None:
        logger.warning(
            "Slack request refused: malformed body", extra={"path": request.url.path, "reason": problem}
        )
        return JSONResponse({"error": "malformed_body", "detail": problem}, status_code=400)
    response: Response = await handler.handle(request)
    return response


@router.post("/slack/events")
async def slack_events(request: Request) -> Response:
    """Events API deliveries (acked at once; answered by lazy listeners)."""
    return await _dispatch(request)


@router.post("/slack/interactions")
async def slack_interactions(request: Request) -> Response:
    """Button presses and modal submissions."""
    return await _dispatch(request)


@router.post("/slack/commands")
async def slack_commands(request: Request) -> Response:
    """Slash commands."""
    return await _dispatch(request)


@router.get("/slack/install")
async def slack_install(request: Request) -> Response:
    """Multi-workspace installs: the "Add to Slack" page (sets a one-time OAuth state)."""
    return await _oauth(request)


@router.get("/slack/oauth_redirect")
async def slack_oauth_redirect(request: Request) -> Response:
    """Slack's redirect after consent: exchanges the code and stores the workspace's bot token."""
    return await _oauth(request)


async def _oauth(request: Request) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    if handler is None or not request.app.state.settings.slack.oauth_enabled:
        return JSONResponse({"error": "slack_oauth_not_configured"}, status_code=404)
    response: Response = await handler.handle(request)
    return response
