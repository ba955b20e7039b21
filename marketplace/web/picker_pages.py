"""What the picker's pages need, shared by the views that show the picker (the launch lands on it) and
those that update it: the role check, the template values, the personal lists and the search."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request

from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest, SearchResult
from marketplace.catalog.vocabulary import FACET_LEGENDS, FACETS
from marketplace.lti import picks
from marketplace.lti.context import LaunchContext
from marketplace.lti.deep_linking import (
    ASSIGNMENT,
    EDITOR,
    HOMEWORK,
    MODULES,
    DeepLinkingSettings,
    dates_honoured,
    placement_of,
)
from marketplace.lti.errors import refused
from marketplace.web.picks import personal_lists_view
from marketplace.web.serialize import hit_to_json
from marketplace.web.services import services


def require_role(context: LaunchContext) -> None:
    """Instructor placements need a teaching role; homework submission needs a learner."""
    placement = placement_of(context)
    if placement == HOMEWORK:
        if not context.is_learner:
            raise refused("role_learner", "Submitting homework needs a student (Learner) role in this course.",
                          status=403, advice="")
    elif not context.is_instructor:
        raise refused("role_instructor", "Adding resources to the course needs an instructor, teaching assistant, "
                      "content developer or administrator role.", status=403, advice="")


def picker_context(context: LaunchContext) -> dict[str, Any]:
    """What the picker templates need besides the search results."""
    assert context.deep_linking_settings is not None  # noqa: S101 - deep-linking launches only
    settings = DeepLinkingSettings.from_claim(context.deep_linking_settings)
    placement = placement_of(context)
    selection = context.custom.get("selection", "")
    return {
        "placement": placement,
        "single": not settings.accept_multiple or placement in {ASSIGNMENT, HOMEWORK},
        "submit_label": "Submit selected" if placement == HOMEWORK else "Add selected",
        "ask_points": placement == ASSIGNMENT,
        # Dates only where the platform uses them (never on Canvas's assignment page); they go with a line item.
        "ask_dates": placement != ASSIGNMENT and dates_honoured(placement, context.product_family),
        # The description replaces the teacher's own where the item becomes an assignment or a module item.
        "ask_description": placement not in {EDITOR, HOMEWORK},
        "description_target": "assignment" if placement == ASSIGNMENT else
                              "module item" if placement == MODULES else "activity",
        # A quiz added anywhere but the editor or a homework submission becomes a graded activity.
        "ask_quiz_settings": placement not in {EDITOR, HOMEWORK},
        # Canvas expands $com.instructure.Editor.selection; an unexpanded variable means nothing was selected.
        "prefill": "" if selection.startswith("$") else selection,
        "facet_labels": FACETS,
        "facet_legends": FACET_LEGENDS,
    }


def personal_lists(request: Request, context: LaunchContext, search: SearchRequest | None = None) -> dict[str, Any]:
    """The tray and favourites, and the first screen's sections when nothing was asked yet (blocking)."""
    return personal_lists_view(picks.personal_lists(services(request).sessions, context, search))


def search_catalog(request: Request, search: SearchRequest) -> SearchResult:
    """The catalog's answer (blocking); a 503 with a sentence while no index exists."""
    catalog: CatalogIndex = services(request).catalog
    try:
        return catalog.search(search)
    except FileNotFoundError:
        raise refused("catalog_missing", "The catalog has not been indexed yet.",
                      advice="An administrator must run `marketplace index`.", status=503) from None


def picker_search_now(request: Request, context: LaunchContext, search: SearchRequest) -> dict[str, Any]:
    """The results and the personal lists, as the picker's results template takes them (blocking: the caller
    runs it in one hop to the threadpool; each hop is two thread switches, and a picker request made three).
    When the first screen is shown in place of results (nothing asked yet), the search counts (the total and
    the facets) and builds no hits."""
    first_screen = picks.wants_first_screen(search)
    result = search_catalog(request, replace(search, counts_only=True) if first_screen else search)
    personal = personal_lists(request, context, search)
    if first_screen and not personal["first_screen"]:  # nothing to suggest after all: the results instead
        result = search_catalog(request, search)
    return {"search": search, "result": result, "hits": [hit_to_json(hit) for hit in result.hits], **personal}


def initial_results_now(request: Request, context: LaunchContext, text: str) -> dict[str, Any]:
    """The first page of results and the personal lists, for the full picker page (blocking)."""
    return picker_search_now(request, context, SearchRequest(text=text, per_page=10))
