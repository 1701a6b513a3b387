"""A lost database connection during a web request: 503, Retry-After and a clear message, not a bare 500.

The error is raised from a route added to the real app, as SQLAlchemy raises it around psycopg; the
PostgreSQL restart itself is exercised in tests/integration/test_postgres_restart.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from services.admin.app import DATABASE_UNAVAILABLE, create_app
from tests.conftest import make_settings


def _raise(orig: Exception) -> None:
    error = sa_exc.DBAPIError.instance("SELECT 1", {}, orig, Exception)
    raise error from orig


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path))

    def lost() -> None:
        _raise(psycopg.OperationalError("server closed the connection unexpectedly"))

    def broken() -> None:
        _raise(psycopg.errors.UndefinedTable('relation "x" does not exist'))

    app.add_api_route("/_test/lost", lost, methods=["POST"])
    app.add_api_route("/_test/broken", broken, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_lost_connection_is_a_503_the_chat_can_show(client: TestClient) -> None:
    response = client.post("/_test/lost", headers={"accept": "application/json", "x-request-id": "abc"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    body = response.json()
    assert body["error"] == "database_unavailable" and body["message"] == DATABASE_UNAVAILABLE


def test_a_browser_gets_a_short_page_with_an_escaped_reference(client: TestClient) -> None:
    response = client.post(
        "/_test/lost", headers={"accept": "text/html", "x-request-id": "<script>x</script>"}
    )
    assert response.status_code == 503
    assert DATABASE_UNAVAILABLE in response.text
    assert "<script>" not in response.text


def test_other_database_errors_stay_500_without_details(client: TestClient) -> None:
    response = client.post("/_test/broken", headers={"accept": "application/json"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "UndefinedTable" not in response.text and "does not exist" not in response.text
