from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.common.config import Environment, Settings, get_settings


def test_settings_defaults_are_the_embedded_profile() -> None:
    settings = Settings(_env_file=None)
    assert settings.database.url == "sqlite:///./var/deskpilot.db"
    assert settings.database.is_sqlite
    assert settings.chroma.path == Path("./var/chroma")
    assert settings.chroma.host is None
    assert settings.celery.eager(settings.redis) is True
    assert settings.llm.enabled is False
    assert settings.ticketing.kind == "builtin"


def test_settings_nested_env_vars_with_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", "postgresql+psycopg://app@db:5432/deskpilot")
    monkeypatch.setenv("DESKPILOT_CHROMA__HOST", "chroma.internal")
    monkeypatch.setenv("DESKPILOT_REDIS__URL", "redis://cache:6379/0")
    monkeypatch.setenv("DESKPILOT_ROUTER__CONFIDENCE_THRESHOLD", "0.7")
    settings = Settings(_env_file=None)
    assert settings.database.url == "postgresql+psycopg://app@db:5432/deskpilot"
    assert settings.chroma.host == "chroma.internal"
    assert settings.router.confidence_threshold == 0.7
    # A Redis URL makes it the broker, so tasks leave the process.
    assert settings.celery.effective_broker_url(settings.redis) == "redis://cache:6379/0"
    assert settings.celery.eager(settings.redis) is False


def test_settings_dotenv_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DESKPILOT_LLM__BASE_URL=http://127.0.0.1:9999/v1\nDESKPILOT_LLM__MODEL=local-model\n"
    )
    settings = Settings(_env_file=str(env_file))
    assert settings.llm.enabled
    assert settings.llm.model == "local-model"


def test_settings_secrets_are_masked_in_repr_and_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_SLACK__BOT_TOKEN", "xoxb-very-secret-token")
    monkeypatch.setenv("DESKPILOT_LLM__API_KEY", "sk-also-secret")
    settings = Settings(_env_file=None)
    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-very-secret-token"
    for rendered in (repr(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert "xoxb-very-secret-token" not in rendered
        assert "sk-also-secret" not in rendered


def test_settings_production_rejects_placeholder_secret_and_sqlite() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Settings(_env_file=None, environment=Environment.PRODUCTION)
    message = str(excinfo.value)
    assert "SECRET_KEY" in message
    assert "PostgreSQL" in message


def test_settings_production_requires_signing_secret_with_bot_token() -> None:
    with pytest.raises(ValidationError, match="SIGNING_SECRET"):
        Settings(
            _env_file=None,
            environment=Environment.PRODUCTION,
            web={"secret_key": "a-real-secret-value"},
            database={"url": "postgresql+psycopg://app@db/deskpilot"},
            slack={"bot_token": "xoxb-1"},
        )


def test_settings_production_accepts_real_configuration() -> None:
    settings = Settings(
        _env_file=None,
        environment=Environment.PRODUCTION,
        web={"secret_key": "a-real-secret-value"},
        database={"url": "postgresql+psycopg://app@db/deskpilot"},
    )
    assert settings.environment is Environment.PRODUCTION


def test_settings_invalid_value_is_rejected_with_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_TICKETING__KIND", "remedy")
    with pytest.raises(ValidationError, match="ticketing.kind"):
        Settings(_env_file=None)


def test_get_settings_is_cached() -> None:
    assert get_settings() is get_settings()


def test_settings_identity_defaults_to_builtin_and_reads_env_with_masked_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).identity.kind == "builtin"
    monkeypatch.setenv("DESKPILOT_IDENTITY__KIND", "okta")
    monkeypatch.setenv("DESKPILOT_IDENTITY__BASE_URL", "https://acme.okta.com")
    monkeypatch.setenv("DESKPILOT_IDENTITY__API_TOKEN", "00okta-secret-token")
    monkeypatch.setenv("DESKPILOT_IDENTITY__CLIENT_SECRET", "graph-client-secret")
    monkeypatch.setenv("DESKPILOT_TICKETING__WEBHOOK_SECRET", "ticket-webhook-secret")
    settings = Settings(_env_file=None)
    assert settings.identity.kind == "okta"
    assert settings.identity.base_url == "https://acme.okta.com"
    assert settings.identity.api_token is not None
    assert settings.identity.api_token.get_secret_value() == "00okta-secret-token"
    assert settings.ticketing.issue_type == "Task"
    for rendered in (repr(settings), str(settings.model_dump()), settings.model_dump_json()):
        for secret in ("00okta-secret-token", "graph-client-secret", "ticket-webhook-secret"):
            assert secret not in rendered


def test_settings_invalid_identity_kind_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_IDENTITY__KIND", "ldap")
    with pytest.raises(ValidationError, match="identity.kind"):
        Settings(_env_file=None)
