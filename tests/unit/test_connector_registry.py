"""Building ticket and identity adapters from settings (no network: adapters connect lazily)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import AuthError
from connectors.jira.tickets import JiraTicketSystem, sign_webhook
from connectors.msgraph.identity import GRAPH_V1, GraphIdentityProvider
from connectors.okta.identity import OktaIdentityProvider
from connectors.registry import (
    ConnectorConfigurationError,
    SourceConfigurationError,
    build_identity_provider,
    build_knowledge_source,
    build_ticket_system,
)
from connectors.servicenow.tickets import ServiceNowTicketSystem
from connectors.zendesk.tickets import ZendeskTicketSystem
from services.common.config import IdentitySettings, Settings, SourceSettings, TicketingSettings
from services.common.errors import PermanentError

TICKETING = {"base_url": "https://itsm.example.com", "username": "bot@example.com", "api_token": "t0ken"}
OKTA = {"base_url": "https://acme.okta.com", "api_token": "00okta-token"}
GRAPH = {
    "tenant_id": "7f3c2a10-5b6d-4e8f-9a01-23456789abcd",
    "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "client_secret": "s3cr3t",
}


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Adapters built by a test, closed after it."""
    adapters: list[Any] = []
    yield adapters
    for adapter in adapters:
        adapter.close()


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("jira", {"project_key": "IT"}, JiraTicketSystem),
        ("servicenow", {}, ServiceNowTicketSystem),
        ("zendesk", {}, ZendeskTicketSystem),
    ],
)
def test_each_ticketing_kind_builds_its_adapter(
    kind: str, extra: dict[str, str], expected: type, opened: list[Any]
) -> None:
    system = build_ticket_system(TicketingSettings.model_validate({"kind": kind, **TICKETING, **extra}))
    opened.append(system)

    assert isinstance(system, expected)
    assert system is not None and system.system == kind
    assert "t0ken" not in repr(system)


@pytest.mark.parametrize(
    ("kind", "extra"), [("jira", {"project_key": "IT"}), ("servicenow", {}), ("zendesk", {})]
)
def test_ticketing_timeout_and_attempts_reach_the_http_client(
    kind: str, extra: dict[str, str], opened: list[Any]
) -> None:
    settings = TicketingSettings.model_validate(
        {"kind": kind, **TICKETING, **extra, "timeout_s": 2.5, "max_attempts": 1}
    )
    system = build_ticket_system(settings)
    opened.append(system)

    http = system._http  # type: ignore[union-attr]
    assert http.max_attempts == 1 and http._client.timeout.read == 2.5
    assert TicketingSettings().max_attempts == 4  # the production default


def test_builtin_ticketing_and_identity_build_nothing() -> None:
    assert build_ticket_system(TicketingSettings()) is None
    assert build_identity_provider(IdentitySettings()) is None


def test_jira_without_settings_names_every_missing_env_var() -> None:
    with pytest.raises(ConnectorConfigurationError) as raised:
        build_ticket_system(TicketingSettings(kind="jira", base_url="https://acme.atlassian.net"))

    message = str(raised.value)
    for name in ("USERNAME", "API_TOKEN", "PROJECT_KEY"):
        assert f"DESKPILOT_TICKETING__{name}" in message
    assert "BASE_URL" not in message
    assert message.startswith("ticketing (jira) needs")


@pytest.mark.parametrize("kind", ["servicenow", "zendesk"])
def test_servicenow_and_zendesk_need_no_project_key(kind: str) -> None:
    with pytest.raises(ConnectorConfigurationError) as raised:
        build_ticket_system(TicketingSettings.model_validate({"kind": kind}))

    assert str(raised.value) == (
        f"ticketing ({kind}) needs DESKPILOT_TICKETING__BASE_URL, DESKPILOT_TICKETING__USERNAME, "
        "DESKPILOT_TICKETING__API_TOKEN"
    )


def test_blank_secret_counts_as_missing() -> None:
    settings = TicketingSettings.model_validate({"kind": "zendesk", **TICKETING, "api_token": " "})

    with pytest.raises(ConnectorConfigurationError, match="DESKPILOT_TICKETING__API_TOKEN$"):
        build_ticket_system(settings)


def test_ticketing_webhook_secret_and_issue_type_reach_the_adapter(opened: list[Any]) -> None:
    settings = TicketingSettings.model_validate(
        {"kind": "jira", **TICKETING, "project_key": "IT", "issue_type": "Incident", "webhook_secret": "whs"}
    )
    system = build_ticket_system(settings)
    opened.append(system)
    body = json.dumps({"webhookEvent": "comment_created"}).encode()

    assert isinstance(system, JiraTicketSystem) and system._issue_type == "Incident"
    assert system.parse_status_webhook(body, {"X-Hub-Signature": sign_webhook(body, "whs")}) is None
    with pytest.raises(AuthError):
        system.parse_status_webhook(body, {"X-Hub-Signature": sign_webhook(body, "other")})


def test_okta_builds_okta_adapter(opened: list[Any]) -> None:
    provider = build_identity_provider(IdentitySettings.model_validate({"kind": "okta", **OKTA}))
    opened.append(provider)

    assert isinstance(provider, OktaIdentityProvider)
    assert provider.system == "okta"
    assert repr(provider) == "OktaIdentityProvider(base_url='https://acme.okta.com')"


def test_graph_builds_graph_adapter_on_public_cloud_by_default(opened: list[Any]) -> None:
    provider = build_identity_provider(IdentitySettings.model_validate({"kind": "graph", **GRAPH}))
    opened.append(provider)

    assert isinstance(provider, GraphIdentityProvider)
    assert provider.system == "graph"
    assert repr(provider) == f"GraphIdentityProvider(base_url={GRAPH_V1!r})"
    assert "s3cr3t" not in repr(provider)


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("okta", ["BASE_URL", "API_TOKEN"]),
        ("graph", ["TENANT_ID", "CLIENT_ID", "CLIENT_SECRET"]),
    ],
)
def test_identity_without_settings_names_missing_env_vars(kind: str, missing: list[str]) -> None:
    with pytest.raises(ConnectorConfigurationError) as raised:
        build_identity_provider(IdentitySettings.model_validate({"kind": kind}))

    names = ", ".join(f"DESKPILOT_IDENTITY__{name}" for name in missing)
    assert str(raised.value) == f"identity ({kind}) needs {names}"


def test_identity_built_from_environment(monkeypatch: pytest.MonkeyPatch, opened: list[Any]) -> None:
    monkeypatch.setenv("DESKPILOT_IDENTITY__KIND", "graph")
    for name, value in GRAPH.items():
        monkeypatch.setenv(f"DESKPILOT_IDENTITY__{name.upper()}", value)

    provider = build_identity_provider(Settings(_env_file=None).identity)
    opened.append(provider)

    assert isinstance(provider, GraphIdentityProvider)


def test_configuration_errors_are_permanent_and_sources_keep_their_message() -> None:
    with pytest.raises(SourceConfigurationError) as raised:
        build_knowledge_source("wiki", SourceSettings(kind="confluence", url="https://acme.atlassian.net"))

    assert isinstance(raised.value, ConnectorConfigurationError)
    assert isinstance(raised.value, PermanentError)
    assert str(raised.value) == (
        "source 'wiki' (confluence) needs DESKPILOT_SOURCES__WIKI__USERNAME, DESKPILOT_SOURCES__WIKI__TOKEN"
    )
