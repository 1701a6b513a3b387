"""Status webhooks from the ITSM (Jira, ServiceNow, Zendesk): verified, then applied by a task.

The configured ticket system checks the signature (401 when wrong) and reads the body (400 when
malformed); a status change is queued (202) and told to the requester once.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from connectors.errors import AuthError, RemoteRejectedError
from services.automations.context import get_automation_context
from services.worker.dispatch import enqueue
from services.worker.queues import TaskName

router = APIRouter(tags=["tickets"])
logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1_000_000


@router.post("/webhooks/tickets")
async def ticket_status_webhook(request: Request) -> Response:
    """One status webhook of the configured ITSM."""
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return JSONResponse({"error": "payload_too_large"}, status_code=413)
    tickets = get_automation_context().tickets
    try:
        change = tickets.parse_status_webhook(body, dict(request.headers))
    except AuthError:
        logger.warning("ticket webhook refused: bad signature", extra={"system": tickets.system})
        return JSONResponse({"error": "invalid_signature"}, status_code=401)
    except RemoteRejectedError as exc:
        logger.warning("ticket webhook refused: malformed", extra={"system": tickets.system})
        return JSONResponse({"error": "malformed_payload", "detail": str(exc)[:200]}, status_code=400)
    if change is None:
        return JSONResponse({"status": "ignored"}, status_code=202)
    enqueue(
        TaskName.APPLY_TICKET_STATUS,
        system=change.system,
        external_key=change.external_key,
        status=change.status.value,
        vendor_status=change.vendor_status,
        resolution=change.resolution,
    )
    return JSONResponse({"status": "accepted", "ticket": change.external_key}, status_code=202)
