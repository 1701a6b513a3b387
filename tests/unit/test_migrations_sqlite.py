from __future__ import annotations

from pathlib import Path

from tests.migration_checks import assert_upgrade_downgrade_upgrade_round_trips


def test_migrations_upgrade_downgrade_upgrade_without_drift_on_sqlite(tmp_path: Path) -> None:
    assert_upgrade_downgrade_upgrade_round_trips(f"sqlite:///{tmp_path / 'migrations.db'}")
