"""A resource (or a submitted portfolio item) as its pages show it, for the public page, the picker's
preview and a resource launch."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from marketplace.catalog.reading import reading_blocks
from marketplace.catalog.records import find_resource
from marketplace.catalog.resource import Resource
from marketplace.errors import RequestError
from marketplace.lti.context import LaunchContext
from marketplace.portfolio.service import submitted_item
from marketplace.portfolio.signing import signed_file_url
from marketplace.web.serialize import asset_url
from marketplace.web.services import services


def resource_page_context(resource: Resource) -> dict[str, Any]:
    """What `_resource.html` needs; quiz answer keys never leave the server."""
    context: dict[str, Any] = {"resource": resource, "thumbnail_url": asset_url(resource.thumbnail)}
    if resource.type == "reading":
        context["blocks"] = reading_blocks(resource.payload["body"])
    if resource.type == "file":
        context["download_url"] = asset_url(f"files/{resource.payload['path']}")
    if resource.type == "quiz":
        context["questions"] = [
            {"number": number, "prompt": question["prompt"], "options": question["options"],
             "points": question["points"]}
            for number, question in enumerate(resource.payload["questions"], start=1)
        ]
    return context


def load_resource(request: Request, resource_id: str) -> Resource:
    """The resource, or a friendly 404 when it left the catalog (blocking)."""
    resource = find_resource(services(request).sessions, resource_id)
    if resource is None:
        raise RequestError(404, "This resource is no longer in the catalog. Ask your instructor to choose another one.")
    return resource


def resource_for_launch(request: Request, context: LaunchContext) -> Resource:
    """The resource a resource-link launch points at (custom.resource_id), blocking."""
    resource_id = context.custom.get("resource_id")
    if not resource_id:
        raise RequestError(404, "This link does not say which resource to show. Ask your instructor to add it again "
                       "from LTI Marketplace.")
    return load_resource(request, resource_id)


def portfolio_item_for_launch(request: Request, context: LaunchContext) -> dict[str, Any]:
    """A submitted portfolio item opened from the course (blocking): its owner, or a teacher of the course and
    deployment it was submitted to, may see it; anyone else gets the same 404 as for a missing item."""
    item = submitted_item(services(request).sessions, context)
    settings = services(request).settings
    download = signed_file_url(settings.base_url, item, settings.secret_key) if item.kind == "file" else None
    return {"item": item, "download_url": download}
