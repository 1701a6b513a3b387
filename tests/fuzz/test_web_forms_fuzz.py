"""The web forms under hostile field values, signed in with the right role and a valid CSRF token.

Sign-in, chat messages and actions, draft decisions, article edits, intent utterances, source creation,
ticket comments and status, run retries: huge, unicode and control-character values, wrong types,
missing and extra fields, junk path ids. Never a 5xx: a 4xx with a message, or success.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from services.admin.app import create_app
from services.directory.models import Role
from tests.fuzz.strategies import awkward_text, field_text, header_text, json_values
from tests.fuzz.tally import examples, probe, status
from tests.unit.conversations.harness import build_world
from tests.web_support import PASSWORD, Person, add_people, csrf

ADMIN = Person("ada.fuzz@example.com", (Role.ADMIN, Role.KNOWLEDGE_EDITOR))
EMPLOYEE = Person("eve.fuzz@example.com")


@dataclass(repr=False)
class Site:
    admin: TestClient
    admin_csrf: str
    employee: TestClient
    employee_csrf: str
    anonymous: TestClient


def _signed_in(client: TestClient, email: str) -> str:
    token = csrf(client, "/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 200 and "Sign out" in response.text
    match = re.search(r'const csrf = "([^"]+)"', client.get("/chat").text)
    assert match
    return match.group(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    world = build_world(tmp_path_factory.mktemp("web-fuzz"))
    add_people(world.sessions, [ADMIN, EMPLOYEE])
    app = create_app(world.settings)
    with (
        TestClient(app, base_url="https://testserver") as admin,
        TestClient(app, base_url="https://testserver") as employee,
        TestClient(app, base_url="https://testserver") as anonymous,
    ):
        app.state.chat_orchestrator = world.orchestrator()
        yield Site(
            admin, _signed_in(admin, ADMIN.email), employee, _signed_in(employee, EMPLOYEE.email), anonymous
        )
    world.engine.dispose()


FORMS: dict[str, tuple[str, list[str]]] = {
    "draft_decision": ("/admin/drafts/{id}/decision", ["decision", "body_markdown", "reason", "article_id"]),
    "article_edit": (
        "/admin/articles/{id}/edit",
        [
            "base_version",
            "title",
            "body_markdown",
            "category",
            "groups",
            "new_groups",
            "change_note",
            "action",
        ],
    ),
    "article_create": (
        "/admin/articles",
        ["title", "body_markdown", "category", "groups", "new_groups", "change_note", "action"],
    ),
    "intent_utterance": ("/admin/intents/{id}/utterances", ["text"]),
    "intent_save": ("/admin/intents/{id}", ["route", "description", "enabled"]),
    "source_create": (
        "/admin/sources",
        [
            "kind",
            "name",
            "path",
            "url",
            "username",
            "spaces",
            "knowledge_bases",
            "locale",
            "limit",
            "enabled",
            "sync_interval_minutes",
        ],
    ),
    "ticket_comment": ("/admin/tickets/{key}/comments", ["body", "visibility"]),
    "ticket_status": ("/admin/tickets/{key}/status", ["status", "seen", "resolution"]),
    "run_retry": ("/admin/runs/{id}/retry", []),
}
VALUES = {
    "decision": st.sampled_from(["approve", "reject", "merge"]),
    "action": st.sampled_from(["preview", "save"]),
    "kind": st.sampled_from(["folder", "jsonl", "confluence", "servicenow", "zendesk"]),
    "visibility": st.sampled_from(["public", "internal"]),
    "status": st.sampled_from(["new", "in_progress", "waiting", "resolved", "closed"]),
    "seen": st.sampled_from(["new", "in_progress", "waiting", "resolved", "closed"]),
    "route": st.sampled_from(["answer", "automation", "ticket_status", "handoff", "smalltalk"]),
}
path_ids = st.one_of(st.integers(-5, 5), st.integers(min_value=2**63, max_value=2**70), awkward_text)


@st.composite
def form_fields(draw: st.DrawFn, names: list[str]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for name in names:
        if draw(st.integers(0, 4)) == 0:
            continue  # a missing field
        strategy = st.one_of(VALUES[name], field_text) if name in VALUES else field_text
        value = draw(st.one_of(strategy, st.integers().map(str), json_values.map(str)))
        fields.append((name, value))
        if draw(st.integers(0, 6)) == 0:
            fields.append((name, draw(awkward_text)))  # a repeated field
    for extra in draw(st.lists(awkward_text, max_size=2)):
        fields.append((extra, draw(awkward_text)))  # extra fields
    return fields


def _path(template: str, draw_id: Any) -> str:
    return template.replace("{id}", quote(str(draw_id), safe="")).replace(
        "{key}", quote(str(draw_id), safe="")
    )


@pytest.mark.parametrize("form", sorted(FORMS))
@examples(25)
@given(data=st.data())
def test_admin_forms_never_answer_5xx(site: Site, form: str, data: st.DataObject) -> None:
    template, names = FORMS[form]
    path = _path(template, data.draw(st.one_of(st.integers(1, 3), path_ids, st.just("HD-1"))))
    fields = data.draw(form_fields(names)) + [("csrf_token", site.admin_csrf)]
    encoded = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in fields]
    with probe(f"web.{form}"):
        response = site.admin.post(
            path,
            content=_urlencode(encoded),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        code = status(f"web.{form}", response.status_code)
        assert code < 500, f"{form} {path}: {code}"
        if 400 <= code < 500 and code != 404:
            assert response.text.strip(), "a refusal must say why"


def _urlencode(pairs: list[tuple[bytes, bytes]]) -> bytes:
    from urllib.parse import quote_from_bytes

    return b"&".join(quote_from_bytes(k).encode() + b"=" + quote_from_bytes(v).encode() for k, v in pairs)


@examples(40)
@given(
    body=st.one_of(
        st.fixed_dictionaries({"text": field_text}, optional={"conversation_id": json_values}),
        json_values,
        st.dictionaries(awkward_text, json_values, max_size=3),
    ),
    action=st.one_of(
        st.fixed_dictionaries(
            {
                "conversation_id": json_values,
                "action": st.one_of(
                    awkward_text, st.sampled_from(["feedback_helpful", "confirm", "open_ticket"])
                ),
                "value": field_text,
            }
        ),
        json_values,
    ),
)
def test_chat_json_never_answers_5xx(site: Site, body: Any, action: Any) -> None:
    headers = {"x-csrf-token": site.employee_csrf}
    with probe("web.chat"):
        for path, payload in (("/chat/messages", body), ("/chat/actions", action)):
            response = site.employee.post(path, json=payload, headers=headers)
            code = status("web.chat", response.status_code)
            assert code < 500, f"{path}: {code}"
            assert code in (200, 404, 422), f"{path}: {code}"
            if code == 200:
                assert response.json()["text"].strip()


@examples(40)
@given(
    email=field_text,
    password=field_text,
    next_path=awkward_text,
    token=st.one_of(st.none(), header_text, awkward_text),
)
def test_sign_in_and_csrf_never_answer_5xx(
    site: Site, email: str, password: str, next_path: str, token: str | None
) -> None:
    client = site.anonymous
    client.cookies.clear()
    real = csrf(client, "/login")
    with probe("web.sign_in"):
        form = {
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": token if token is not None else real,
        }
        encoded = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in form.items()]
        response = client.post(
            "/login",
            content=_urlencode(encoded),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        code = status("web.sign_in", response.status_code)
        # 400: a field over Starlette's 1 MB form-part limit ("Part exceeded maximum size").
        assert code in (303, 400, 401, 403, 422, 429), code
        if code == 400:
            assert "exceeded" in response.text
        if token is not None and token != real and code != 400:
            assert code == 403
    with probe("web.csrf_header"):
        wire = {
            b"x-csrf-token": (token or "").encode("latin-1", "replace"),
            b"content-type": b"application/json",
        }
        code = status(
            "web.csrf_header",
            site.employee.post("/chat/messages", content=b'{"text": "hi"}', headers=wire).status_code,
        )
        assert code == 403 or (token == site.employee_csrf and code == 200)
