"""Turning query parameters into a SearchRequest, with a 400 that names any bad parameter."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from marketplace.catalog.search_types import MAX_PER_PAGE, MAX_RESULT_WINDOW, SORT_ORDERS, SearchRequest, SortOrder
from marketplace.catalog.vocabulary import FACETS
from marketplace.errors import RequestError

DEFAULT_PER_PAGE = 20
MAX_VALUES_PER_FACET = 20


def _integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(400, f"The parameter '{name}' must be a whole number, not {raw[:40]!r}.", name) from None
    if not low <= value <= high:
        raise RequestError(400, f"The parameter '{name}' must be between {low} and {high}.", name)
    return value


def _facet_values(params: QueryParams, name: str) -> tuple[str, ...]:
    values = [value for raw in params.getlist(name) for value in raw.split(",") if value]
    allowed = FACETS[name]
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise RequestError(
            400, f"The parameter '{name}' has an unknown value {unknown[0][:60]!r}; use one of: {', '.join(allowed)}.",
            name,
        )
    if len(values) > MAX_VALUES_PER_FACET:
        raise RequestError(400, f"The parameter '{name}' has too many values.", name)
    return tuple(dict.fromkeys(values))


def search_request(params: QueryParams, *, as_you_type: bool = False) -> SearchRequest:
    """Validate the search parameters (q, subject, grade, type, allows, license, page, per_page, sort)."""
    text = params.get("q", "")
    per_page = _integer(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    page = _integer(params, "page", 1, 1, MAX_RESULT_WINDOW)
    if (page - 1) * per_page >= MAX_RESULT_WINDOW:
        raise RequestError(400, f"The parameter 'page' goes past the first {MAX_RESULT_WINDOW} results; "
                            "narrow the search instead.", "page")
    sort = params.get("sort") or "relevance"
    if sort not in SORT_ORDERS:
        raise RequestError(400, f"The parameter 'sort' must be one of: {', '.join(SORT_ORDERS)}.", "sort")
    sort_order: SortOrder = "title" if sort == "title" else "relevance"
    return SearchRequest(
        text=text,
        subjects=_facet_values(params, "subject"),
        grades=_facet_values(params, "grade"),
        types=_facet_values(params, "type"),
        licenses=_facet_values(params, "license"),
        allows=_facet_values(params, "allows"),
        page=page,
        per_page=per_page,
        sort=sort_order,
        as_you_type=as_you_type,
    )
