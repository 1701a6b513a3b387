"""``POST /webhooks/tickets`` under hostile input, for each ITSM (built-in, Jira, ServiceNow, Zendesk).

Junk bodies and headers, and validly signed junk, answer 400, 401, 413 or 202 only (never a 5xx, never
an exception escaping). Validly signed status changes for a ticket Deskpilot tracks are applied through
the real task (Celery eager) and told to the requester at most once, however often they are delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.interfaces import TicketSystem
from connectors.jira import tickets as jira
from connectors.servicenow import tickets as servicenow
from connectors.zendesk import tickets as zendesk
from services.admin.views import ticket_webhooks
from services.automations.context import configure_automation_context
from services.common.db import session_scope
from services.tickets.models import Ticket, TicketStatus, TicketSystemKind
from services.worker.celery_app import create_celery_app
from tests.conftest import make_settings
from tests.fuzz.strategies import awkward_text, header_text, json_values, mutate_json, nesting_bombs
from tests.fuzz.tally import examples, outcome, probe, status
from tests.unit.automations.harness import World, build_world

HOOK_SECRET = "fuzz-hook-secret"
SYSTEMS = ("builtin", "jira", "servicenow", "zendesk")
KEYS = {"jira": "IT-7", "servicenow": "INC0010007", "zendesk": "707"}
ALLOWED = {202, 400, 401, 413}


@dataclass(repr=False)
class HookSite:
    client: TestClient
    world: World
    adapters: dict[str, TicketSystem]

    def use(self, system: str) -> None:
        configure_automation_context(replace(self.world.ctx, tickets=self.adapters[system]))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookSite]:
    tmp_path: Path = tmp_path_factory.mktemp("hooks-fuzz")
    world = build_world(tmp_path)
    create_celery_app(make_settings(tmp_path))  # eager: the apply task runs in the request
    url = "https://itsm.invalid"  # parsing a webhook makes no request
    adapters: dict[str, TicketSystem] = {
        "builtin": world.ctx.tickets,
        "jira": jira.JiraTicketSystem(url, "bot@example.com", "token", "IT", webhook_secret=HOOK_SECRET),
        "servicenow": servicenow.ServiceNowTicketSystem(url, "bot", "password", HOOK_SECRET),
        "zendesk": zendesk.ZendeskTicketSystem(url, "bot@example.com", "token", HOOK_SECRET),
    }
    requester = next(iter(world.people.values()))
    with session_scope(world.sessions) as db_session:
        for system, key in KEYS.items():
            db_session.add(
                Ticket(
                    system=TicketSystemKind(system),
                    external_key=key,
                    title=f"Tracked {system} ticket",
                    requester_id=requester,
                )
            )
    api = FastAPI()
    api.include_router(ticket_webhooks.router)
    with TestClient(api) as client:
        yield HookSite(client, world, adapters)
    configure_automation_context(None)


def signed_headers(system: str, body: bytes, timestamp: str = "2024-05-01T10:00:00Z") -> dict[str, str]:
    if system == "jira":
        return {"X-Hub-Signature": jira.sign_webhook(body, HOOK_SECRET)}
    if system == "servicenow":
        return {servicenow.SIGNATURE_HEADER: servicenow.sign_webhook(body, HOOK_SECRET)}
    if system == "zendesk":
        return {
            zendesk.TIMESTAMP_HEADER: timestamp,
            zendesk.SIGNATURE_HEADER: zendesk.sign_webhook(body, timestamp, HOOK_SECRET),
        }
    return {}


def status_payload(system: str, state: Any, key: Any) -> dict[str, Any]:
    if system == "jira":
        name, category = state
        return {
            "webhookEvent": "jira:issue_updated",
            "timestamp": 1714557600000,
            "changelog": {"items": [{"field": "status", "fieldId": "status"}]},
            "issue": {"key": key, "fields": {"status": {"name": name, "statusCategory": {"key": category}}}},
        }
    if system == "zendesk":
        return {
            "type": zendesk.STATUS_CHANGED_EVENT,
            "time": "2024-05-01T10:00:00Z",
            "detail": {"id": key, "updated_at": "2024-05-01T10:00:00Z"},
            "event": {"current": state, "previous": "OPEN"},
        }
    return {
        "number": key,
        "state": state,
        "close_notes": "Replaced the battery",
        "sys_updated_on": "2024-05-01 10:00:00",
    }


STATES: dict[str, st.SearchStrategy[Any]] = {
    "jira": st.tuples(
        st.sampled_from(["To Do", "In Progress", "Waiting for customer", "Done", "Closed", "Won't Do"]),
        st.sampled_from(["new", "indeterminate", "done"]),
    ),
    "servicenow": st.sampled_from(["1", "2", "3", "6", "7", "8", 6, "99"]),
    "zendesk": st.sampled_from(["NEW", "OPEN", "PENDING", "HOLD", "SOLVED", "CLOSED", "weird"]),
    "builtin": st.just("6"),
}
PATHS = st.lists(
    st.sampled_from(
        [
            "issue",
            "fields",
            "status",
            "name",
            "statusCategory",
            "key",
            "changelog",
            "items",
            "timestamp",
            "number",
            "state",
            "close_notes",
            "sys_updated_on",
            "type",
            "detail",
            "event",
            "current",
            "id",
            "time",
            "webhookEvent",
        ]
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def hostile_body(draw: st.DrawFn, system: str) -> bytes:
    kind = draw(st.sampled_from(["binary", "json", "mutated", "bomb", "huge"]))
    if kind == "binary":
        return draw(st.binary(max_size=512))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "bomb":
        return draw(nesting_bombs)
    if kind == "huge":
        return b'{"number": "' + b"9" * draw(st.integers(900_000, 1_100_000)) + b'"}'
    payload = status_payload(
        system, draw(STATES[system]), draw(st.one_of(st.just(KEYS.get(system, "x")), json_values))
    )
    for _ in range(draw(st.integers(1, 4))):
        payload = mutate_json(payload, draw(json_values), draw(PATHS), draw(st.booleans()))
    return json.dumps(payload).encode()


def _post(site: HookSite, body: bytes, headers: dict[str, str]) -> int:
    wire = {key.encode(): value.encode("latin-1") for key, value in headers.items()}  # header bytes as sent
    return site.client.post("/webhooks/tickets", content=body, headers=wire).status_code


@pytest.mark.parametrize("system", SYSTEMS)
@examples(60)
@given(data=st.data(), signing=st.sampled_from(["valid", "junk", "none"]), junk=header_text)
def test_junk_webhooks_get_400_401_413_or_202_never_5xx(
    site: HookSite, system: str, data: st.DataObject, signing: str, junk: str
) -> None:
    site.use(system)
    body = data.draw(hostile_body(system))
    if signing == "valid":
        headers = signed_headers(system, body, timestamp=junk or "1")
    elif signing == "junk":
        headers = dict.fromkeys(signed_headers(system, body), junk) or {"X-Anything": junk}
    else:
        headers = {}
    with probe(f"webhook.{system}.junk"):
        code = status(f"webhook.{system}.junk", _post(site, body, headers))
        assert code in ALLOWED, f"{system}: {code} for {body[:200]!r}"
        if signing != "valid" and system != "builtin" and len(body) <= ticket_webhooks.MAX_WEBHOOK_BYTES:
            assert code == 401
        if system == "builtin" and len(body) <= ticket_webhooks.MAX_WEBHOOK_BYTES:
            assert code == 400  # the built-in system has no webhooks: every one is refused clearly


def _tracked(site: HookSite, system: str) -> tuple[TicketStatus, str | None]:
    with session_scope(site.world.sessions) as db_session:
        ticket = db_session.scalars(
            select(Ticket).where(
                Ticket.system == TicketSystemKind(system), Ticket.external_key == KEYS[system]
            )
        ).one()
        return ticket.status, ticket.vendor_status


@pytest.mark.parametrize("system", ["jira", "servicenow", "zendesk"])
@examples(40)
@given(data=st.data(), deliveries=st.integers(1, 3), note=awkward_text)
def test_a_status_change_is_applied_and_told_once_however_often_delivered(
    site: HookSite, system: str, data: st.DataObject, deliveries: int, note: str
) -> None:
    site.use(system)
    payload = status_payload(system, data.draw(STATES[system]), KEYS[system])
    if system == "servicenow":
        payload["close_notes"] = note
    body = json.dumps(payload).encode()
    before_told = len(site.world.notifier.told)
    before_status, _ = _tracked(site, system)
    with probe(f"webhook.{system}.status_change"):
        codes = [
            status(f"webhook.{system}.status_change", _post(site, body, signed_headers(system, body)))
            for _ in range(deliveries)
        ]
        assert set(codes) <= {202}, codes
        after_status, _ = _tracked(site, system)
        told = len(site.world.notifier.told) - before_told
        assert told == (1 if after_status is not before_status else 0), (before_status, after_status, told)
        outcome(f"webhook.{system}.status_change", "changed" if told else "unchanged")


@examples(60)
@given(
    timestamp=st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        json_values,
    ),
    updated=st.one_of(st.none(), awkward_text, st.just("2024-05-01T10:00:00.000+0000")),
)
def test_jira_event_times_of_any_size_never_crash(site: HookSite, timestamp: Any, updated: Any) -> None:
    site.use("jira")
    payload = status_payload("jira", ("In Progress", "indeterminate"), "IT-404")  # not tracked: no change
    payload["timestamp"] = timestamp
    payload["issue"]["fields"]["updated"] = updated
    body = json.dumps(payload).encode()  # NaN/Infinity as Python writes them: Jira never would
    with probe("webhook.jira.event_time"):
        assert status("webhook.jira.event_time", _post(site, body, signed_headers("jira", body))) == 202
