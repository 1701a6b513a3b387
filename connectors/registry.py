"""Knowledge-source kinds mapped to their adapters, imported on first use."""

from __future__ import annotations

from pathlib import Path

from connectors.interfaces import LLM, KnowledgeSource
from services.common.config import LLMSettings, SourceSettings
from services.common.errors import PermanentError


class SourceConfigurationError(PermanentError):
    """A knowledge source is missing a setting it needs."""

    code = "source_misconfigured"


def _require(name: str, settings: SourceSettings, *fields: str) -> None:
    missing = [f for f in fields if getattr(settings, f) in (None, "")]
    if missing:
        names = ", ".join(f"DESKPILOT_SOURCES__{name.upper()}__{f.upper()}" for f in missing)
        raise SourceConfigurationError(f"source {name!r} ({settings.kind}) needs {names}")


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


def build_llm(settings: LLMSettings) -> LLM | None:
    """The configured chat model, or None when no endpoint is set (extractive answers)."""
    if not settings.enabled:
        return None
    from connectors.llm_openai.adapter import OpenAICompatibleLLM

    return OpenAICompatibleLLM(settings)
