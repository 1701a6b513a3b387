"""The manager ROI report over a chosen period (by week, department and intent), its CSV and PDF exports."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.admin.auth import SignedInUser, csrf_token, require_roles
from services.audit import repo as audit
from services.common.db import session_scope
from services.directory.models import Role
from services.reports.pdf import roi_report_pdf
from services.reports.roi import RoiAssumptions, RoiReport, build_roi_report, to_csv

router = APIRouter(tags=["reports"])
Manager = Annotated[SignedInUser, Depends(require_roles(Role.MANAGER))]
DEFAULT_WEEKS = 12


def _period(start: date | None, end: date | None) -> tuple[datetime, datetime]:
    today = datetime.now(UTC).date()
    end_day = end or today
    start_day = start or end_day - timedelta(weeks=DEFAULT_WEEKS)
    if start_day > end_day or (end_day - start_day).days > 731:
        raise HTTPException(status_code=400, detail="Choose a start before the end, at most two years apart.")
    return (
        datetime.combine(start_day, time.min, tzinfo=UTC),
        datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _report(request: Request, start: date | None, end: date | None) -> RoiReport:
    begin, finish = _period(start, end)
    assumptions = getattr(request.app.state, "roi_assumptions", None) or RoiAssumptions()
    with session_scope(request.app.state.session_factory) as db_session:
        return build_roi_report(db_session, start=begin, end=finish, assumptions=assumptions)


def _export(request: Request, user: SignedInUser, report: RoiReport, fmt: str) -> str:
    """Audit an export of ``report`` in ``fmt``; returns the download's file name."""
    with session_scope(request.app.state.session_factory) as db_session:
        audit.record(
            db_session,
            action="report.exported",
            target_type="report",
            target_id="roi",
            actor_id=user.id,
            actor_label=user.email,
            details={"format": fmt, "start": report.start.isoformat(), "end": report.end.isoformat()},
        )
    return f"deskpilot-roi-{report.start.date()}-{(report.end - timedelta(days=1)).date()}.{fmt}"


@router.get("/reports/roi", response_class=HTMLResponse)
def roi_page(
    request: Request,
    user: Manager,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> HTMLResponse:
    """The report, with its definitions and the sources of its cost assumptions."""
    report = _report(request, start, end)
    weekly_max = max((row.conversations for row in report.by_week), default=0) or 1
    context = {
        "user": user,
        "csrf_token": csrf_token(request),
        "report": report,
        "weekly_max": weekly_max,
        "start": report.start.date().isoformat(),
        "end": (report.end - timedelta(days=1)).date().isoformat(),
    }
    return request.app.state.templates.TemplateResponse(request, "roi.html", context)  # type: ignore[no-any-return]


@router.get("/reports/roi.csv")
def roi_csv(
    request: Request,
    user: Manager,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    """The same report as CSV (one section per breakdown); downloads are audited."""
    report = _report(request, start, end)
    name = _export(request, user, report, "csv")
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/reports/roi.pdf")
def roi_pdf(
    request: Request,
    user: Manager,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    """The same report as PDF (figures, weekly chart, breakdowns, definitions, sources); audited."""
    report = _report(request, start, end)
    name = _export(request, user, report, "pdf")
    return Response(
        roi_report_pdf(report),
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
