"""The Celery wiring on the embedded default (eager): the same task code the workers run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.automations.context import configure_automation_context
from services.automations.models import AutomationKind, AutomationState
from services.automations.tasks import retry_delay_s
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import TASK_EXPIRES_S, TASK_ROUTES, TaskName
from tests.conftest import make_settings
from tests.unit.automations.harness import World, build_world
from tests.unit.automations.test_runner import _FlakyTickets


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = build_world(tmp_path)
    create_celery_app(make_settings(tmp_path))  # no broker configured: eager
    configure_automation_context(world.ctx)
    yield world
    configure_automation_context(None)


def test_every_task_has_a_route_and_an_expiry() -> None:
    assert set(TASK_ROUTES) == set(TASK_EXPIRES_S) == set(TaskName)


def test_eager_run_executes_the_automation_and_tells_the_requester_once(world: World) -> None:
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Docking station flickers"})
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    assert world.run(run_id).state is AutomationState.SUCCEEDED
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)  # a duplicate send changes nothing
    assert len(world.notifier.told) == 1 and "Docking station" in world.notifier.told[0]["text"]


def test_retryable_outage_is_retried_by_the_task_until_it_recovers(world: World) -> None:
    world.ctx.tickets = _FlakyTickets(world.ctx.tickets, failures=2)  # type: ignore[assignment]
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Monitor has dead pixels"})
    enqueue(TaskName.RUN_AUTOMATION, run_id=run_id)
    run = world.run(run_id)
    assert run.state is AutomationState.SUCCEEDED and run.attempts == 3


def test_stalled_sweep_sends_pending_runs_again(world: World) -> None:
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Keyboard missing keys"})
    enqueue(TaskName.SWEEP_STALLED, older_than_s=0)
    assert world.run(run_id).state is AutomationState.SUCCEEDED


def test_retry_delay_grows_and_honours_retry_after() -> None:
    assert all(0 <= retry_delay_s(0, None) <= 2 for _ in range(50))
    assert all(retry_delay_s(3, None) <= 16 for _ in range(50))
    assert retry_delay_s(0, 30.0) == 30.0


def test_stalled_sweep_sends_a_lost_notice_again(world: World) -> None:
    run_id = world.new_run(AutomationKind.CREATE_TICKET, {"description": "Webcam not detected"})
    from services.automations.runner import execute_run

    execute_run(world.ctx, run_id, final_attempt=False)  # done, but its notify message was lost
    assert world.notifier.told == []
    enqueue(TaskName.SWEEP_STALLED, older_than_s=0)
    enqueue(TaskName.SWEEP_STALLED, older_than_s=0)
    assert len(world.notifier.told) == 1 and "Webcam" in world.notifier.told[0]["text"]
