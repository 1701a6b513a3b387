""" "Status of my ticket" during an ITSM outage: answered from the local rows, the delayed request named."""

from __future__ import annotations

import json
from pathlib import Path

from services.automations.models import AutomationKind, AutomationRun, AutomationState
from services.bot.home import home_view
from services.common.db import session_scope, utcnow
from services.conversations import strings
from services.conversations.models import Channel
from services.directory.models import Employee
from services.router.routes import Route
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind
from tests.unit.conversations.harness import build_world


def test_ticket_status_during_an_itsm_outage_answers_from_local_rows_and_says_the_request_is_delayed(
    tmp_path: Path,
) -> None:
    # The configured ITSM is unreachable (a closed port): the status flow never calls it.
    world = build_world(
        tmp_path, ticketing={"kind": "servicenow", "base_url": "http://127.0.0.1:9", "timeout_s": 0.1}
    )
    with session_scope(world.sessions) as db_session:
        ana = Employee(email="ana@example.test", display_name="Ana")
        db_session.add(ana)
        db_session.flush()
        db_session.add_all(
            [
                Ticket(
                    system=TicketSystemKind.SERVICENOW,
                    external_key="INC0010042",
                    title="Monitor flickers",
                    requester_id=ana.id,
                    status=TicketStatus.OPEN,
                ),
                AutomationRun(
                    kind=AutomationKind.CREATE_TICKET,
                    idempotency_key="outage-1",
                    requester_id=ana.id,
                    params={"description": "Docking station"},
                    state=AutomationState.RUNNING,
                    last_error="RemoteUnavailableError: servicenow: timeout after 10.0 s (ReadTimeout)",
                    delay_notified_at=utcnow(),
                ),
                AutomationRun(
                    kind=AutomationKind.HARDWARE_REQUEST,
                    idempotency_key="queued-1",
                    requester_id=ana.id,
                    params={"hardware_item": "headset"},
                ),
            ]
        )
        db_session.flush()
        ana_id = ana.id
    try:
        reply = world.orchestrator().handle_message(
            employee_id=ana_id, channel=Channel.WEB, text="status of my ticket"
        )
        with session_scope(world.sessions) as db_session:
            home = json.dumps(
                home_view(db_session, employee_id=ana_id, display_name="Ana"), ensure_ascii=False
            )
    finally:
        world.engine.dispose()
    # The App Home lists the same open requests, the delayed one as delayed.
    assert f"create ticket: Docking station · {strings.REQUEST_DELAYED}" in home
    assert "hardware request: headset · pending" in home
    assert reply.route is Route.TICKET_STATUS
    assert "INC0010042 · Monitor flickers · open" in reply.text  # the last known status
    lines = reply.text.splitlines()
    assert any("create ticket: Docking station" in line and strings.REQUEST_DELAYED in line for line in lines)
    assert any("hardware request: headset · pending" in line for line in lines), reply.text
