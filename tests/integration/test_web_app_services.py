from __future__ import annotations

from pathlib import Path

import redis
from fastapi.testclient import TestClient

from services.admin.app import create_app
from services.common.health import check_redis
from services.common.migrate import head_revision
from tests.conftest import make_settings


def test_readyz_on_postgres_and_redis_is_ready(tmp_path: Path, postgres_url: str, redis_url: str) -> None:
    settings = make_settings(tmp_path, database={"url": postgres_url}, redis={"url": redis_url})
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["detail"] == f"postgresql, schema {head_revision()}"
    assert checks["redis"]["ok"] is True
    assert checks["redis"]["detail"].startswith("redis ")


def test_readyz_reports_redis_outage_while_database_stays_up(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path, database={"url": postgres_url}, redis={"url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is False


def test_check_redis_reads_server_version(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set("deskpilot:probe", "1")
        assert client.get("deskpilot:probe") == b"1"
    finally:
        client.close()
    assert check_redis(redis_url, timeout_s=2).startswith("redis 7")
