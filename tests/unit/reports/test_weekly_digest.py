"""The weekly manager digest against the Slack emulator: one DM per manager and week with the week's
figures, nothing on a second run, Slack 429/5xx retried without a second DM, and the beat entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.bot.mrkdwn import escape
from services.common.config import Settings
from services.common.db import build_engine, build_session_factory, session_scope
from services.common.migrate import build_alembic_config, upgrade
from services.directory.models import Employee, EmployeeRole, Role
from services.reports.digest import last_full_week, send_weekly_digest
from services.reports.history import generate_history
from services.reports.models import DeliveryState, DigestDelivery
from services.reports.pdf import money, num, pct
from services.reports.roi import build_roi_report
from services.reports.tasks import DigestContext, configure_digest_context
from services.worker.celery_app import create_celery_app
from services.worker.dispatch import enqueue
from services.worker.queues import TASK_ROUTES, Queue, TaskName
from tests.conftest import make_settings
from tests.emulators.harness import RunningEmulator, serve_emulator
from tests.emulators.slack_web_api import build_app as build_slack_emulator

TOKEN = "xoxb-digest-token"
TEAM = "T0DIGEST01"
WEEK = date(2026, 11, 16)  # the last full week of the history (a Monday)
HISTORY_END = datetime(2026, 11, 23, tzinfo=UTC)
PUBLIC_URL = "https://deskpilot.example"
SLACK_USERS = {
    "U0MGR00001": {"name": "mo", "real_name": "Mo Boss"},
    "U0MGR00002": {"name": "zoe", "real_name": "Zoë Brønd"},
    "U0MGR00003": {"name": "ina", "real_name": "Ina Active-Not"},
    "U0EMP00001": {"name": "eve", "real_name": "Eve Staff"},
}


@dataclass
class World:
    sessions: sessionmaker[Session]
    slack: RunningEmulator
    client: WebClient
    managers: dict[str, int]  # Slack user id -> employee id of the managers who must get the digest

    def dm_posts(self) -> dict[str, list[dict[str, Any]]]:
        """Messages delivered per DM channel, keyed by the Slack user the channel belongs to."""
        state = self.slack_state()
        by_channel = {channel: user for user, channel in state["dms"].items()}
        return {by_channel.get(c, c): ms for c, ms in state["messages"].items() if ms}

    def slack_state(self) -> dict[str, Any]:
        import httpx

        return dict(httpx.get(f"{self.slack.base_url}/_state", timeout=5).json())


def _person(email: str, slack_user: str | None, *, manager: bool, active: bool = True) -> Employee:
    person = Employee(
        email=email,
        display_name=email.split("@")[0],
        slack_team_id=TEAM if slack_user else None,
        slack_user_id=slack_user,
        is_active=active,
    )
    if manager:
        person.role_grants.append(EmployeeRole(role=Role.MANAGER))
    return person


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(build_alembic_config(database_url=settings.database.url))
    engine = build_engine(settings.database)
    sessions = build_session_factory(engine)
    generate_history(sessions, conversations=900, tickets=300, weeks=3, end=HISTORY_END)
    with session_scope(sessions) as db_session:
        people = [
            _person("mo@example.com", "U0MGR00001", manager=True),
            _person("zoe@example.com", "U0MGR00002", manager=True),
            _person("ina@example.com", "U0MGR00003", manager=True, active=False),
            _person("nos@example.com", None, manager=True),  # not in Slack
            _person("eve@example.com", "U0EMP00001", manager=False),
        ]
        db_session.add_all(people)
        db_session.flush()
        managers = {"U0MGR00001": people[0].id, "U0MGR00002": people[1].id}
    slack_app, slack_state = build_slack_emulator(bot_token=TOKEN, team_id=TEAM, users=SLACK_USERS)
    with serve_emulator(slack_app, slack_state) as slack:
        client = WebClient(token=TOKEN, base_url=f"{slack.base_url}/api/")
        create_celery_app(settings)  # no broker: eager, the same task code
        configure_digest_context(DigestContext(sessions, lambda _team: client, PUBLIC_URL))
        yield World(sessions, slack, client, managers)
        configure_digest_context(None)
    engine.dispose()


def _sent_rows(world: World) -> list[tuple[int, DeliveryState]]:
    with session_scope(world.sessions) as db_session:
        rows = db_session.execute(
            select(DigestDelivery.employee_id, DigestDelivery.state).where(DigestDelivery.week_start == WEEK)
        ).all()
    return sorted((employee_id, state) for employee_id, state in rows)


def _expected(world: World) -> dict[str, str]:
    start = datetime(2026, 11, 16, tzinfo=UTC)
    with session_scope(world.sessions) as db_session:
        week = build_roi_report(db_session, start=start, end=start + timedelta(weeks=1))
        before = build_roi_report(db_session, start=start - timedelta(weeks=1), end=start)
    t, p = week.totals, before.totals
    assert t.conversations > 0 and t.deflection_rate is not None and len(week.top_unanswered) >= 4
    points = (t.deflection_rate - (p.deflection_rate or 0)) * 100
    return {
        "conversations": f"*Conversations*\n{t.conversations} (",
        "deflection": f"*Deflection rate*\n{pct(t.deflection_rate)} ({points:+.1f} pts vs the week before)",
        "automation": f"*Automation success*\n{pct(t.automation_success_rate)}",
        "hours": f"*Agent hours saved*\n{num(t.agent_hours_saved)}",
        "money": f"*Money saved*\nUSD {money(t.money_saved)}",
        "satisfaction": f"*Satisfaction*\n{pct(t.satisfaction)}",
        **{f"q{n}": f"{n}. {escape(q.text)} ({q.count}x)" for n, q in enumerate(week.top_unanswered[:3], 1)},
        "link": f"{PUBLIC_URL}/reports/roi?start=2026-11-16&end=2026-11-22",
        "fourth": f"4. {escape(week.top_unanswered[3].text)}",
    }


def test_each_manager_in_slack_gets_exactly_one_dm_with_the_weeks_figures(world: World) -> None:
    enqueue(TaskName.SEND_WEEKLY_DIGEST, week="2026-11-19")  # any day of the week

    posts = world.dm_posts()
    assert sorted(posts) == sorted(world.managers)  # not the inactive one, the non-manager, nor Slack-less
    expected = _expected(world)
    fourth = expected.pop("fourth")
    for user in world.managers:
        assert len(posts[user]) == 1
        post = posts[user][0]
        rendered = json.dumps(post["blocks"], ensure_ascii=False)
        for part in expected.values():
            assert json.dumps(part, ensure_ascii=False)[1:-1] in rendered, part
        assert fourth not in rendered  # the top 3 only
        assert "week of 2026-11-16 to 2026-11-22" in post["text"] and expected["link"] in post["text"]
    assert _sent_rows(world) == sorted((eid, DeliveryState.SENT) for eid in world.managers.values())


def test_running_again_for_the_same_week_sends_nothing(world: World) -> None:
    enqueue(TaskName.SEND_WEEKLY_DIGEST, week=WEEK.isoformat())
    world.slack.reset()

    enqueue(TaskName.SEND_WEEKLY_DIGEST, week=WEEK.isoformat())  # beat firing twice
    outcome = send_weekly_digest(  # a second worker, another claim
        world.sessions, lambda _team: world.client, week_start=WEEK, public_url=PUBLIC_URL, claim="other"
    )

    assert world.slack.calls("/api/chat.postMessage") == []
    assert sorted(outcome.already_done) == sorted(world.managers.values()) and outcome.sent == []
    assert all(len(messages) == 1 for messages in world.dm_posts().values())


class _FaultAfterFirstPost(WebClient):
    """A client whose second ``chat.postMessage`` meets a fault injected into the emulator."""

    def __init__(self, emulator: RunningEmulator, fault: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emulator, self.fault, self.posts = emulator, fault, 0

    def chat_postMessage(self, **kwargs: Any) -> Any:  # noqa: N802 - slack_sdk's name
        response = super().chat_postMessage(**kwargs)
        self.posts += 1
        if self.posts == 1:
            self.emulator.inject(path_prefix="/api/chat.postMessage", times=1, **self.fault)
        return response


@pytest.mark.parametrize(
    "fault", [{"status": 429, "retry_after": "0"}, {"status": 503}], ids=["rate-limited", "server-error"]
)
def test_a_slack_fault_mid_way_is_retried_by_the_task_and_nobody_gets_two(
    world: World, fault: dict[str, Any]
) -> None:
    flaky = _FaultAfterFirstPost(world.slack, fault, token=TOKEN, base_url=f"{world.slack.base_url}/api/")
    configure_digest_context(DigestContext(world.sessions, lambda _team: flaky, PUBLIC_URL))

    enqueue(TaskName.SEND_WEEKLY_DIGEST, week=WEEK.isoformat())

    posted = world.slack.calls("/api/chat.postMessage")
    assert len(posted) == 3  # first manager, the fault, the retry for the second manager
    posts = world.dm_posts()
    assert sorted(posts) == sorted(world.managers) and all(len(ms) == 1 for ms in posts.values())
    assert _sent_rows(world) == sorted((eid, DeliveryState.SENT) for eid in world.managers.values())


def test_a_rate_limited_pass_reports_who_is_still_owed_and_the_next_pass_sends_only_to_them(
    world: World,
) -> None:
    flaky = _FaultAfterFirstPost(
        world.slack, {"status": 429, "retry_after": "7"}, token=TOKEN, base_url=f"{world.slack.base_url}/api/"
    )

    first = send_weekly_digest(
        world.sessions, lambda _team: flaky, week_start=WEEK, public_url=PUBLIC_URL, claim="a"
    )
    second = send_weekly_digest(
        world.sessions, lambda _team: world.client, week_start=WEEK, public_url=PUBLIC_URL, claim="b"
    )

    mo, zoe = world.managers["U0MGR00001"], world.managers["U0MGR00002"]
    assert first.sent == [mo] and first.pending == [zoe] and first.retry_after_s == 7.0
    assert second.already_done == [mo] and second.sent == [zoe] and not second.retry_needed
    assert all(len(ms) == 1 for ms in world.dm_posts().values())


def test_a_manager_unknown_to_slack_is_reported_and_the_others_still_get_theirs(world: World) -> None:
    with session_scope(world.sessions) as db_session:
        db_session.add(_person("gone@example.com", "U0GONE0001", manager=True))

    outcome = send_weekly_digest(
        world.sessions, lambda _team: world.client, week_start=WEEK, public_url=PUBLIC_URL, claim="c"
    )

    assert list(outcome.failed.values()) == ["user_not_found"] and not outcome.retry_needed
    assert sorted(outcome.sent) == sorted(world.managers.values())
    assert len(_sent_rows(world)) == 2  # the failed one holds no claim: a later pass tries again


def test_dry_run_builds_the_digest_and_posts_nothing(world: World) -> None:
    outcome = send_weekly_digest(
        world.sessions,
        lambda _team: world.client,
        week_start=WEEK,
        public_url=PUBLIC_URL,
        claim="d",
        dry_run=True,
    )

    assert sorted(r.employee_id for r in outcome.recipients) == sorted(world.managers.values())
    assert "Deflection rate" in outcome.message.text and world.slack.calls("/api/") == []
    assert _sent_rows(world) == []


def test_last_full_week_is_read_in_the_configured_time_zone() -> None:
    monday_morning_utc = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert last_full_week(monday_morning_utc) == date(2026, 11, 16)
    sunday_evening_utc = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # already Monday 09:00 in Auckland
    assert last_full_week(sunday_evening_utc, "Pacific/Auckland") == date(2026, 11, 16)
    assert last_full_week(sunday_evening_utc, "UTC") == date(2026, 11, 9)


def test_beat_sends_the_digest_monday_8_local_time_through_a_real_queue(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path, reports={"timezone": "Europe/Paris"})
    app = create_celery_app(settings)

    entry = app.conf.beat_schedule["weekly-digest"]
    assert entry["task"] == TaskName.SEND_WEEKLY_DIGEST and entry["task"] in app.tasks
    assert TASK_ROUTES[entry["task"]]["queue"] in set(Queue) and entry["options"]["expires"] > 0
    schedule = entry["schedule"]
    schedule.app = app
    last_run, delta, _ = schedule.remaining_delta(datetime(2026, 6, 29, 6, 0, tzinfo=UTC))
    assert (last_run + delta).astimezone(UTC) == datetime(2026, 7, 6, 6, 0, tzinfo=UTC)  # 08:00 CEST
    last_run, delta, _ = schedule.remaining_delta(datetime(2026, 11, 16, 7, 0, tzinfo=UTC))
    assert (last_run + delta).astimezone(UTC) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 CET

    disabled = create_celery_app(make_settings(tmp_path, reports={"weekly_digest": False}))
    assert "weekly-digest" not in disabled.conf.beat_schedule
