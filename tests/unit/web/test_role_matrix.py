"""Every page and action of the web app × every role: the server refuses whoever the section is not for.

Routes are enumerated from the app itself, so a new page without ``require_roles`` fails here. Expected
access comes from the navigation table (the longest section path that prefixes the route).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from services.admin.navigation import SECTIONS, Section
from services.directory.models import Role
from tests.web_support import (
    ADMIN,
    EDITOR,
    EMPLOYEE,
    EVERYONE,
    MANAGER,
    Person,
    WebSite,
    csrf,
    sign_in,
    web_site,
)

GUARDED_PREFIXES = ("/admin", "/reports", "/chat")
PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    with web_site(tmp_path_factory.mktemp("roles")) as running:
        yield running


def _section(path: str) -> Section:
    matches = [s for s in SECTIONS if path.startswith(s.path)]
    assert matches, f"{path} belongs to no section of services/admin/navigation.py"
    return max(matches, key=lambda s: len(s.path))


def _guarded_routes(site: WebSite) -> list[tuple[str, str]]:
    """(method, path) of every page and action under the guarded prefixes, from the app's OpenAPI schema."""
    paths: dict[str, dict[str, object]] = site.app.openapi()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(GUARDED_PREFIXES)
        for method in sorted(operations)
        if method in {"get", "post"}
    ]
    assert len(routes) > 30  # the admin app, the reports, the chat
    return routes


def _allowed(person: Person, section: Section) -> bool:
    return Role.ADMIN in person.roles or not section.roles or bool(set(person.roles) & set(section.roles))


def test_every_guarded_route_answers_each_role_as_its_section_says(site: WebSite) -> None:
    routes = _guarded_routes(site)
    refused: list[str] = []
    wrong: list[str] = []
    for person in EVERYONE:
        sign_in(site.client, person.email)
        token = csrf(site.client, "/chat")
        for method, path in routes:
            url = PARAM.sub("999999", path)
            allowed = _allowed(person, _section(path))
            if method == "GET":
                status = site.client.get(url, follow_redirects=False).status_code
            else:
                status = site.client.post(url, data={"csrf_token": token}, follow_redirects=False).status_code
            if not allowed and status != 403:
                wrong.append(f"{person.email} {method} {path} -> {status} (expected 403)")
            if allowed and (status == 403 or status >= 500):
                wrong.append(f"{person.email} {method} {path} -> {status} (expected access)")
            refused += [f"{method} {path}"] if status == 403 else []
    assert not wrong, "\n".join(wrong)
    assert refused  # employees and managers were turned away somewhere


def test_signed_out_visitors_are_sent_to_sign_in_and_posts_without_a_token_are_refused(site: WebSite) -> None:
    routes = _guarded_routes(site)
    site.client.cookies.clear()
    for method, path in routes:
        url = PARAM.sub("999999", path)
        if method == "GET":
            response = site.client.get(url, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        else:
            assert site.client.post(url, follow_redirects=False).status_code in (303, 403), f"POST {path}"
    sign_in(site.client, ADMIN.email)
    for method, path in routes:
        if method == "POST":
            url = PARAM.sub("999999", path)
            assert site.client.post(url, data={}, follow_redirects=False).status_code == 403, f"POST {path}"


def test_the_header_shows_each_role_only_its_sections(site: WebSite) -> None:
    for person, visible, hidden in (
        (EMPLOYEE, {"/chat"}, {"/admin", "/reports/roi"}),
        (MANAGER, {"/chat", "/reports/roi"}, {"/admin", "/admin/runs"}),
        (EDITOR, {"/admin/articles", "/admin/intents"}, {"/admin/runs", "/reports/roi"}),
        (ADMIN, {s.path for s in SECTIONS}, set()),
    ):
        sign_in(site.client, person.email)
        header = site.client.get("/chat").text.split('<main id="content">')[0]
        links = set(re.findall(r'<a href="(/[^"]*)"', header))
        assert visible <= links and not (hidden & links), (person.email, links)
