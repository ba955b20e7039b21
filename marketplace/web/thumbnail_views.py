"""GET /thumbnails/{name}: the thumbnails made when indexing, served from the database by every host.

The name carries the first 12 hex digits of the picture's SHA-256, so a changed picture has a new URL and
this one can be cached for a year without revalidation.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.catalog.thumbnails import parse_thumbnail_name, stored_thumbnail
from marketplace.errors import RequestError
from marketplace.web.services import services

NOT_FOUND = ("There is no thumbnail at this address; it may have been replaced by a newer picture. "
             "Reload the page that showed it.")
CACHE_FOREVER = "public, max-age=31536000, immutable"


async def thumbnail(request: Request) -> Response:
    name = request.path_params["name"]
    parsed = parse_thumbnail_name(name)
    if parsed is None:
        raise RequestError(404, NOT_FOUND)
    resource_id, digest = parsed
    image = await run_in_threadpool(stored_thumbnail, services(request).sessions, resource_id)
    if image is None or not image.sha256.startswith(digest):
        raise RequestError(404, NOT_FOUND)
    etag = f'"{image.sha256[:32]}"'
    headers = {"Cache-Control": CACHE_FOREVER, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.media_type, headers=headers)
