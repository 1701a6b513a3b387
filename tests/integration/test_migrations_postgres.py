from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from services import models
from services.common.migrate import build_alembic_config, check, downgrade, upgrade
from tests.integration.conftest import temporary_postgres_database
from tests.services_probe import probe_postgres


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_upgrade_downgrade_upgrade_on_postgres(postgres_url: str) -> None:
    assert probe_postgres().ok
    with temporary_postgres_database() as url:
        config = build_alembic_config(database_url=url)
        upgrade(config)
        assert _tables(url) == set(models.Base.metadata.tables)
        downgrade(config, "base")
        assert _tables(url) == set()
        upgrade(config)
        assert _tables(url) == set(models.Base.metadata.tables)
        check(config)


def test_migrations_match_models_on_postgres(postgres_url: str) -> None:
    check(build_alembic_config(database_url=postgres_url))


def test_migrations_use_jsonb_and_timestamptz_on_postgres(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            types: dict[str, str] = dict(
                conn.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'messages' AND column_name IN ('citations', 'created_at')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert types == {"citations": "jsonb", "created_at": "timestamp with time zone"}
