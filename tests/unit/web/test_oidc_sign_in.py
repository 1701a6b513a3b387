"""Single sign-on against an OpenID provider emulator over HTTP: code flow, PKCE, nonce, signed ID token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.audit.models import AuditEntry
from services.common.config import Settings
from services.common.db import session_scope
from services.directory.models import Employee, Role
from tests.emulators.harness import RunningEmulator, free_port, serve_emulator
from tests.emulators.oidc import build_oidc_emulator
from tests.web_support import EMPLOYEE, WebSite, sign_in, web_site

CALLBACK = "https://testserver/auth/oidc/callback"
PERSON = {
    "sub": "00u1",
    "email": "Nia.Okafor@example.com",
    "name": "Nia Okafor",
    "groups": ["it-admins", "vpn"],
}


@dataclass
class Sso:
    idp: RunningEmulator
    site: WebSite


def _oidc(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "public_url": "https://testserver",
        "oidc": {
            "issuer": issuer,
            "client_id": "deskpilot",
            "client_secret": "s3cret-s3cret",
            "display_name": "Okta",
            "admin_groups": ["it-admins"],
            "manager_groups": ["people-leads"],
            **extra,
        },
    }


@pytest.fixture
def idp() -> Iterator[RunningEmulator]:
    app, state, _provider = build_oidc_emulator(
        client_id="deskpilot", client_secret="s3cret-s3cret", redirect_uris=(CALLBACK,)
    )
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture
def sso(tmp_path: Path, idp: RunningEmulator) -> Iterator[Sso]:
    with web_site(tmp_path, people=[EMPLOYEE], web=_oidc(idp.base_url)) as site:
        yield Sso(idp, site)


def _at_idp(idp: RunningEmulator, **claims: Any) -> None:
    httpx.post(f"{idp.base_url}/_login", json=claims, timeout=5).raise_for_status()


def _round_trip(sso: Sso, next_path: str = "/admin") -> Any:
    """Browser: app → provider → app callback; returns the callback's response."""
    start = sso.site.client.get(f"/login/oidc?next={next_path}", follow_redirects=False)
    assert start.status_code == 302 and start.headers["location"].startswith(f"{sso.idp.base_url}/authorize?")
    back = httpx.get(start.headers["location"], follow_redirects=False, timeout=5)
    assert back.status_code == 302 and back.headers["location"].startswith(CALLBACK)
    return sso.site.client.get(back.headers["location"], follow_redirects=False)


def _employee(site: WebSite, email: str) -> Employee | None:
    with session_scope(site.sessions) as db_session:
        found = db_session.scalar(select(Employee).where(Employee.email == email))
        if found is not None:
            _ = found.roles, found.group_names
            db_session.expunge(found)
        return found


def test_first_sign_in_creates_the_person_with_roles_and_groups_from_the_provider(sso: Sso) -> None:
    _at_idp(sso.idp, **PERSON)
    done = _round_trip(sso)
    assert done.status_code == 303 and done.headers["location"] == "/admin"
    assert sso.site.client.get("/admin").status_code == 200
    person = _employee(sso.site, "nia.okafor@example.com")
    assert person is not None and person.display_name == "Nia Okafor" and person.external_id == "00u1"
    assert Role.ADMIN in person.roles and person.group_names == {"it-admins", "vpn"}
    assert person.password_hash is None
    authorize = sso.idp.calls("/authorize")[0]["query"]
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["state"]
    token_call = sso.idp.calls("/token")[0]
    assert token_call["headers"]["authorization"].startswith("Basic ")
    with session_scope(sso.site.sessions) as db_session:
        entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "auth.login"))
        assert entry is not None and entry.details["method"] == "oidc"


def test_a_role_removed_at_the_provider_is_gone_at_the_next_sign_in(sso: Sso) -> None:
    _at_idp(sso.idp, **PERSON)
    _round_trip(sso)
    _at_idp(sso.idp, **{**PERSON, "groups": ["vpn", "people-leads"]})
    sso.site.client.cookies.clear()
    assert _round_trip(sso, "/reports/roi").status_code == 303
    assert sso.site.client.get("/admin").status_code == 403
    assert sso.site.client.get("/reports/roi").status_code == 200
    person = _employee(sso.site, "nia.okafor@example.com")
    assert person is not None and Role.MANAGER in person.roles and Role.ADMIN not in person.roles
    assert person.group_names == {"vpn", "people-leads"}


