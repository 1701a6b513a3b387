"""Slack's HTTP endpoints (Events API, interactivity, slash commands), served by the bolt app."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

router = APIRouter(tags=["slack"])


async def _dispatch(request: Request) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    if handler is None:
        return JSONResponse({"error": "slack_not_configured"}, status_code=404)
    response: Response = await handler.handle(request)
    return response


@router.post("/slack/events")
async def slack_events(request: Request) -> Response:
    """Events API deliveries (signature checked by bolt; acked at once)."""
    return await _dispatch(request)


@router.post("/slack/interactions")
async def slack_interactions(request: Request) -> Response:
    """Button presses and modal submissions."""
    return await _dispatch(request)


@router.post("/slack/commands")
async def slack_commands(request: Request) -> Response:
    """Slash commands."""
    return await _dispatch(request)
