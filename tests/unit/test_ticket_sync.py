"""Ticket status back from ServiceNow (its emulator): by poll and by signed webhook, told once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.servicenow.tickets import SIGNATURE_HEADER, ServiceNowTicketSystem, sign_webhook
from services.admin.views import ticket_webhooks
from services.automations.context import configure_automation_context
from services.automations.models import AutomationKind
from services.automations.runner import execute_run
from services.common.db import session_scope
from services.tickets.models import Ticket, TicketStatus
from services.tickets.sync import sync_open_tickets
from services.worker.celery_app import create_celery_app
from tests.conftest import make_settings
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.servicenow_incident import build_app as build_servicenow
from tests.unit.automations.harness import World, build_world

USER, PASSWORD, HOOK_SECRET = "deskpilot.integration", "sn-password", "hook-secret"


@pytest.fixture
def servicenow() -> Iterator[RunningEmulator]:
    app, state = build_servicenow(user=USER, secret=PASSWORD)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, servicenow: RunningEmulator) -> Iterator[World]:
    tickets = ServiceNowTicketSystem(servicenow.base_url, USER, PASSWORD, HOOK_SECRET, timeout_s=2)
    world = build_world(tmp_path, tickets=tickets)
    create_celery_app(make_settings(tmp_path))
    configure_automation_context(world.ctx)
    yield world
    configure_automation_context(None)


def _open_ticket(world: World, description: str, key: str) -> Ticket:
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": description}, key=key)
    execute_run(world.ctx, run_id, final_attempt=False)
    with session_scope(world.sessions) as db_session:
        ticket = db_session.scalars(select(Ticket).where(Ticket.idempotency_key.like(f"%:{key}"))).one()
        db_session.expunge(ticket)
        return ticket


def _status(world: World, ticket_id: int) -> TicketStatus:
    with session_scope(world.sessions) as db_session:
        ticket = db_session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.status


def test_poll_applies_a_resolution_once_and_tells_the_requester(
    world: World, servicenow: RunningEmulator
) -> None:
    ticket = _open_ticket(world, "Outlook keeps asking for my password", "p1")
    other = _open_ticket(world, "Second screen flickers", "p2")
    report = sync_open_tickets(world.ctx)
    assert (report.checked, report.changed) == (2, 0) and not world.notifier.told

    httpx.post(f"{servicenow.base_url}/_status", json={"key": ticket.external_key, "status": "6"}, timeout=5)
    report = sync_open_tickets(world.ctx)
    assert (report.checked, report.changed) == (2, 1)
    assert _status(world, ticket.id) is TicketStatus.RESOLVED and _status(world, other.id) is TicketStatus.NEW
    assert len(world.notifier.told) == 1 and f"{ticket.external_key}" in world.notifier.told[0]["text"]
    assert "is resolved" in world.notifier.told[0]["text"]
    assert sync_open_tickets(world.ctx).changed == 0 and len(world.notifier.told) == 1


def test_poll_stops_quietly_while_the_itsm_is_down(world: World, servicenow: RunningEmulator) -> None:
    _open_ticket(world, "VPN certificate expired", "d1")
    servicenow.inject(status=503, times=20)
    report = sync_open_tickets(world.ctx)
    assert report.stopped_early and report.changed == 0


def _webhook(client: TestClient, body: bytes, secret: str = HOOK_SECRET) -> Any:
    return client.post(
        "/webhooks/tickets",
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign_webhook(body, secret)},
    )


def test_signed_webhook_resolves_the_ticket_and_a_repeat_tells_nobody_twice(world: World) -> None:
    ticket = _open_ticket(world, "Laptop battery swells", "w1")
    api = FastAPI()
    api.include_router(ticket_webhooks.router)
    client = TestClient(api)
    body = json.dumps(
        {"number": ticket.external_key, "state": "6", "close_notes": "Battery replaced"}
    ).encode()
    assert _webhook(client, body).status_code == 202
    assert _webhook(client, body).status_code == 202  # delivered twice by the ITSM
    assert _status(world, ticket.id) is TicketStatus.RESOLVED
    assert len(world.notifier.told) == 1 and "Battery replaced" in world.notifier.told[0]["text"]

    assert _webhook(client, body, secret="wrong").status_code == 401
    assert _webhook(client, b'{"number": ').status_code == 400
    no_state = json.dumps({"number": ticket.external_key}).encode()
    assert _webhook(client, no_state).json() == {"status": "ignored"}
    assert len(world.notifier.told) == 1
