from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_cli_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "serve", "worker", "beat", "slack", "ingest", "ask", "demo"):
        assert command in result.output


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_cli_worker_and_beat_refuse_to_start_without_a_broker(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESKPILOT_REDIS__URL", raising=False)
    monkeypatch.delenv("DESKPILOT_CELERY__BROKER_URL", raising=False)
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = runner.invoke(app, [command])
    assert result.exit_code == 2
    assert "needs a broker" in result.output and "DESKPILOT_REDIS__URL" in result.output


def test_cli_db_upgrade_check_downgrade_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db_file = tmp_path / "cli.db"
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{db_file}")
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert db_file.exists()
    checked = runner.invoke(app, ["db", "check"])
    assert checked.exit_code == 0, checked.output
    assert "agree" in checked.output
    downgraded = runner.invoke(app, ["db", "downgrade", "base"])
    assert downgraded.exit_code == 0, downgraded.output


def test_cli_db_downgrade_requires_a_revision() -> None:
    result = runner.invoke(app, ["db", "downgrade"])
    assert result.exit_code != 0


def test_cli_start_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from services.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'langchain_core', 'celery')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == ""


def test_cli_version_prints_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("deskpilot ")


def test_cli_knowledge_commands_refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'empty.db'}")
    for argv in (
        ["ask", "how do I reset my password?"],
        ["ingest", "folder", "--path", str(tmp_path)],
        ["demo"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 1, argv
        assert "deskpilot db upgrade" in result.output


def test_cli_ingest_unknown_source_explains_the_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    result = runner.invoke(app, ["ingest", "sharepoint"])
    assert result.exit_code == 2
    assert "unknown source 'sharepoint'" in result.output


def test_cli_ingest_remote_source_missing_settings_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("DESKPILOT_SOURCES__WIKI__KIND", "confluence")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["ingest", "wiki"])
    assert result.exit_code == 1
    assert (
        "DESKPILOT_SOURCES__WIKI__URL" in result.output and "DESKPILOT_SOURCES__WIKI__TOKEN" in result.output
    )


def test_cli_slack_without_tokens_says_what_is_missing() -> None:
    result = runner.invoke(app, ["slack"])
    assert result.exit_code == 2 and "DESKPILOT_SLACK__APP_TOKEN" in result.output


def test_users_create_sets_an_argon2_password_and_roles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.admin.auth import verify_password
    from services.common.config import get_settings
    from services.common.db import build_engine, build_session_factory, session_scope
    from services.directory.models import Employee, Role

    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'users.db'}")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    short = runner.invoke(app, ["users", "create", "ann@example.com", "--name", "Ann", "--password", "short"])
    assert short.exit_code == 2 and "12 characters" in short.output
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "Ann@Example.com",
            "--name",
            "Ann",
            "--role",
            "admin",
            "--password",
            "a long passphrase",
        ],
    )
    assert created.exit_code == 0 and "roles admin, employee" in created.output
    assert "a long passphrase" not in created.output
    engine = build_engine(get_settings().database)
    with session_scope(build_session_factory(engine)) as db_session:
        ann = db_session.query(Employee).filter_by(email="ann@example.com").one()
        assert ann.password_hash and ann.password_hash.startswith("$argon2id$")
        assert verify_password(ann.password_hash, "a long passphrase") and Role.ADMIN in ann.roles
    engine.dispose()
