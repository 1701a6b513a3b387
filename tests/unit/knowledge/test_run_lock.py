"""Ingestion runs of one source are serialised (SQLite: a file lock beside the database)."""

from __future__ import annotations

from tests.run_lock_checks import check_runs_of_one_source_are_serialised
from tests.unit.knowledge.conftest import KnowledgeEnv


def test_runs_of_one_source_wait_for_each_other_and_others_do_not(knowledge_env: KnowledgeEnv) -> None:
    check_runs_of_one_source_are_serialised(knowledge_env.session_factory)
