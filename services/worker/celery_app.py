"""The Celery app factory: one configuration for workers, beat and the processes that enqueue.

On the embedded default (no broker) tasks run eagerly in the calling process with the same code;
in production Redis is the broker. Delivery is at-least-once (``acks_late``, ``reject_on_worker_lost``):
every task is written to be safe to run twice (ARCHITECTURE.md §6).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from celery import Celery
from celery.schedules import crontab

from services.common.config import Settings
from services.worker.observability import install_observability
from services.worker.probes import install_probes
from services.worker.queues import LONGEST_TASK_S, TASK_EXPIRES_S, TASK_ROUTES, Queue, TaskName

TASK_MODULES = (
    "services.automations.tasks",
    "services.tickets.tasks",
    "services.articles.tasks",
    "services.router.tasks",
    "services.reports.tasks",
    "services.kb.tasks",
    "services.worker.ping",
)


class ZonedCrontab(crontab):  # type: ignore[misc]  # celery is untyped
    """A crontab read in its own time zone (``zone``), not the app's (UTC): "08:00 in Paris" follows DST."""

    def __init__(
        self,
        minute: Any = "*",
        hour: Any = "*",
        day_of_week: Any = "*",
        day_of_month: Any = "*",
        month_of_year: Any = "*",
        *,
        zone: str = "UTC",
        **kwargs: Any,
    ) -> None:
        super().__init__(minute, hour, day_of_week, day_of_month, month_of_year, **kwargs)
        self.zone = zone

    @property
    def tz(self) -> tzinfo:
        """The schedule's time zone (celery reads it to match the fields and compute the next run)."""
        return ZoneInfo(self.zone)

    def __reduce__(self) -> tuple[Any, ...]:
        cls, fields, kwargs = super().__reduce__()
        return cls, fields, {**kwargs, "zone": self.zone}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.zone = state.pop("zone", "UTC")
        super().__setstate__(state)


def weekly_digest_entry(settings: Settings) -> dict[str, Any]:
    """The beat entry of the managers' weekly digest: Monday at the configured hour and time zone."""
    reports = settings.reports
    return {
        "task": TaskName.SEND_WEEKLY_DIGEST,
        "schedule": ZonedCrontab(
            minute=0, hour=reports.digest_hour, day_of_week="mon", zone=reports.timezone
        ),
        "options": {"expires": TASK_EXPIRES_S[TaskName.SEND_WEEKLY_DIGEST]},
    }


def create_celery_app(settings: Settings) -> Celery:
    """A configured Celery app; tasks are registered from ``TASK_MODULES``."""
    eager = settings.celery.eager(settings.redis)
    broker = settings.celery.effective_broker_url(settings.redis) or "memory://"
    if settings.celery.visibility_timeout_s <= LONGEST_TASK_S:
        raise ValueError("DESKPILOT_CELERY__VISIBILITY_TIMEOUT_S must exceed the longest task's time limit")
    app = Celery("deskpilot", broker=broker, backend=settings.celery.result_backend, set_as_current=True)
    app.conf.update(
        task_always_eager=eager,
        task_eager_propagates=False,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=settings.celery.result_backend is None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_time_limit=LONGEST_TASK_S,
        task_soft_time_limit=LONGEST_TASK_S - 30,
        task_routes=TASK_ROUTES,
        task_default_queue=Queue.AUTOMATIONS,
        task_create_missing_queues=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=1000,
        worker_hijack_root_logger=False,
        # Our root handler writes to the current sys.stderr; Celery's default redirect replaces it with
        # a proxy that logs back into the root logger, whose recursion guard then drops every record.
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.celery.visibility_timeout_s},
        result_backend_transport_options={"visibility_timeout": settings.celery.visibility_timeout_s},
        beat_schedule={
            "sweep-approvals": {
                "task": TaskName.SWEEP_APPROVALS,
                "schedule": crontab(minute="*/5"),
                "options": {"expires": TASK_EXPIRES_S[TaskName.SWEEP_APPROVALS]},
            },
            "sweep-stalled": {
                "task": TaskName.SWEEP_STALLED,
                "schedule": crontab(minute="*/2"),
                "options": {"expires": TASK_EXPIRES_S[TaskName.SWEEP_STALLED]},
            },
            "generate-articles": {
                "task": TaskName.GENERATE_ARTICLES,
                "schedule": crontab(hour=3, minute=17),
                "options": {"expires": TASK_EXPIRES_S[TaskName.GENERATE_ARTICLES]},
            },
            "sync-due-sources": {
                "task": TaskName.SYNC_DUE_SOURCES,
                "schedule": crontab(minute="*/5"),
                "options": {"expires": TASK_EXPIRES_S[TaskName.SYNC_DUE_SOURCES]},
            },
            "sync-tickets": {
                "task": TaskName.SYNC_TICKETS,
                "schedule": crontab(minute="*/5"),
                "options": {"expires": TASK_EXPIRES_S[TaskName.SYNC_TICKETS]},
            },
        },
    )
    if settings.reports.weekly_digest:
        app.conf.beat_schedule["weekly-digest"] = weekly_digest_entry(settings)
    app.set_default()  # current_app is per thread; listener threads must find this app too
    for module in TASK_MODULES:
        __import__(module)
    install_probes(app, settings.data_dir)  # heartbeat files behind `deskpilot probe worker|beat`
    install_observability(app, settings)  # task metrics, correlation ids in task logs, metrics port
    return app