def test_an_existing_local_account_signs_in_by_email_and_keeps_its_password(sso: Sso) -> None:
    _at_idp(sso.idp, sub="00u2", email=EMPLOYEE.email.upper(), name="Eve E", groups=[])
    assert _round_trip(sso, "/chat").status_code == 303
    person = _employee(sso.site, EMPLOYEE.email)
    assert person is not None and person.external_id == "00u2" and person.password_hash is not None
    sso.site.client.cookies.clear()
    sign_in(sso.site.client, EMPLOYEE.email)


def test_a_forged_id_token_is_rejected(sso: Sso) -> None:
    _at_idp(sso.idp, **PERSON)
    httpx.post(f"{sso.idp.base_url}/_forge", json={"on": True}, timeout=5).raise_for_status()
    refused = _round_trip(sso)
    assert refused.status_code == 400 and "could not be verified" in refused.text
    assert sso.site.client.get("/admin", follow_redirects=False).status_code == 303
    assert _employee(sso.site, "nia.okafor@example.com") is None


def test_a_callback_with_a_foreign_state_or_a_replayed_code_signs_nobody_in(sso: Sso) -> None:
    _at_idp(sso.idp, **PERSON)
    start = sso.site.client.get("/login/oidc", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False, timeout=5).headers["location"]
    forged = back.replace("state=", "state=x")
    assert sso.site.client.get(forged, follow_redirects=False).status_code == 400
    assert sso.site.client.get(back, follow_redirects=False).status_code == 303
    sso.site.client.cookies.clear()
    replay = sso.site.client.get(back, follow_redirects=False)
    assert replay.status_code == 400
    assert sso.site.client.get("/admin", follow_redirects=False).status_code == 303


def test_denied_consent_unverified_email_and_foreign_domains_get_a_clear_refusal(
    tmp_path: Path, idp: RunningEmulator
) -> None:
    web = _oidc(idp.base_url, allowed_domains=["example.com"], create_accounts=False)
    with web_site(tmp_path, people=[EMPLOYEE], web=web) as site:
        sso = Sso(idp, site)
        _at_idp(idp, deny=True)
        assert "cancelled" in _round_trip(sso).text
        _at_idp(idp, **{**PERSON, "email": "mallory@evil.test"})
        refused = _round_trip(sso)
        assert refused.status_code == 403 and "evil.test can&#39;t sign in here" in refused.text
        _at_idp(idp, **{**PERSON, "email_verified": False})
        assert "not verified" in _round_trip(sso).text
        _at_idp(idp, **PERSON)
        no_account = _round_trip(sso)
        assert no_account.status_code == 403 and "Ask IT to add you" in no_account.text
        with session_scope(site.sessions) as db_session:
            failures = db_session.scalars(
                select(AuditEntry).where(AuditEntry.action == "auth.login_failed")
            ).all()
        assert len(failures) == 4 and {f.details["method"] for f in failures} == {"oidc"}


def test_with_local_accounts_off_only_single_sign_on_is_offered(tmp_path: Path, idp: RunningEmulator) -> None:
    with web_site(tmp_path, people=[EMPLOYEE], web={**_oidc(idp.base_url), "local_accounts": False}) as site:
        page = site.client.get("/login")
        assert "Sign in with Okta" in page.text and 'name="password"' not in page.text
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        attempt = site.client.post(
            "/login", data={"email": EMPLOYEE.email, "password": "correct horse battery", "csrf_token": token}
        )
        assert attempt.status_code == 403


def test_an_unreachable_provider_is_reported_on_the_sign_in_page(tmp_path: Path) -> None:
    with web_site(tmp_path, people=[], web=_oidc(f"http://127.0.0.1:{free_port()}", timeout_s=2)) as site:
        page = site.client.get("/login/oidc", follow_redirects=False)
        assert page.status_code == 502 and "can&#39;t be reached" in page.text


def test_production_needs_a_client_secret_and_some_way_to_sign_in() -> None:
    base: dict[str, Any] = {
        "environment": "production",
        "web": {"secret_key": "x" * 40},
        "database": {"url": "postgresql+psycopg://db/deskpilot"},
    }
    with pytest.raises(ValueError, match="CLIENT_SECRET"):
        Settings(
            _env_file=None,
            **{**base, "web": {**base["web"], "oidc": {"issuer": "https://idp", "client_id": "c"}}},
        )
    with pytest.raises(ValueError, match="LOCAL_ACCOUNTS"):
        Settings(_env_file=None, **{**base, "web": {**base["web"], "local_accounts": False}})
