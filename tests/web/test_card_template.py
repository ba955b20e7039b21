"""The picker's cards (templates/_pick.html) and the catalog page's hits (templates/_results.html) read each hit
(a dict, the JSON shape) with subscripts. Jinja's attribute syntax on a dict first tries getattr, which raises
AttributeError for every field of every card: that, and an include per card copying the page's whole context,
was a third of the picker's render."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.vocabulary import FACET_LEGENDS, FACETS
from marketplace.settings import Settings
from marketplace.web.serialize import hit_to_json
from marketplace.web.services import services
from tests.conftest import prepare_app_data


def test_cards_and_sections_read_their_dicts_without_the_attribute_fallback(settings: Settings) -> None:
    prepare_app_data(settings)
    app = create_app(settings)
    catalog = CatalogIndex(settings.index_dir)
    with TestClient(app):  # its lifespan opens and closes what the app holds
        try:
            _render_and_check(app, catalog)
        finally:
            catalog.close()


def _render_and_check(app: Starlette, catalog: CatalogIndex) -> None:
    request = Request({"type": "http", "app": app, "router": app.router, "method": "GET", "root_path": "",
                       "path": "/lti/picker/results", "scheme": "https", "server": ("tool.example", 443),
                       "headers": [(b"host", b"tool.example")], "query_string": b""})
    templates = services(request).templates
    environment = templates.env
    result = catalog.search(SearchRequest(text="", per_page=4))
    hits = [hit_to_json(hit) for hit in result.hits]
    assert len(hits) == 4
    fallbacks: list[str] = []
    attribute_of = environment.getattr

    def counting(obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict):
            fallbacks.append(attribute)
        return attribute_of(obj, attribute)

    environment.getattr = counting  # type: ignore[method-assign]
    context = {"request": request, "result": result, "hits": hits, "search": SearchRequest(text="x"),
               "tray_ids": {hits[0]["id"]}, "favourite_ids": {hits[1]["id"]}, "tray": [], "single": False,
               "facet_labels": FACETS, "facet_legends": FACET_LEGENDS, "oob": False}
    results = templates.get_template("_picker_results.html").render(
        {**context, "first_screen": []})
    first_screen = templates.get_template("_picker_results.html").render(
        {**context, "first_screen": [{"key": "newest", "heading": "New in the catalog", "picks": hits[2:]}]})
    assert fallbacks == []
    for hit in hits:
        assert f'value="{hit["id"]}"' in results and f'/lti/picker/preview/{hit["id"]}' in results
    assert results.count('class="pick"') == 4 and results.count('class="star"') == 4
    assert results.count(" checked") == 1 and results.count('aria-pressed="true"') == 1  # the tray, the star
    assert 'id="section-newest"' in first_screen and f'id="pick-newest-{hits[2]["id"]}"' in first_screen
    # The catalog page's list of hits reads them the same way.
    catalog_results = templates.get_template("_results.html").render(context)
    assert fallbacks == []
    assert catalog_results.count('<li class="hit">') == 4
    assert all(f'/api/catalog/resources/{hit["id"]}' in catalog_results for hit in hits)
