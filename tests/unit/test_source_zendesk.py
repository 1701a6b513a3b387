"""ZendeskGuideSource against the Zendesk Help Center emulator, over real HTTP on localhost."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from connectors.errors import AuthError, RemoteNotFoundError, RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.interfaces import KnowledgeSource
from connectors.models import ContentType
from connectors.zendesk import ZendeskGuideSource
from tests.emulators.fixtures_kb import ADMIN_SEGMENT, ZENDESK_ARTICLES, ZENDESK_EMAIL, ZENDESK_TOKEN, utc
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.source_checks import gather, recording_client
from tests.emulators.zendesk import build_app

LIST = "/api/v2/help_center/en-us/articles"
INCREMENTAL = "/api/v2/help_center/incremental/articles"
PUBLISHED = {"360001", "360002", "360003", "360004"}
MALFORMED = "360006"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(ZENDESK_ARTICLES, user=ZENDESK_EMAIL, secret=ZENDESK_TOKEN)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: RunningEmulator) -> None:
    emulator.reset()


def make_source(
    emulator: RunningEmulator,
    *,
    page_size: int = 100,
    api_token: str = ZENDESK_TOKEN,
    locale: str = "en-us",
    client: JsonHttpClient | None = None,
) -> ZendeskGuideSource:
    return ZendeskGuideSource(
        "guide",
        emulator.base_url,
        ZENDESK_EMAIL,
        api_token,
        locale=locale,
        page_size=page_size,
        client=client,
    )


def fault_client(
    emulator: RunningEmulator, delays: list[float], *, timeout_s: float = 5.0, max_attempts: int = 3
) -> JsonHttpClient:
    return recording_client(
        emulator,
        delays,
        system="zendesk",
        auth=(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN),
        timeout_s=timeout_s,
        max_attempts=max_attempts,
    )


def test_zendesk_source_satisfies_knowledge_source_protocol(emulator: RunningEmulator) -> None:
    assert isinstance(make_source(emulator), KnowledgeSource)


def test_zendesk_load_all_small_pages_returns_every_published_article(emulator: RunningEmulator) -> None:
    documents, failures = gather(make_source(emulator, page_size=2).load_all())

    assert set(documents) == PUBLISHED  # no draft, no German article
    assert list(failures) == [MALFORMED]
    vpn = documents["360001"]
    assert vpn.source == "guide"
    assert vpn.title == "Install the VPN client"
    assert vpn.body.startswith("<p>Download the client")
    assert vpn.content_type is ContentType.HTML
    assert vpn.url == f"{emulator.base_url}/hc/en-us/articles/360001-install-the-vpn-client"
    assert vpn.updated_at == utc(2026, 3, 2, 8, 0, 0)
    assert vpn.acl == frozenset()
    assert vpn.metadata == {"section_id": 100, "labels": "vpn,remote"}
    assert documents["360004"].acl == {f"zendesk-segment-{ADMIN_SEGMENT}"}
    calls = emulator.calls(LIST)
    assert len(calls) == 3
    assert calls[0]["query"] == {"page[size]": "2"}
    assert "page[after]" in calls[1]["query"]
    token = base64.b64encode(f"{ZENDESK_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
    assert calls[0]["headers"]["authorization"] == f"Basic {token}"


def test_zendesk_load_all_article_without_body_is_failure_while_batch_loads(
    emulator: RunningEmulator,
) -> None:
    batches = list(make_source(emulator, page_size=3).load_all())

    assert [doc.document_id for doc in batches[-1].documents] == ["360004"]
    assert [failure.document_id for failure in batches[-1].failures] == [MALFORMED]
    assert "body" in batches[-1].failures[0].error


def test_zendesk_load_all_offset_pagination_follows_next_page() -> None:
    app, state = build_app(
        ZENDESK_ARTICLES, user=ZENDESK_EMAIL, secret=ZENDESK_TOKEN, legacy_offset_per_page=2
    )
    with serve_emulator(app, state) as emulator:
        documents, _ = gather(make_source(emulator).load_all())
        pages = [call["query"].get("page") for call in emulator.calls(LIST)]

    assert set(documents) == PUBLISHED
    assert pages == [None, "2", "3"]


def test_zendesk_poll_window_edges_returns_changed_articles_only(emulator: RunningEmulator) -> None:
    # Zendesk times have whole seconds: a poll from 09:30:00.5 must still return the change stored as
    # 09:30:00. 10:00:00 on 3 March is exactly until: excluded, and the export stops there.
    since, until = utc(2026, 3, 2, 9, 30, 0, 500), utc(2026, 3, 3, 10, 0, 0)

    documents, failures = gather(make_source(emulator).poll(since, until))

    assert set(documents) == {"360002"}  # the German article and the draft are left out
    assert list(failures) == [MALFORMED]
    calls = emulator.calls(INCREMENTAL)
    assert len(calls) == 1
    assert calls[0]["query"] == {"start_time": str(int(utc(2026, 3, 2, 9, 30).timestamp()))}


def test_zendesk_poll_incremental_pages_overlap_yields_each_change_once() -> None:
    app, state = build_app(
        ZENDESK_ARTICLES, user=ZENDESK_EMAIL, secret=ZENDESK_TOKEN, incremental_page_size=2
    )
    with serve_emulator(app, state) as emulator:
        batches = list(make_source(emulator).poll(utc(2026, 3, 2, 9, 30), utc(2026, 3, 3, 10, 0)))
        calls = emulator.calls(INCREMENTAL)

    documents, failures = gather(batches)
    assert set(documents) == {"360002"}
    assert list(failures) == [MALFORMED]  # on two pages, reported once
    assert len(calls) == 4


def test_zendesk_poll_last_page_linking_to_itself_stops(emulator: RunningEmulator) -> None:
    documents, _ = gather(make_source(emulator).poll(utc(2026, 3, 3, 10, 30), utc(2027, 1, 1)))

    assert set(documents) == {"360004"}
    assert len(emulator.calls(INCREMENTAL)) == 2


def test_zendesk_list_document_ids_matches_load_all(emulator: RunningEmulator) -> None:
    id_batches = list(make_source(emulator, page_size=4).list_document_ids())

    assert id_batches == [["360001", "360002", "360003", "360004"], [MALFORMED]]


def test_zendesk_wrong_credentials_raises_auth_error_without_retry(emulator: RunningEmulator) -> None:
    source = make_source(emulator, api_token="not-the-token")

    with pytest.raises(AuthError, match="Couldn't authenticate you") as raised:
        next(iter(source.load_all()))

    assert raised.value.system == "zendesk"
    assert len(emulator.calls(LIST)) == 1


def test_zendesk_rate_limited_twice_waits_retry_after_then_delivers(emulator: RunningEmulator) -> None:
    emulator.inject(status=429, times=2, retry_after="1", path_prefix=LIST)
    delays: list[float] = []

    documents, _ = gather(make_source(emulator, client=fault_client(emulator, delays)).load_all())

    assert set(documents) == PUBLISHED
    assert len(emulator.calls(LIST)) == 3
    assert delays == [1.0, 1.0]


def test_zendesk_persistent_503_raises_remote_unavailable_after_max_attempts(
    emulator: RunningEmulator,
) -> None:
    emulator.inject(status=503, times=10, path_prefix=INCREMENTAL)
    delays: list[float] = []
    source = make_source(emulator, client=fault_client(emulator, delays, max_attempts=3))

    with pytest.raises(RemoteUnavailableError):
        list(source.poll(utc(2026, 3, 1), utc(2026, 3, 4)))

    assert len(emulator.calls(INCREMENTAL)) == 3
    assert len(delays) == 2


def test_zendesk_slow_response_beyond_timeout_raises_remote_unavailable(emulator: RunningEmulator) -> None:
    emulator.inject(delay_s=0.6, times=2, path_prefix=LIST)
    source = make_source(emulator, client=fault_client(emulator, [], timeout_s=0.2, max_attempts=2))

    with pytest.raises(RemoteUnavailableError, match="timeout"):
        list(source.load_all())


def test_zendesk_unknown_locale_raises_remote_not_found(emulator: RunningEmulator) -> None:
    with pytest.raises(RemoteNotFoundError, match="RecordNotFound"):
        list(make_source(emulator, locale="xx-yy").load_all())


def test_zendesk_unknown_article_id_raises_remote_not_found(emulator: RunningEmulator) -> None:
    client = fault_client(emulator, [])

    article = client.request_json("GET", f"{LIST}/360001.json")
    with pytest.raises(RemoteNotFoundError):
        client.request_json("GET", f"{LIST}/999999.json")

    assert article["article"]["title"] == "Install the VPN client"


def test_zendesk_page_size_above_cursor_limit_rejected(emulator: RunningEmulator) -> None:
    with pytest.raises(ValueError, match="page_size"):
        make_source(emulator, page_size=101)
