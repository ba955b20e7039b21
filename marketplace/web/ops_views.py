"""Operators' endpoints: `/healthz` (the process answers), `/readyz` (it can serve: database, index, keys)
and `/metrics` (Prometheus; behind a bearer token outside development)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from marketplace.grading.outbox import job_counts
from marketplace.metrics import exposition
from marketplace.store.database import database_problem
from marketplace.web.services import services

READY_ADVICE = {
    "database": "Check that the database server is running and reachable, then run `marketplace db upgrade`.",
    "index": "Run `marketplace index` (or wait: the index is being rebuilt).",
    "keys": "Restore the MARKETPLACE_SECRET_KEY the keys were made with, or run `marketplace keys rotate` twice.",
}


async def healthz(request: Request) -> Response:
    """GET /healthz: alive. Nothing but the event loop is checked, so a load balancer that restarts dead
    processes does not restart live ones whose database is away (that is /readyz's business)."""
    return JSONResponse({"ok": True}, headers={"Cache-Control": "no-store"})


def readiness(request: Request) -> dict[str, Any]:
    """Each check with its problem (None when fine), blocking."""
    app = services(request)
    checks: dict[str, str | None] = {"database": database_problem(app.engine, app.settings.database_url)}
    try:
        documents = app.catalog.document_count()
        checks["index"] = None if documents > 0 else "The catalog index is empty."
    except Exception as error:  # noqa: BLE001 - a missing or broken index is a state to report
        checks["index"] = f"The catalog index is not loaded ({type(error).__name__})."
    checks["keys"] = app.signing_keys.problem(app.sessions) if checks["database"] is None else (
        "Not checked: the database is not reachable.")
    return {name: {"ok": problem is None, **({"problem": problem, "advice": READY_ADVICE[name]} if problem else {})}
            for name, problem in checks.items()}


async def readyz(request: Request) -> Response:
    """GET /readyz: 200 when every check passes, else 503 naming what is wrong and what to do."""
    checks = await run_in_threadpool(readiness, request)
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"ok": ready, "checks": checks}, status_code=200 if ready else 503,
                        headers={"Cache-Control": "no-store"})


def _authorized(request: Request) -> bool:
    settings = services(request).settings
    if settings.environment == "development":
        return True
    expected = settings.metrics_token
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if not expected:
        return False
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


async def metrics_page(request: Request) -> Response:
    """GET /metrics: the Prometheus text format; grade jobs by state are counted at scrape time."""
    if not _authorized(request):
        message = ("Metrics need `Authorization: Bearer <MARKETPLACE_METRICS_TOKEN>`."
                   if services(request).settings.metrics_token else
                   "Metrics are off: set MARKETPLACE_METRICS_TOKEN to read them outside development.")
        return JSONResponse({"error": {"status": 403, "message": message}}, status_code=403)
    app = services(request)
    try:
        jobs = await run_in_threadpool(job_counts, app.sessions)
    except Exception:  # noqa: BLE001 - the database may be away; the process's own metrics still matter
        jobs = {}
    body, content_type = exposition({"marketplace_grade_jobs": {state: float(n) for state, n in jobs.items()}})
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
