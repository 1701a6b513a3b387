"""ServiceNowKnowledgeSource against the ServiceNow Table API emulator, over real HTTP on localhost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.errors import AuthError, RemoteNotFoundError, RemoteUnavailableError
from connectors.http import JsonHttpClient
from connectors.interfaces import KnowledgeSource
from connectors.models import ContentType
from connectors.servicenow import ServiceNowKnowledgeSource
from tests.emulators.fixtures_kb import (
    IT_KB,
    NETWORK_CRITERION,
    SERVICENOW_ARTICLES,
    SERVICENOW_PASSWORD,
    SERVICENOW_USER,
    utc,
)
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.servicenow import build_app
from tests.emulators.source_checks import gather, recording_client

TABLE = "/api/now/table/kb_knowledge"
PREFIX = "0a1b2c3d4e5f60718293a4b5c6d7e8"
IT_PUBLISHED = {PREFIX + "01", PREFIX + "02", PREFIX + "03", PREFIX + "04"}
HR_PUBLISHED = PREFIX + "07"
MALFORMED = PREFIX + "06"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    app, state = build_app(SERVICENOW_ARTICLES, user=SERVICENOW_USER, secret=SERVICENOW_PASSWORD)
    with serve_emulator(app, state) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: RunningEmulator) -> None:
    emulator.reset()


def make_source(
    emulator: RunningEmulator,
    *,
    page_size: int = 100,
    password: str = SERVICENOW_PASSWORD,
    knowledge_base_sys_ids: list[str] | None = None,
    client: JsonHttpClient | None = None,
) -> ServiceNowKnowledgeSource:
    return ServiceNowKnowledgeSource(
        "itkb",
        emulator.base_url,
        SERVICENOW_USER,
        password,
        knowledge_base_sys_ids=knowledge_base_sys_ids,
        page_size=page_size,
        client=client,
    )


def fault_client(
    emulator: RunningEmulator, delays: list[float], *, timeout_s: float = 5.0, max_attempts: int = 3
) -> JsonHttpClient:
    return recording_client(
        emulator,
        delays,
        system="servicenow",
        auth=(SERVICENOW_USER, SERVICENOW_PASSWORD),
        timeout_s=timeout_s,
        max_attempts=max_attempts,
    )


def test_servicenow_source_satisfies_knowledge_source_protocol(emulator: RunningEmulator) -> None:
    assert isinstance(make_source(emulator), KnowledgeSource)


def test_servicenow_load_all_small_pages_returns_every_published_article(emulator: RunningEmulator) -> None:
    documents, failures = gather(make_source(emulator, page_size=2).load_all())

    assert set(documents) == IT_PUBLISHED | {HR_PUBLISHED}  # the draft is left out
    assert set(failures) == {MALFORMED}
    password = documents[PREFIX + "01"]
    assert password.source == "itkb"
    assert password.title == "How to reset your Windows password"
    assert password.body == "<p>Press Ctrl+Alt+Del and choose <b>Change a password</b>.</p>"
    assert password.content_type is ContentType.HTML
    assert password.url == f"{emulator.base_url}/kb_view.do?sysparm_article=KB0010001"
    assert password.updated_at == utc(2026, 3, 2, 8, 0, 0)
    assert password.category == "Accounts"
    assert password.acl == frozenset()
    assert password.metadata == {"number": "KB0010001"}
    assert documents[PREFIX + "04"].acl == {
        "itil",
        "network_admin",
        f"servicenow-user-criteria-{NETWORK_CRITERION}",
    }
    calls = emulator.calls(TABLE)
    assert [call["query"]["sysparm_offset"] for call in calls] == ["0", "2", "4", "6"]
    assert calls[0]["query"]["sysparm_query"] == "workflow_state=published^ORDERBYsys_id"
    assert calls[0]["query"]["sysparm_limit"] == "2"
    assert calls[0]["query"]["sysparm_display_value"] == "all"


def test_servicenow_load_all_article_without_title_is_failure_while_batch_loads(
    emulator: RunningEmulator,
) -> None:
    batches = list(make_source(emulator, page_size=2).load_all())

    last = batches[-1]
    assert [doc.document_id for doc in last.documents] == [HR_PUBLISHED]
    assert [failure.document_id for failure in last.failures] == [MALFORMED]
    assert "short_description" in last.failures[0].error


def test_servicenow_knowledge_base_filter_leaves_other_bases_out(emulator: RunningEmulator) -> None:
    documents, _ = gather(make_source(emulator, knowledge_base_sys_ids=[IT_KB]).load_all())

    assert set(documents) == IT_PUBLISHED
    assert emulator.calls(TABLE)[0]["query"]["sysparm_query"] == (
        f"workflow_state=published^kb_knowledge_baseIN{IT_KB}^ORDERBYsys_id"
    )


def test_servicenow_poll_window_edges_returns_changed_articles_only(emulator: RunningEmulator) -> None:
    # sys_updated_on has whole seconds: the change stored as 09:30:00 may have happened at 09:30:00.7,
    # so a poll from 09:30:00.5 must still return it. 10:00:00 on 3 March is exactly until: excluded.
    since, until = utc(2026, 3, 2, 9, 30, 0, 500), utc(2026, 3, 3, 10, 0, 0)

    documents, failures = gather(make_source(emulator, page_size=2).poll(since, until))

    assert set(documents) == {PREFIX + "02", HR_PUBLISHED}
    assert set(failures) == {MALFORMED}
    assert emulator.calls(TABLE)[0]["query"]["sysparm_query"] == (
        "workflow_state=published^sys_updated_on>=2026-03-02 09:30:00^ORDERBYsys_id"
    )


def test_servicenow_list_document_ids_matches_load_all_without_bodies(emulator: RunningEmulator) -> None:
    id_batches = list(make_source(emulator, page_size=4).list_document_ids())

    assert [len(batch) for batch in id_batches] == [4, 2]
    assert {doc_id for batch in id_batches for doc_id in batch} == IT_PUBLISHED | {HR_PUBLISHED, MALFORMED}
    assert all(call["query"]["sysparm_fields"] == "sys_id" for call in emulator.calls(TABLE))


def test_servicenow_wrong_credentials_raises_auth_error_without_retry(emulator: RunningEmulator) -> None:
    source = make_source(emulator, password="not-the-password")

    with pytest.raises(AuthError, match="User Not Authenticated") as raised:
        next(iter(source.load_all()))

    assert raised.value.system == "servicenow"
    assert len(emulator.calls(TABLE)) == 1


def test_servicenow_rate_limited_twice_waits_retry_after_then_delivers(emulator: RunningEmulator) -> None:
    emulator.inject(status=429, times=2, retry_after="1", path_prefix=TABLE)
    delays: list[float] = []

    documents, _ = gather(make_source(emulator, client=fault_client(emulator, delays)).load_all())

    assert set(documents) == IT_PUBLISHED | {HR_PUBLISHED}
    assert len(emulator.calls(TABLE)) == 3
    assert delays == [1.0, 1.0]


def test_servicenow_persistent_503_raises_remote_unavailable_after_max_attempts(
    emulator: RunningEmulator,
) -> None:
    emulator.inject(status=503, times=10, path_prefix=TABLE)
    delays: list[float] = []
    source = make_source(emulator, client=fault_client(emulator, delays, max_attempts=3))

    with pytest.raises(RemoteUnavailableError):
        list(source.load_all())

    assert len(emulator.calls(TABLE)) == 3
    assert len(delays) == 2


def test_servicenow_slow_response_beyond_timeout_raises_remote_unavailable(emulator: RunningEmulator) -> None:
    emulator.inject(delay_s=0.6, times=2, path_prefix=TABLE)
    source = make_source(emulator, client=fault_client(emulator, [], timeout_s=0.2, max_attempts=2))

    with pytest.raises(RemoteUnavailableError, match="timeout"):
        list(source.load_all())


def test_servicenow_unknown_sys_id_raises_remote_not_found(emulator: RunningEmulator) -> None:
    client = fault_client(emulator, [])

    record = client.request_json("GET", f"{TABLE}/{PREFIX}01", params={"sysparm_fields": "number"})
    with pytest.raises(RemoteNotFoundError, match="No Record found"):
        client.request_json("GET", f"{TABLE}/{'0' * 32}")

    assert record == {"result": {"number": "KB0010001"}}


def test_servicenow_knowledge_base_not_a_sys_id_rejected_at_construction(emulator: RunningEmulator) -> None:
    with pytest.raises(ValueError, match="sys_ids"):
        make_source(emulator, knowledge_base_sys_ids=["IT^ORworkflow_state=draft"])
