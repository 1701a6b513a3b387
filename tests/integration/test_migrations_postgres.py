from __future__ import annotations

from sqlalchemy import create_engine, text

from services.common.migrate import build_alembic_config, check
from tests.integration.conftest import temporary_postgres_database
from tests.migration_checks import assert_upgrade_downgrade_upgrade_round_trips


def test_migrations_upgrade_downgrade_upgrade_without_drift_on_postgres(postgres_url: str) -> None:
    with temporary_postgres_database() as url:
        assert_upgrade_downgrade_upgrade_round_trips(url)


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
