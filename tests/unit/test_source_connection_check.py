"""``check_connection`` of every knowledge source: ok against the emulators and local files, and the
connector's own error (wrong token, dead host, missing folder) in one attempt, without retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.confluence import ConfluenceKnowledgeSource
from connectors.errors import AuthError, RemoteNotFoundError, RemoteUnavailableError
from connectors.folder.source import FolderKnowledgeSource
from connectors.interfaces import ConnectionCheck
from connectors.jsonl.source import JsonLinesKnowledgeSource
from connectors.servicenow.knowledge import ServiceNowKnowledgeSource
from connectors.zendesk.guide import ZendeskGuideSource
from tests.emulators import confluence, servicenow, zendesk
from tests.emulators.fixtures_kb import (
    CONFLUENCE_PAGES,
    CONFLUENCE_TOKEN,
    CONFLUENCE_USER,
    SERVICENOW_ARTICLES,
    SERVICENOW_PASSWORD,
    SERVICENOW_USER,
    ZENDESK_ARTICLES,
    ZENDESK_EMAIL,
    ZENDESK_TOKEN,
)
from tests.emulators.harness import RunningEmulator, free_port, serve_emulator

Build = Callable[[str, str], ConnectionCheck]


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, RunningEmulator]]:
    apps = {
        "confluence": confluence.build_app(CONFLUENCE_PAGES, user=CONFLUENCE_USER, secret=CONFLUENCE_TOKEN),
        "servicenow": servicenow.build_app(
            SERVICENOW_ARTICLES, user=SERVICENOW_USER, secret=SERVICENOW_PASSWORD
        ),
        "zendesk": zendesk.build_app(ZENDESK_ARTICLES, user=ZENDESK_EMAIL, secret=ZENDESK_TOKEN),
    }
    with (
        serve_emulator(*apps["confluence"]) as wiki,
        serve_emulator(*apps["servicenow"]) as snow,
        serve_emulator(*apps["zendesk"]) as guide,
    ):
        yield {"confluence": wiki, "servicenow": snow, "zendesk": guide}


BUILDERS: dict[str, tuple[Build, str]] = {
    "confluence": (
        lambda url, token: ConfluenceKnowledgeSource("wiki", url, CONFLUENCE_USER, token),
        CONFLUENCE_TOKEN,
    ),
    "servicenow": (
        lambda url, token: ServiceNowKnowledgeSource("kb", url, SERVICENOW_USER, token),
        SERVICENOW_PASSWORD,
    ),
    "zendesk": (lambda url, token: ZendeskGuideSource("guide", url, ZENDESK_EMAIL, token), ZENDESK_TOKEN),
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_remote_source_check_reaches_the_emulator_once_with_credentials(
    emulators: dict[str, RunningEmulator], kind: str
) -> None:
    emulator = emulators[kind]
    emulator.reset()
    build, token = BUILDERS[kind]
    source = build(emulator.base_url, token)
    assert isinstance(source, ConnectionCheck)

    message = source.check_connection()

    assert "answered" in message and emulator.base_url in message
    calls = emulator.calls()
    assert len(calls) == 1 and calls[0]["headers"]["authorization"].startswith("Basic ")
    assert token not in message


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_remote_source_check_with_a_wrong_token_is_an_auth_error(
    emulators: dict[str, RunningEmulator], kind: str
) -> None:
    build, _ = BUILDERS[kind]
    with pytest.raises(AuthError, match="HTTP 401") as raised:
        build(emulators[kind].base_url, "wrong-token").check_connection()
    assert "wrong-token" not in str(raised.value)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_remote_source_check_does_not_retry_an_outage(
    emulators: dict[str, RunningEmulator], kind: str
) -> None:
    emulator = emulators[kind]
    emulator.reset()
    emulator.inject(status=503, times=3)
    build, token = BUILDERS[kind]
    with pytest.raises(RemoteUnavailableError, match="HTTP 503"):
        build(emulator.base_url, token).check_connection()
    assert len(emulator.calls()) == 1
    emulator.reset()


def test_remote_source_check_against_a_dead_port_says_the_connection_failed() -> None:
    source = ConfluenceKnowledgeSource("wiki", f"http://127.0.0.1:{free_port()}", CONFLUENCE_USER, "t")
    with pytest.raises(RemoteUnavailableError, match="connection failed"):
        source.check_connection()


def test_folder_and_jsonl_checks_count_what_they_would_read(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext\n")
    (tmp_path / "b.txt").write_text("text\n")
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG")
    lines = tmp_path / "kb.jsonl"
    lines.write_text('{"title": "a", "body_markdown": "x"}\n\n{"title": "b", "body_markdown": "y"}\n')

    assert FolderKnowledgeSource("docs", tmp_path).check_connection().endswith("2 supported files")
    assert JsonLinesKnowledgeSource("kb", lines).check_connection().endswith("2 lines")


def test_folder_and_jsonl_checks_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(RemoteNotFoundError, match="does not exist"):
        FolderKnowledgeSource("docs", tmp_path / "nope").check_connection()
    with pytest.raises(RemoteNotFoundError, match="cannot read .*missing.jsonl"):
        JsonLinesKnowledgeSource("kb", tmp_path / "missing.jsonl").check_connection()
