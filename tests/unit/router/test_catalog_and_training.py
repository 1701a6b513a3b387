from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors.fakes.embedder import HashingEmbedder
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.router.catalog import DEFAULT_CATALOG, CatalogError, load_catalog
from services.router.model_store import ActiveIntentModel, NoIntentModelError
from services.router.models import Intent, IntentModelVersion, TrainingUtterance, UtteranceSource
from services.router.repo import sync_catalog
from services.router.routes import Route
from services.router.training import NothingToTrainError, intents_train_flow
from tests.conftest import make_settings

SMALL = """
version: 1
intents:
  - name: vpn_issue
    description: VPN problems
    route: answer
    utterances: [vpn keeps dropping, globalprotect disconnects, vpn is down, vpn fails at the hotel]
  - name: software_request
    description: Ask for software
    route: automation
    automation_flow: software_access
    slots: [{name: software, kind: software, required: true, prompt: "Which software?"}]
    utterances: [i need adobe acrobat, install figma please, request a visio licence, can i get miro]
  - name: greeting
    route: smalltalk
    utterances: [hi, hello, good morning, hey there]
out_of_scope: [when is payday, book a flight, tell me a joke, is the canteen open]
"""


@pytest.fixture
def session_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    settings = make_settings(tmp_path)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    yield build_session_factory(engine)
    engine.dispose()


def _catalog(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "intents.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_is_valid_with_25_intents_of_40_utterances() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    assert len(catalog.intents) >= 25
    assert all(len(intent.utterances) >= 40 for intent in catalog.intents)
    routes = {intent.route for intent in catalog.intents}
    assert routes == {Route.ANSWER, Route.AUTOMATION, Route.TICKET_STATUS, Route.HANDOFF, Route.SMALLTALK}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("version: 1\nintents:\n  - {name: x, route: automation, utterances: [a]}\n", "automation_flow"),
        ("version: 1\nintents:\n  - {name: x, route: teleport, utterances: [a]}\n", "intents.0.route"),
        ("version: 1\nintents:\n  - {name: x, route: answer, utterances: []}\n", "intents.0.utterances"),
        (
            "version: 1\nintents:\n  - {name: x, route: answer, utterances: [a]}\n"
            "  - {name: x, route: answer, utterances: [b]}\n",
            "duplicate intent names",
        ),
        ("version: 1\nintents: [\n", "intents.yaml"),
    ],
)
def test_catalog_errors_name_the_problem(tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_catalog(tmp_path, yaml_text))


def test_sync_catalog_is_idempotent_and_keeps_admin_utterances(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    catalog = load_catalog(_catalog(tmp_path))
    with session_scope(session_factory) as db_session:
        first = sync_catalog(db_session=db_session, catalog=catalog)
        vpn = db_session.scalars(select(Intent).where(Intent.name == "vpn_issue")).one()
        vpn.utterances.append(TrainingUtterance(text="anyconnect is broken", source=UtteranceSource.ADMIN))
    with session_scope(session_factory) as db_session:
        second = sync_catalog(db_session=db_session, catalog=catalog)
        texts = set(db_session.scalars(select(TrainingUtterance.text)))
        oos = db_session.scalars(select(Intent).where(Intent.name == "out_of_scope")).one()
    assert (first.intents_added, first.utterances_added) == (4, 16)
    assert (second.intents_added, second.intents_updated, second.utterances_added) == (0, 0, 0)
    assert "anyconnect is broken" in texts and oos.route is Route.OUT_OF_SCOPE


def test_train_flow_versions_and_hot_swaps_the_active_model(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    embedder = HashingEmbedder()
    store = ActiveIntentModel(session_factory, embedder=embedder, refresh_s=0.0)
    with pytest.raises(NoIntentModelError):
        store.get()
    with pytest.raises(NothingToTrainError):
        intents_train_flow(session_factory, embedder=embedder, model_dir=tmp_path / "models")
    with session_scope(session_factory) as db_session:
        sync_catalog(db_session=db_session, catalog=load_catalog(_catalog(tmp_path)))
    first, report = intents_train_flow(session_factory, embedder=embedder, model_dir=tmp_path / "models")
    assert report.utterances == 16 and Path(first.artifact_path).exists()
    model_v1 = store.get()
    assert model_v1.version == first.version
    assert model_v1.predict("vpn dropping again").ranking[0].intent == "vpn_issue"

    with session_scope(session_factory) as db_session:
        greeting = db_session.scalars(select(Intent).where(Intent.name == "greeting")).one()
        greeting.utterances.append(TrainingUtterance(text="yo deskpilot", source=UtteranceSource.ADMIN))
    second, _ = intents_train_flow(session_factory, embedder=embedder, model_dir=tmp_path / "models")
    assert second.version != first.version
    assert store.get().version == second.version  # swapped without a restart
    with session_scope(session_factory) as db_session:
        active = db_session.scalars(
            select(IntentModelVersion).where(IntentModelVersion.is_active.is_(True))
        ).all()
        assert [row.version for row in active] == [second.version]


def test_a_process_without_the_model_file_loads_the_active_model_from_the_database(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    """Another pod has no shared disk: it fetches the artifact kept in the database."""
    embedder = HashingEmbedder()
    with session_scope(session_factory) as db_session:
        sync_catalog(db_session=db_session, catalog=load_catalog(_catalog(tmp_path)))
    trained, _ = intents_train_flow(session_factory, embedder=embedder, model_dir=tmp_path / "pod-a")
    Path(trained.artifact_path).unlink()  # this "pod" never saw pod A's disk
    elsewhere = ActiveIntentModel(session_factory, embedder=embedder, refresh_s=0.0).get()
    assert elsewhere.version == trained.version
    assert elsewhere.predict("vpn dropping again").ranking[0].intent == "vpn_issue"
    assert Path(trained.artifact_path).exists()  # cached locally for the next load

    with session_scope(session_factory) as db_session:
        db_session.execute(update(IntentModelVersion).values(artifact=None))
    Path(trained.artifact_path).unlink()
    with pytest.raises(NoIntentModelError, match="neither"):
        ActiveIntentModel(session_factory, embedder=embedder, refresh_s=0.0).get()
