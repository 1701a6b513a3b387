"""Queue and task names (constants, never strings scattered in code) and where each task goes."""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """Celery queues. Automations talk to slow vendors; notifications are short Slack posts."""

    AUTOMATIONS = "deskpilot.automations"
    NOTIFICATIONS = "deskpilot.notifications"
    PERIODIC = "deskpilot.periodic"


class TaskName(StrEnum):
    """Registered task names (stable across refactors: queued messages refer to them)."""

    RUN_AUTOMATION = "deskpilot.automations.run"
    NOTIFY_REQUESTER = "deskpilot.automations.notify"
    SWEEP_APPROVALS = "deskpilot.automations.sweep_approvals"
    SWEEP_STALLED = "deskpilot.automations.sweep_stalled"
    SYNC_TICKETS = "deskpilot.tickets.sync"
    APPLY_TICKET_STATUS = "deskpilot.tickets.apply_status"
    GENERATE_ARTICLES = "deskpilot.articles.generate"
    TRAIN_INTENTS = "deskpilot.intents.train"
    SEND_WEEKLY_DIGEST = "deskpilot.reports.send_weekly_digest"
    SYNC_SOURCE = "deskpilot.kb.sync_source"
    SYNC_DUE_SOURCES = "deskpilot.kb.sync_due_sources"
    PING = "deskpilot.worker.ping"


TASK_ROUTES: dict[str, dict[str, str]] = {
    TaskName.RUN_AUTOMATION: {"queue": Queue.AUTOMATIONS},
    TaskName.APPLY_TICKET_STATUS: {"queue": Queue.AUTOMATIONS},
    TaskName.NOTIFY_REQUESTER: {"queue": Queue.NOTIFICATIONS},
    TaskName.SWEEP_APPROVALS: {"queue": Queue.PERIODIC},
    TaskName.SWEEP_STALLED: {"queue": Queue.PERIODIC},
    TaskName.SYNC_TICKETS: {"queue": Queue.PERIODIC},
    TaskName.GENERATE_ARTICLES: {"queue": Queue.PERIODIC},
    TaskName.TRAIN_INTENTS: {"queue": Queue.PERIODIC},
    TaskName.SEND_WEEKLY_DIGEST: {"queue": Queue.PERIODIC},
    TaskName.SYNC_SOURCE: {"queue": Queue.PERIODIC},
    TaskName.SYNC_DUE_SOURCES: {"queue": Queue.PERIODIC},
    TaskName.PING: {"queue": Queue.AUTOMATIONS},
}

TASK_EXPIRES_S: dict[str, int] = {
    TaskName.RUN_AUTOMATION: 6 * 3600,
    TaskName.APPLY_TICKET_STATUS: 6 * 3600,
    TaskName.NOTIFY_REQUESTER: 6 * 3600,
    TaskName.SWEEP_APPROVALS: 10 * 60,
    TaskName.SWEEP_STALLED: 10 * 60,
    TaskName.SYNC_TICKETS: 10 * 60,
    TaskName.GENERATE_ARTICLES: 3600,
    TaskName.TRAIN_INTENTS: 30 * 60,
    TaskName.SEND_WEEKLY_DIGEST: 6 * 3600,
    TaskName.SYNC_SOURCE: 3600,
    TaskName.SYNC_DUE_SOURCES: 5 * 60,
    TaskName.PING: 60,
}
"""``expires=`` for every send: a message older than this is dropped, never run late.

A dropped automation is not lost: its row stays PENDING and the stalled-run sweep enqueues it again."""

LONGEST_TASK_S = 300
"""The hard time limit of any task; the broker's visibility timeout must be longer (Settings checks it)."""
