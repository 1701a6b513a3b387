from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.admin.app import create_app
from services.common.errors import NotFoundError
from services.common.logging import CorrelationIdFilter, build_log_handler
from services.common.migrate import build_alembic_config, head_revision, upgrade
from tests.conftest import make_settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_embedded_default_is_ready(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["detail"] == f"sqlite, schema {head_revision()}"
    assert body["checks"]["vector_store"]["ok"] is True
    assert "redis" not in body["checks"]


def test_readyz_unreachable_redis_reports_degraded(tmp_path: Path) -> None:
    port = _closed_port()
    settings = make_settings(tmp_path, redis={"url": f"redis://:hunter2@127.0.0.1:{port}/0"})
    upgrade(build_alembic_config(database_url=settings.database.url))
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "hunter2" not in response.text


def test_readyz_unreachable_chroma_server_reports_degraded_but_stays_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chroma={"host": "127.0.0.1", "port": _closed_port()})
    upgrade(build_alembic_config(database_url=settings.database.url))
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 200  # answers go on from BM25 meanwhile: stay in service
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["vector_store"]["ok"] is False
    assert body["checks"]["vector_store"]["required"] is False
    assert body["checks"]["database"]["ok"] is True


def test_readyz_broken_database_reports_degraded(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()  # SQLite cannot open a directory as its database file
    settings = make_settings(tmp_path, database={"url": f"sqlite:///{directory}"})
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_metrics_exposes_request_counters_by_route_template(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'deskpilot_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "deskpilot_http_request_duration_seconds_bucket" in text


def test_correlation_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert given.headers["x-correlation-id"] == "req-42"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert generated.headers["x-correlation-id"] != "bad id with spaces\n"
    assert len(generated.headers["x-correlation-id"]) == 32


def test_request_log_line_is_json_with_correlation_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(CorrelationIdFilter())  # as our handler does: stamps the id bound at emit time
    with caplog.at_level(logging.INFO, logger="deskpilot.http"):
        client.get("/healthz", headers={"X-Correlation-ID": "corr-7"})
    records = [r for r in caplog.records if r.name == "deskpilot.http"]
    assert len(records) == 1
    assert records[0].correlation_id == "corr-7"  # type: ignore[attr-defined]
    assert records[0].status == 200  # type: ignore[attr-defined]
    line = build_log_handler(json_format=True).format(records[0])
    assert json.loads(line)["correlation_id"] == "corr-7"


def test_home_page_describes_profile_without_secrets(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        llm={"base_url": "http://127.0.0.1:1/v1", "api_key": "sk-top-secret"},
        slack={"bot_token": "xoxb-s"},
    )
    with TestClient(create_app(settings)) as test_client:
        page = test_client.get("/")
    assert page.status_code == 200
    assert "Deskpilot is running" in page.text
    assert "SQLite (embedded)" in page.text
    assert "OpenAI-compatible endpoint" in page.text
    assert "sk-top-secret" not in page.text
    assert "xoxb-s" not in page.text


def test_domain_error_maps_to_http_status_with_correlation_id(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.get("/boom")
    def boom() -> None:
        raise NotFoundError("article 7 does not exist")

    with TestClient(app) as test_client:
        response = test_client.get("/boom", headers={"X-Correlation-ID": "c-1"})
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "article 7 does not exist",
        "correlation_id": "c-1",
    }


def test_readyz_unmigrated_database_is_not_ready_and_says_what_to_run(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        response = test_client.get("/readyz")
        page = test_client.get("/")
    assert response.status_code == 503
    assert "deskpilot db upgrade" in response.json()["checks"]["database"]["detail"]
    assert page.status_code == 200 and "not migrated" in page.text
