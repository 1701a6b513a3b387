"""Liveness, readiness and Prometheus metrics endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common.health import run_readiness_checks

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving requests."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the database and Redis (if configured) answer, else 503.

    The vector store is reported too; while it is down the status is "degraded" but still 200, because
    answers go on from BM25 (see ``services.common.health``).
    """
    state = request.app.state
    readiness = run_readiness_checks(
        state.readiness_checks,
        timeout_s=state.settings.web.readiness_timeout_s,
        executor=state.check_executor,
    )
    return JSONResponse(readiness.as_dict(), status_code=200 if readiness.ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
