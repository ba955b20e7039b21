"""GET /healthz: is the database reachable and at the latest schema, and is the index open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from marketplace.store.database import current_revision, head_revision
from marketplace.web.services import services


async def healthz(request: Request) -> Response:
    state = services(request)

    def check() -> dict[str, Any]:
        report: dict[str, Any] = {}
        try:
            with state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            revision = current_revision(state.engine)
            head = head_revision(state.settings.database_url)
            report["database"] = {"ok": revision == head, "revision": revision, "expected": head}
        except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
            report["database"] = {"ok": False, "error": type(error).__name__}
        try:
            report["index"] = {"ok": True, "documents": state.catalog.document_count()}
        except Exception as error:  # noqa: BLE001 - a missing index is a state to report
            report["index"] = {"ok": False, "error": type(error).__name__,
                               "hint": "run `marketplace index`"}
        report["ok"] = report["database"]["ok"] and report["index"]["ok"]
        return report

    report = await run_in_threadpool(check)
    return JSONResponse(report, status_code=200 if report["ok"] else 503)
