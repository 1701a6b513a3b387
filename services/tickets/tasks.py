"""Celery tasks of the tickets domain: the periodic status poll and webhook-delivered status changes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from connectors.models import ExternalTicketStatus, TicketStatusChange
from services.automations.context import get_automation_context
from services.automations.tasks import MAX_RETRIES, policy_retry
from services.tickets.sync import apply_status_change, sync_open_tickets
from services.worker.base_task import DeskpilotTask
from services.worker.queues import TaskName


@shared_task(name=TaskName.SYNC_TICKETS, base=DeskpilotTask)
def sync_tickets() -> dict[str, Any]:
    """Beat: poll the ITSM for open tickets' status; changes are told to their requesters."""
    return asdict(sync_open_tickets(get_automation_context()))


@shared_task(name=TaskName.APPLY_TICKET_STATUS, bind=True, base=DeskpilotTask, max_retries=MAX_RETRIES)
def apply_ticket_status(
    self: DeskpilotTask,
    *,
    system: str,
    external_key: str,
    status: str,
    vendor_status: str | None = None,
    resolution: str | None = None,
) -> bool:
    """A status change a webhook delivered (already verified); told to the requester once."""
    change = TicketStatusChange(
        system=system,
        external_key=external_key,
        status=ExternalTicketStatus(status),
        vendor_status=vendor_status,
        resolution=resolution,
    )
    ctx = get_automation_context()
    try:
        return apply_status_change(ctx, change)
    except Exception as exc:
        raise policy_retry(self, ctx, exc, None) from exc
