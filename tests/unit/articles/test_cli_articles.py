"""``deskpilot articles generate|list|approve|reject`` on a fresh database, with generated tickets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

runner = CliRunner()


def test_generate_list_approve_and_reject_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DESKPILOT_CHROMA__PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("DESKPILOT_KNOWLEDGE__BM25_PATH", str(tmp_path / "bm25"))
    monkeypatch.delenv("DESKPILOT_LLM__BASE_URL", raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    generated = runner.invoke(app, ["articles", "generate", "--fixtures", "3", "--json"])
    assert generated.exit_code == 0, generated.output
    report = json.loads(generated.output.strip().splitlines()[-1])
    assert report["tickets_considered"] > 30 and len(report["drafts_created"]) >= 8

    listed = json.loads(runner.invoke(app, ["articles", "list", "--json"]).output)
    assert {d["id"] for d in listed} == set(report["drafts_created"])
    assert all(d["generator"] == "extractive" and d["source_tickets"] for d in listed)

    first, second, third = listed[0]["id"], listed[1]["id"], listed[2]["id"]
    edited = tmp_path / "edited.md"
    edited.write_text("# Edited by IT\n\n## Resolution\n\n1. Restart the service.\n", encoding="utf-8")
    approved = runner.invoke(
        app,
        ["articles", "approve", str(first), "--as", "fixtures@deskpilot.local", "--body-file", str(edited)],
    )
    assert approved.exit_code == 0 and f"draft {first}: approved, article" in approved.output
    article_id = approved.output.strip().rsplit(" ", 1)[-1]
    merged = runner.invoke(
        app, ["articles", "merge", str(third), "--into", article_id, "--as", "fixtures@deskpilot.local"]
    )
    assert merged.exit_code == 0 and f"draft {third}: merged" in merged.output
    rejected = runner.invoke(
        app, ["articles", "reject", str(second), "--as", "fixtures@deskpilot.local", "--reason", "duplicate"]
    )
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    again = runner.invoke(
        app, ["articles", "reject", str(second), "--as", "fixtures@deskpilot.local", "--reason", "x"]
    )
    assert again.exit_code == 2 and "already rejected" in again.output
    gaps = runner.invoke(app, ["articles", "gaps", "--json"])
    assert gaps.exit_code == 0 and json.loads(gaps.output) == []  # no unanswered questions yet
    unknown = runner.invoke(app, ["articles", "approve", str(first), "--as", "nobody@example.com"])
    assert unknown.exit_code == 2 and "no employee" in unknown.output
