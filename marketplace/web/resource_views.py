"""Showing one resource: inside a resource-link launch, or on its public page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.web.resource_pages import load_resource, resource_page_context
from marketplace.web.services import services


async def public_resource_page(request: Request) -> Response:
    """GET /resources/{id}: a resource outside any launch (quizzes need a launch to be graded)."""
    resource = await run_in_threadpool(load_resource, request, request.path_params["resource_id"])
    response: Response = services(request).templates.TemplateResponse(
        request, "resource.html", {**resource_page_context(resource), "in_launch": False}
    )
    return response


