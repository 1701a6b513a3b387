"""Connector kinds mapped to their adapters, imported on first use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import get_args

from pydantic import BaseModel, SecretStr

from connectors.interfaces import LLM, IdentityProvider, KnowledgeSource, TicketSystem
from services.common.config import (
    IdentitySettings,
    LLMPrice,
    LLMSettings,
    SourceSettings,
    TicketingSettings,
)
from services.common.errors import PermanentError


class ConnectorConfigurationError(PermanentError):
    """A configured connector is missing a setting it needs; the message names the environment variables."""

    code = "connector_misconfigured"


class SourceConfigurationError(ConnectorConfigurationError):
    """A knowledge source is missing a setting it needs."""

    code = "source_misconfigured"


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _missing_env(env_prefix: str, settings: BaseModel, fields: tuple[str, ...]) -> str:
    """The environment variables of ``fields`` that are unset or blank, comma-separated ('' when none)."""
    missing = []
    for field in fields:
        value = getattr(settings, field)
        text = _secret(value) if isinstance(value, SecretStr) else "" if value is None else str(value)
        if not text.strip():
            missing.append(f"{env_prefix}__{field.upper()}")
    return ", ".join(missing)


def _require(name: str, settings: SourceSettings, *fields: str) -> None:
    names = _missing_env(f"DESKPILOT_SOURCES__{name.upper()}", settings, fields)
    if names:
        raise SourceConfigurationError(f"source {name!r} ({settings.kind}) needs {names}")


def _require_connector(group: str, settings: TicketingSettings | IdentitySettings, *fields: str) -> None:
    names = _missing_env(f"DESKPILOT_{group.upper()}", settings, fields)
    if names:
        raise ConnectorConfigurationError(f"{group} ({settings.kind}) needs {names}")


KNOWLEDGE_SOURCE_KINDS: tuple[str, ...] = get_args(SourceSettings.model_fields["kind"].annotation)
"""Every kind ``build_knowledge_source`` builds."""

KNOWLEDGE_SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "folder": ("path",),
    "jsonl": ("path", "limit"),
    "confluence": ("url", "username", "spaces"),
    "servicenow": ("url", "username", "knowledge_bases"),
    "zendesk": ("url", "username", "locale"),
}
"""The non-secret ``SourceSettings`` fields each kind reads; remote kinds also need ``token``."""

REMOTE_SOURCE_KINDS = frozenset({"confluence", "servicenow", "zendesk"})
"""Kinds that need ``url``, ``username`` and a ``token`` (a secret, from the environment only)."""


def build_knowledge_source(name: str, settings: SourceSettings) -> KnowledgeSource:
    """The adapter for a configured source (raises SourceConfigurationError when settings are missing)."""
    token = settings.token.get_secret_value() if settings.token else ""
    if settings.kind == "folder":
        _require(name, settings, "path")
        from connectors.folder.source import FolderKnowledgeSource

        return FolderKnowledgeSource(name, Path(str(settings.path)))
    if settings.kind == "jsonl":
        _require(name, settings, "path")
        from connectors.jsonl.source import JsonLinesKnowledgeSource

        return JsonLinesKnowledgeSource(name, Path(str(settings.path)), limit=settings.limit)
    _require(name, settings, "url", "username", "token")
    url, user = str(settings.url), str(settings.username)
    if settings.kind == "confluence":
        from connectors.confluence.source import ConfluenceKnowledgeSource

        return ConfluenceKnowledgeSource(
            name, url, user, token, space_keys=settings.spaces or None, cql_extra=None
        )
    if settings.kind == "servicenow":
        from connectors.servicenow.knowledge import ServiceNowKnowledgeSource

        return ServiceNowKnowledgeSource(
            name, url, user, token, knowledge_base_sys_ids=settings.knowledge_bases or None
        )
    from connectors.zendesk.guide import ZendeskGuideSource

    return ZendeskGuideSource(name, url, user, token, locale=settings.locale)


def build_ticket_system(settings: TicketingSettings) -> TicketSystem | None:
    """The configured ITSM adapter; None for ``builtin`` (the caller builds the store in ``services``).

    Raises ``ConnectorConfigurationError`` naming the ``DESKPILOT_TICKETING__*`` variables that are missing.
    """
    if settings.kind == "builtin":
        return None
    needed = ("base_url", "username", "api_token") + (("project_key",) if settings.kind == "jira" else ())
    _require_connector("ticketing", settings, *needed)
    url, user, token = str(settings.base_url), str(settings.username), _secret(settings.api_token)
    webhook_secret = _secret(settings.webhook_secret) or None
    attempts = settings.max_attempts
    if settings.kind == "jira":
        from connectors.jira.tickets import JiraTicketSystem

        project, issue_type = str(settings.project_key), settings.issue_type
        return JiraTicketSystem(
            url, user, token, project, issue_type, webhook_secret, settings.timeout_s, max_attempts=attempts
        )
    if settings.kind == "servicenow":
        from connectors.servicenow.tickets import ServiceNowTicketSystem

        return ServiceNowTicketSystem(
            url, user, token, webhook_secret, settings.timeout_s, max_attempts=attempts
        )
    from connectors.zendesk.tickets import ZendeskTicketSystem

    return ZendeskTicketSystem(url, user, token, webhook_secret, settings.timeout_s, max_attempts=attempts)


def build_identity_provider(settings: IdentitySettings) -> IdentityProvider | None:
    """The configured directory adapter; None for ``builtin`` (the caller builds it in ``services``).

    Raises ``ConnectorConfigurationError`` naming the ``DESKPILOT_IDENTITY__*`` variables that are missing.
    """
    if settings.kind == "builtin":
        return None
    if settings.kind == "okta":
        _require_connector("identity", settings, "base_url", "api_token")
        from connectors.okta.identity import OktaIdentityProvider

        return OktaIdentityProvider(str(settings.base_url), _secret(settings.api_token), settings.timeout_s)
    _require_connector("identity", settings, "tenant_id", "client_id", "client_secret")
    from connectors.msgraph.identity import GRAPH_V1, GraphIdentityProvider

    return GraphIdentityProvider(
        settings.base_url or GRAPH_V1,
        tenant_id=str(settings.tenant_id),
        client_id=str(settings.client_id),
        client_secret=_secret(settings.client_secret),
        token_url=settings.token_url or None,
        timeout_s=settings.timeout_s,
    )


def build_llm(settings: LLMSettings, *, prices: Mapping[str, LLMPrice] | None = None) -> LLM | None:
    """The configured chat model, or None when no endpoint is set (extractive answers).

    ``prices`` (``settings.metrics.llm_prices``) turns the token counts into the cost metric.
    """
    if not settings.enabled:
        return None
    from connectors.llm_openai.adapter import OpenAICompatibleLLM

    return OpenAICompatibleLLM(settings, prices=prices)
