"""ConfluenceKnowledgeSource against the Confluence emulator, over real HTTP on localhost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors.confluence import ConfluenceKnowledgeSource
from connectors.errors import AuthError, RemoteNotFoundError, RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.interfaces import KnowledgeSource
from connectors.models import ContentType
from tests.emulators.confluence import build_app
from tests.emulators.fixtures_kb import (
    CONFLUENCE_PAGES,
    CONFLUENCE_TOKEN,
    CONFLUENCE_USER,
    RESTRICTED_ACCOUNT_ID,
    utc,
)
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.source_checks import gather, recording_client

SEARCH = "/wiki/rest/api/content/search"
CURRENT_PAGES = {"65537", "65538", "65539", "65540", "65541"}
MALFORMED_PAGE = "65542"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(CONFLUENCE_PAGES, user=CONFLUENCE_USER, secret=CONFLUENCE_TOKEN)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: RunningEmulator) -> None:
    emulator.reset()


def make_source(
    emulator: RunningEmulator,
    *,
    page_size: int = 25,
    api_token: str = CONFLUENCE_TOKEN,
    space_keys: list[str] | None = None,
    cql_extra: str | None = None,
    client: JsonHttpClient | None = None,
) -> ConfluenceKnowledgeSource:
    return ConfluenceKnowledgeSource(
        "wiki",
        emulator.base_url,
        CONFLUENCE_USER,
        api_token,
        space_keys=space_keys,
        cql_extra=cql_extra,
        page_size=page_size,
        client=client,
    )


def fault_client(
    emulator: RunningEmulator, delays: list[float], *, timeout_s: float = 5.0, max_attempts: int = 3
) -> JsonHttpClient:
    return recording_client(
        emulator,
        delays,
        system="confluence",
        auth=(CONFLUENCE_USER, CONFLUENCE_TOKEN),
        timeout_s=timeout_s,
        max_attempts=max_attempts,
    )


def test_confluence_source_satisfies_knowledge_source_protocol(emulator: RunningEmulator) -> None:
    assert isinstance(make_source(emulator), KnowledgeSource)


def test_confluence_load_all_small_pages_returns_every_current_page(emulator: RunningEmulator) -> None:
    batches = list(make_source(emulator, page_size=2).load_all())

    documents, failures = gather(batches)
    assert set(documents) == CURRENT_PAGES  # the blog post is not a page
    assert set(failures) == {MALFORMED_PAGE}
    vpn = documents["65537"]
    assert vpn.source == "wiki"
    assert vpn.title == "Reset your VPN token"
    assert vpn.body.startswith("<p>Open <strong>Self-service</strong>")
    assert vpn.content_type is ContentType.HTML
    assert vpn.url == f"{emulator.base_url}/wiki/spaces/IT/pages/65537/Reset+your+VPN+token"
    assert vpn.updated_at == utc(2026, 3, 2, 8, 15, 0, 120)
    assert vpn.category == "IT Help"
    assert vpn.acl == frozenset()
    assert vpn.metadata == {"space_key": "IT", "version": 3}
    assert documents["65540"].acl == {"it-admins", f"confluence-user-{RESTRICTED_ACCOUNT_ID}"}
    calls = emulator.calls(SEARCH)
    assert len(calls) == 3
    assert calls[0]["query"]["cql"] == "type = page"
    assert "body.storage" in calls[0]["query"]["expand"]
    assert "cursor" not in calls[0]["query"] and "cursor" in calls[1]["query"]
    assert calls[0]["headers"]["authorization"].startswith("Basic ")


def test_confluence_load_all_page_without_body_is_failure_while_batch_loads(
    emulator: RunningEmulator,
) -> None:
    batches = list(make_source(emulator, page_size=2).load_all())

    last = batches[-1]
    assert [doc.document_id for doc in last.documents] == ["65541"]
    assert len(last.failures) == 1
    assert last.failures[0].document_id == MALFORMED_PAGE
    assert last.failures[0].source == "wiki"
    assert "body" in last.failures[0].error


def test_confluence_space_keys_and_cql_extra_narrow_the_search(emulator: RunningEmulator) -> None:
    hr_docs, _ = gather(make_source(emulator, space_keys=["HR"]).load_all())
    vpn_docs, vpn_failures = gather(
        make_source(emulator, space_keys=["IT"], cql_extra='label = "vpn"').load_all()
    )

    assert set(hr_docs) == {"65541"}
    assert set(vpn_docs) == {"65537", "65538"} and not vpn_failures
    assert emulator.calls(SEARCH)[-1]["query"]["cql"] == 'type = page AND space in ("IT") AND (label = "vpn")'


def test_confluence_poll_window_edges_returns_changed_pages_only(emulator: RunningEmulator) -> None:
    since, until = utc(2026, 3, 2, 9, 30, 45), utc(2026, 3, 3, 10, 0, 0)

    documents, failures = gather(make_source(emulator, page_size=2).poll(since, until))

    # 65538 was saved exactly at since (included); 65539 exactly at until (excluded); 65537 comes back
    # from the widened CQL but is older than since.
    assert set(documents) == {"65538"}
    assert set(failures) == {MALFORMED_PAGE}
    cql = emulator.calls(SEARCH)[0]["query"]["cql"]
    assert cql == 'type = page AND lastmodified >= "2026-03-01 21:30"'


def test_confluence_poll_site_timezone_west_of_utc_still_finds_boundary_page() -> None:
    # The site reads CQL dates at UTC-10: "09:30" there is 19:30 UTC, after the change at 09:30:45 UTC.
    app, state = build_app(
        CONFLUENCE_PAGES, user=CONFLUENCE_USER, secret=CONFLUENCE_TOKEN, site_utc_offset=timedelta(hours=-10)
    )
    with serve_emulator(app, state) as emulator:
        documents, _ = gather(make_source(emulator).poll(utc(2026, 3, 2, 9, 30, 45), utc(2026, 3, 2, 9, 31)))

    assert set(documents) == {"65538"}


def test_confluence_list_document_ids_matches_load_all_without_bodies(emulator: RunningEmulator) -> None:
    source = make_source(emulator, page_size=4)

    id_batches = list(source.list_document_ids())

    assert len(id_batches) == 2
    assert {doc_id for batch in id_batches for doc_id in batch} == CURRENT_PAGES | {MALFORMED_PAGE}
    assert all("expand" not in call["query"] for call in emulator.calls(SEARCH))


def test_confluence_wrong_credentials_raises_auth_error_without_retry(emulator: RunningEmulator) -> None:
    source = make_source(emulator, api_token="not-the-token")

    with pytest.raises(AuthError) as raised:
        next(iter(source.load_all()))

    assert raised.value.system == "confluence"
    assert "401" in str(raised.value)
    assert len(emulator.calls(SEARCH)) == 1


def test_confluence_rate_limited_twice_waits_retry_after_then_delivers(emulator: RunningEmulator) -> None:
    emulator.inject(status=429, times=2, retry_after="1", path_prefix=SEARCH)
    delays: list[float] = []

    documents, _ = gather(make_source(emulator, client=fault_client(emulator, delays)).load_all())

    assert set(documents) == CURRENT_PAGES
    assert len(emulator.calls(SEARCH)) == 3
    assert delays == [1.0, 1.0]


def test_confluence_persistent_503_raises_remote_unavailable_after_max_attempts(
    emulator: RunningEmulator,
) -> None:
    emulator.inject(status=503, times=10, path_prefix=SEARCH)
    delays: list[float] = []
    source = make_source(emulator, client=fault_client(emulator, delays, max_attempts=3))

    with pytest.raises(RemoteUnavailableError):
        list(source.load_all())

    assert len(emulator.calls(SEARCH)) == 3
    assert len(delays) == 2


def test_confluence_slow_response_beyond_timeout_raises_remote_unavailable(emulator: RunningEmulator) -> None:
    emulator.inject(delay_s=0.6, times=2, path_prefix=SEARCH)
    delays: list[float] = []
    source = make_source(emulator, client=fault_client(emulator, delays, timeout_s=0.2, max_attempts=2))

    with pytest.raises(RemoteUnavailableError, match="timeout"):
        list(source.load_all())


def test_confluence_unknown_content_id_raises_remote_not_found(emulator: RunningEmulator) -> None:
    client = fault_client(emulator, [])

    page = client.request_json("GET", "/wiki/rest/api/content/65537", params={"expand": "body.storage"})
    with pytest.raises(RemoteNotFoundError, match="No content found"):
        client.request_json("GET", "/wiki/rest/api/content/999999")

    assert page["title"] == "Reset your VPN token"
    assert page["version"]["number"] == 3


def test_confluence_load_all_lazy_no_request_before_first_next(emulator: RunningEmulator) -> None:
    batches = make_source(emulator).load_all()
    assert emulator.calls(SEARCH) == []

    next(batches)

    assert len(emulator.calls(SEARCH)) == 1
