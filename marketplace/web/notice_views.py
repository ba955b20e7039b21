"""POST /lti/notices: the Platform Notification Service handler (see lti/notices.py)."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from marketplace.clock import utc_now
from marketplace.errors import RequestError
from marketplace.lti.notices import MAX_BODY_BYTES, receive_batch
from marketplace.web.services import services


async def _body(request: Request) -> object:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RequestError(413, "A notice batch may be at most 2 MB.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise RequestError(413, "A notice batch may be at most 2 MB.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "A notice batch must be JSON.") from None


async def receive_notices(request: Request) -> Response:
    """204 when every notice was received (now or before); 207 with each notice's status when some were
    refused, so the platform learns which ones and why (Canvas does not retry, so this is all it gets)."""
    body = await _body(request)
    app = services(request)
    outcomes = await run_in_threadpool(receive_batch, app.sessions, app.platform_keys, body, utc_now())
    if all(outcome.status == 200 for outcome in outcomes):
        return Response(status_code=204)
    return JSONResponse({"notices": [outcome.as_json() for outcome in outcomes]}, status_code=207)
