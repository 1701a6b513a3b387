"""Intent admin pages: editing examples, retraining as a job, the test box (ranking and route), access."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.fakes.embedder import HashingEmbedder
from services.audit.models import AuditEntry
from services.common.db import session_scope
from services.router.catalog import Catalog, IntentSpec
from services.router.model_store import ActiveIntentModel
from services.router.models import Intent, IntentModelVersion, TrainingUtterance
from services.router.repo import sync_catalog
from services.router.routes import Route
from tests.web_support import ADMIN, EDITOR, EMPLOYEE, MANAGER, WebSite, csrf, sign_in, web_site

CATALOG = Catalog(
    intents=[
        IntentSpec(
            name="vpn_issue",
            description="VPN problems",
            route=Route.ANSWER,
            utterances=[
                "vpn keeps dropping",
                "globalprotect disconnects",
                "vpn is down",
                "cannot connect to vpn",
                "my vpn connection drops",
                "vpn fails at the hotel",
            ],
        ),
        IntentSpec(
            name="talk_to_human",
            description="Talk to a person",
            route=Route.HANDOFF,
            utterances=[
                "talk to a human",
                "i want a person",
                "connect me to an agent",
                "real person please",
                "let me speak to it support",
                "human please",
            ],
        ),
        IntentSpec(
            name="greeting",
            route=Route.SMALLTALK,
            utterances=["hi", "hello", "hey there", "good morning", "hiya", "morning"],
        ),
    ],
    out_of_scope=[
        "when is payday",
        "book a flight to rome",
        "tell me a joke",
        "is the canteen open",
        "what's the weather",
        "how many vacation days do i have",
    ],
)
NEW_PHRASE = "my badge will not open the office door"


def _ids(site: WebSite) -> dict[str, int]:
    with session_scope(site.sessions) as db_session:
        return {i.name: i.id for i in db_session.scalars(select(Intent))}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    with web_site(tmp_path, router={"model_dir": tmp_path / "models"}) as site:
        site.app.state.intent_embedder = HashingEmbedder()
        with session_scope(site.sessions) as db_session:
            sync_catalog(db_session=db_session, catalog=CATALOG)
        yield site


def _retrain(client: TestClient, intent_id: int | None = None) -> str:
    data: dict[str, str | int] = {"csrf_token": csrf(client, "/admin/intents")}
    if intent_id is not None:
        data["intent_id"] = intent_id
    response = client.post("/admin/intents/retrain", data=data)
    assert response.status_code == 200, response.text
    return response.text


def _top(client: TestClient, path: str, message: str) -> tuple[str, str]:
    page = client.get(path, params={"message": message}).text
    top = re.search(r'data-testid="rank-1">([^<]+)<', page)
    route = re.search(r'data-testid="test-route">([^<]+)<', page)
    assert top and route, page
    return top.group(1), route.group(1)


def test_retrain_after_adding_examples_makes_the_test_box_rank_the_intent_first(site: WebSite) -> None:
    client = site.client
    sign_in(client, EDITOR.email)
    human = _ids(site)["talk_to_human"]
    page = _retrain(client)
    assert "succeeded" in page and "Serving" in page
    before, _ = _top(client, "/admin/intents", NEW_PHRASE)
    assert before != "talk_to_human"

    for text in ("my badge does not open the door", "the door will not open with my badge"):
        added = client.post(
            f"/admin/intents/{human}/utterances",
            data={"text": text, "csrf_token": csrf(client, f"/admin/intents/{human}")},
        )
        assert added.status_code == 200 and "Example added" in added.text
    assert "2 changes not trained" in client.get("/admin/intents").text

    page = _retrain(client, human)
    assert "succeeded" in page and "Intent saved" not in page
    assert _top(client, f"/admin/intents/{human}", NEW_PHRASE) == ("talk_to_human", "handoff")
    assert "up to date" in client.get("/admin/intents").text
    with session_scope(site.sessions) as db_session:
        versions = db_session.scalars(select(IntentModelVersion).order_by(IntentModelVersion.id)).all()
        actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert [v.is_active for v in versions] == [False, True]
        assert versions[1].utterance_count == versions[0].utterance_count + 2
        assert versions[1].trained_by_id is not None
    assert actions.count("intents.utterance_added") == 2
    assert actions.count("intents.retrain_succeeded") == 2


def test_test_box_routes_out_of_scope_and_says_when_nothing_is_trained(site: WebSite) -> None:
    client = site.client
    sign_in(client, ADMIN.email)
    assert (
        "No model is trained yet: retrain first."
        in client.get("/admin/intents", params={"message": "hello"}).text
    )
    _retrain(client)
    assert _top(client, "/admin/intents", "when is payday")[1] == "out_of_scope"
    assert _top(client, "/admin/intents", "hello there") == ("greeting", "smalltalk")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("   ", "Type an example message first."),
        ("VPN keeps   dropping", "is already an example of this intent"),
        ("human please", "is already an example of the intent talk_to_human"),
        ("x" * 501, "Examples are at most 500 characters; this one has 501."),
    ],
)
def test_bad_example_gives_a_form_error_and_keeps_the_data(site: WebSite, text: str, error: str) -> None:
    client = site.client
    sign_in(client, EDITOR.email)
    vpn = _ids(site)["vpn_issue"]
    response = client.post(
        f"/admin/intents/{vpn}/utterances",
        data={"text": text, "csrf_token": csrf(client, f"/admin/intents/{vpn}")},
    )
    assert response.status_code == 400
    assert error in response.text and 'role="alert"' in response.text
    with session_scope(site.sessions) as db_session:
        assert db_session.query(TrainingUtterance).filter_by(intent_id=vpn).count() == 6


def test_edit_description_route_and_remove_an_example_are_audited(site: WebSite) -> None:
    client = site.client
    sign_in(client, EDITOR.email)
    vpn = _ids(site)["vpn_issue"]
    token = csrf(client, f"/admin/intents/{vpn}")
    saved = client.post(
        f"/admin/intents/{vpn}",
        data={"description": "VPN trouble", "route": "handoff", "enabled": "true", "csrf_token": token},
    )
    assert saved.status_code == 200 and "Intent saved." in saved.text
    refused = client.post(
        f"/admin/intents/{vpn}", data={"route": "automation", "enabled": "true", "csrf_token": token}
    )
    assert refused.status_code == 400 and "Choose one of these routes" in refused.text
    with session_scope(site.sessions) as db_session:
        intent = db_session.get(Intent, vpn)
        assert intent is not None
        assert (intent.description, intent.route) == ("VPN trouble", Route.HANDOFF)
        first = min(u.id for u in intent.utterances)
    removed = client.post(f"/admin/intents/{vpn}/utterances/{first}/delete", data={"csrf_token": token})
    assert removed.status_code == 200 and "Example removed." in removed.text
    with session_scope(site.sessions) as db_session:
        assert db_session.get(TrainingUtterance, first) is None
        entries = db_session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(vpn))).all()
        assert {e.action for e in entries} == {"intents.updated", "intents.utterance_removed"}
        update = next(e for e in entries if e.action == "intents.updated")
        assert update.actor_label == EDITOR.email
        assert update.details["changed"]["route"] == {"from": "answer", "to": "handoff"}


def test_failed_retrain_is_shown_and_the_previous_model_stays_active(site: WebSite) -> None:
    client = site.client
    sign_in(client, ADMIN.email)
    _retrain(client)
    with session_scope(site.sessions) as db_session:
        served = db_session.scalars(select(IntentModelVersion)).one().version
        for intent in db_session.scalars(select(Intent).where(Intent.name != "greeting")):
            intent.enabled = False
    page = _retrain(client)
    assert "failed" in page and "The previous model is still in service." in page
    assert f'data-testid="active-version">{served}<' in page
    with session_scope(site.sessions) as db_session:
        assert db_session.scalars(select(IntentModelVersion.version)).all() == [served]


@pytest.mark.parametrize("person", [EMPLOYEE, MANAGER])
def test_employees_and_managers_are_refused(site: WebSite, person: object) -> None:
    client = site.client
    sign_in(client, person.email)  # type: ignore[attr-defined]
    vpn = _ids(site)["vpn_issue"]
    token = csrf(client, "/chat")
    assert client.get("/admin/intents").status_code == 403
    assert client.get(f"/admin/intents/{vpn}").status_code == 403
    posted = client.post(f"/admin/intents/{vpn}/utterances", data={"text": "vpn dead", "csrf_token": token})
    assert posted.status_code == 403
    assert client.post("/admin/intents/retrain", data={"csrf_token": token}).status_code == 403


def test_posts_without_csrf_are_refused(site: WebSite) -> None:
    client = site.client
    sign_in(client, ADMIN.email)
    vpn = _ids(site)["vpn_issue"]
    assert client.post(f"/admin/intents/{vpn}/utterances", data={"text": "vpn dead"}).status_code == 403
    assert client.post("/admin/intents/retrain").status_code == 403
    assert client.post(f"/admin/intents/{vpn}", data={"route": "answer"}).status_code == 403
    with session_scope(site.sessions) as db_session:
        assert db_session.query(TrainingUtterance).filter_by(intent_id=vpn).count() == 6
        assert db_session.query(AuditEntry).filter(AuditEntry.action.like("intents.%")).count() == 0


def test_a_retrain_in_the_web_app_is_served_at_once_by_models_already_loaded(site: WebSite) -> None:
    client = site.client
    sign_in(client, ADMIN.email)
    _retrain(client)
    chat_model = ActiveIntentModel(site.sessions, embedder=HashingEmbedder(), refresh_s=3600)
    first = chat_model.get().version
    _retrain(client)
    with session_scope(site.sessions) as db_session:
        active = db_session.scalars(select(IntentModelVersion).where(IntentModelVersion.is_active)).one()
    assert chat_model.get().version == active.version != first
