"""Slack's HTTP endpoints (Events API, interactivity, slash commands), served by the bolt app.

Before bolt sees a request we check the signature and the 5-minute replay window ourselves (401), then
that the body parses (400), so a malformed body never reaches a listener and nothing secret is logged.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

router = APIRouter(tags=["slack"])
logger = logging.getLogger(__name__)


def _body_is_well_formed(body: bytes, content_type: str) -> bool:
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        form = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
        payload = form.get("payload")
        return payload is None or isinstance(json.loads(payload[0]), dict)
    except (UnicodeDecodeError, ValueError):
        return False


async def _dispatch(request: Request) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    verifier = getattr(request.app.state, "slack_verifier", None)
    if handler is None or verifier is None:
        return JSONResponse({"error": "slack_not_configured"}, status_code=404)
    body = await request.body()
    if not verifier.is_valid_request(body, dict(request.headers)):
        logger.warning("Slack request refused: bad or stale signature", extra={"path": request.url.path})
        return JSONResponse({"error": "invalid_signature"}, status_code=401)
    if not _body_is_well_formed(body, request.headers.get("content-type", "")):
        logger.warning("Slack request refused: malformed body", extra={"path": request.url.path})
        return JSONResponse({"error": "malformed_body"}, status_code=400)
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
