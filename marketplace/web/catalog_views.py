"""The catalog browse page (full page or htmx partial) and the catalog JSON API."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from marketplace.catalog.records import find_resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest, SearchResult
from marketplace.catalog.vocabulary import FACET_LEGENDS, FACETS
from marketplace.errors import RequestError
from marketplace.web.json_response import FastJSONResponse
from marketplace.web.params import search_request
from marketplace.web.serialize import hit_to_json, resource_to_json, result_to_json
from marketplace.web.services import services


async def _run_search(request: Request, search: SearchRequest) -> SearchResult:
    catalog: CatalogIndex = services(request).catalog
    try:
        return await run_in_threadpool(catalog.search, search)
    except FileNotFoundError:
        raise RequestError(503, "The catalog has not been indexed yet. Run `marketplace index`, then reload.") from None


async def search_api(request: Request) -> Response:
    search = search_request(request.query_params)
    return FastJSONResponse(result_to_json(await _run_search(request, search)))


async def resource_api(request: Request) -> Response:
    resource_id = request.path_params["resource_id"]
    resource = await run_in_threadpool(find_resource, services(request).sessions, resource_id)
    if resource is None:
        raise RequestError(404, f"There is no resource with the id {resource_id[:100]!r} in the catalog.", "id")
    return FastJSONResponse(resource_to_json(resource))


async def browse_page(request: Request) -> Response:
    is_htmx = request.headers.get("HX-Request") == "true"
    search = search_request(request.query_params, as_you_type=is_htmx)
    result = await _run_search(request, search)
    context = {
        "search": search,
        "result": result,
        "hits": [hit_to_json(hit) for hit in result.hits],
        "facet_labels": FACETS,
        "facet_legends": FACET_LEGENDS,
        "query_string": str(request.query_params),
    }
    template = "_results.html" if is_htmx and request.headers.get("HX-Target") == "results" else "catalog.html"
    response: Response = services(request).templates.TemplateResponse(request, template, context)
    return response
