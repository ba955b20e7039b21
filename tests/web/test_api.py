"""The JSON API, the browse page and its htmx partial, health, errors and headers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from marketplace.store.database import upgrade_database
from marketplace.web.json_response import FastJSONResponse
from tests.conftest import prepare_app_data


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    prepare_app_data(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_search_api_shape(client: TestClient) -> None:
    response = client.get("/api/catalog/search", params={"q": "photosynthesis", "per_page": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 1 and body["page_count"] == 2
    (first,) = body["results"]
    assert first["id"] == "photosynthesis-basics"
    assert first["license"] == {
        "id": "CC-BY-4.0", "label": "CC BY 4.0", "name": "Creative Commons Attribution 4.0 International",
        "url": "https://creativecommons.org/licenses/by/4.0/",
        "attribution": ("Photosynthesis basics by Ada Author, https://example.org/photosynthesis-basics, "
                        "licensed CC BY 4.0"),
        "allows_commercial_use": True, "allows_adaptations": True, "share_alike": False, "public_domain": False,
        "in_plain_words": "Free to share and adapt, also for commercial use, with credit"}
    assert first["thumbnail_url"] == "/static/icons/link.svg"  # picture.url: the type icon, no thumbnail made
    assert {"text": "Photosynthesis", "match": True} in first["highlights"]["title"]
    assert set(body["facets"]) == {"subject", "grade", "type", "allows", "license"}
    assert body["facets"]["subject"]["biology"] == 2
    assert body["suggestion"] is None
    assert client.get(first["thumbnail_url"]).status_code == 200


def test_the_catalog_api_answers_the_json_the_standard_library_would(client: TestClient) -> None:
    """The catalog API is encoded by orjson (json_response.py): the same document as json.dumps, in compact
    UTF-8, with the JSON media type; a NaN (a scoring bug) becomes null rather than a 500."""
    response = client.get("/api/catalog/search", params={"q": "révolution française"})
    assert response.headers["content-type"] == "application/json"
    assert response.content == json.dumps(response.json(), ensure_ascii=False, separators=(",", ":")).encode()
    assert FastJSONResponse({"score": float("nan"), "ok": [1, "ü"]}).body == '{"score":null,"ok":[1,"ü"]}'.encode()


def test_search_api_filters_paging_and_suggestion(client: TestClient) -> None:
    body = client.get("/api/catalog/search?subject=biology&subject=history&grade=9-12&sort=title").json()
    assert [r["id"] for r in body["results"]] == ["photosynthesis-basics", "plant-cells", "french-revolution"]
    assert client.get("/api/catalog/search?license=CC0-1.0").json()["total"] == 1
    assert client.get("/api/catalog/search?type=link&page=2&per_page=4").json()["results"][0]["id"]
    assert client.get("/api/catalog/search?page=3&per_page=4").json()["results"] == []
    assert client.get("/api/catalog/search?q=photosinthesis").json()["suggestion"] == "photosynthesis"
    assert client.get("/api/catalog/search", params={"q": "x" * 10_000}).status_code == 200


def test_search_api_filters_by_what_the_licence_allows(client: TestClient) -> None:
    everything = client.get("/api/catalog/search").json()
    assert everything["total"] == 5
    # Counts of a conjunctive facet: each value says how many results remain when it is ticked.
    assert everything["facets"]["allows"] == {"commercial": 4, "adaptations": 5}
    commercial = client.get("/api/catalog/search?allows=commercial").json()
    assert commercial["total"] == 4 and "plate-tectonics" not in {r["id"] for r in commercial["results"]}
    assert all(r["license"]["allows_commercial_use"] for r in commercial["results"])
    assert commercial["facets"]["allows"] == {"commercial": 4, "adaptations": 4}
    both = client.get("/api/catalog/search?allows=commercial&allows=adaptations").json()
    assert both["total"] == 4
    assert client.get("/api/catalog/search?allows=adaptations").json()["total"] == 5
    tectonics = client.get("/api/catalog/search?q=earthquakes").json()["results"][0]
    assert tectonics["license"]["label"] == "CC BY-NC 4.0"
    assert tectonics["license"]["in_plain_words"] == "Free to share and adapt, not for commercial use, with credit"
    assert client.get("/api/catalog/search?allows=commercial&subject=earth-space-science").json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("page=0", "page"), ("page=abc", "page"), ("per_page=101", "per_page"), ("per_page=-1", "per_page"),
     ("subject=alchemy", "subject"), ("grade=13", "grade"), ("type=podcast", "type"), ("license=GPL", "license"),
     ("allows=resale", "allows"), ("license=CC-PDDC", "license"),
     ("sort=random", "sort"), ("page=600&per_page=20", "page")],
)
def test_bad_parameters_get_400_naming_them(client: TestClient, query: str, parameter: str) -> None:
    response = client.get(f"/api/catalog/search?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter and parameter in error["message"]


def test_resource_api(client: TestClient) -> None:
    body = client.get("/api/catalog/resources/french-revolution").json()
    assert body["title"] == "The French Revolution" and body["subject"] == "history"
    assert body["payload"] == {"url": "https://example.org/french-revolution", "embeddable": False}
    missing = client.get("/api/catalog/resources/no-such-thing")
    assert missing.status_code == 404
    assert "no-such-thing" in missing.json()["error"]["message"]


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ok": True, "checks": {"database": {"ok": True}, "index": {"ok": True},
                                                   "keys": {"ok": True}}}


def test_browse_page_and_htmx_partial(client: TestClient) -> None:
    page = client.get("/?q=revolution")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text and 'id="q"' in page.text and "htmx.min.js" in page.text
    assert "<mark>Revolution</mark>" in page.text
    assert 'id="count-subject-history">(1)' in page.text
    partial = client.get("/?q=revol", headers={"HX-Request": "true", "HX-Target": "results"})
    assert partial.status_code == 200
    assert "<html" not in partial.text and "<mark>Revolution</mark>" in partial.text  # prefix while typing
    assert 'hx-swap-oob="true"' in partial.text
    assert client.get("/static/htmx.min.js").status_code == 200


def test_user_text_is_escaped(client: TestClient) -> None:
    page = client.get("/", params={"q": '<script>alert("x")</script>'})
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


def test_errors_are_pages_or_json_never_tracebacks(client: TestClient) -> None:
    page = client.get("/?page=zero")
    assert page.status_code == 400 and "page" in page.text and "Traceback" not in page.text
    assert client.get("/nowhere").status_code == 404
    assert client.get("/api/nowhere").json()["error"]["status"] == 404


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "frame-src" in headers["content-security-policy"] and "'unsafe-inline'" not in headers[
        "content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_search_without_an_index_is_503(settings: Settings) -> None:
    upgrade_database(settings.database_url)
    with TestClient(create_app(settings)) as fresh:
        response = fresh.get("/api/catalog/search")
        assert response.status_code == 503 and "marketplace index" in response.json()["error"]["message"]
        assert fresh.get("/healthz").status_code == 200  # alive: a restart would not help
        ready = fresh.get("/readyz")
        assert ready.status_code == 503 and not ready.json()["checks"]["index"]["ok"]
        assert "marketplace index" in ready.json()["checks"]["index"]["advice"]


def test_search_api_reports_relaxed_corrected_and_understood(client: TestClient) -> None:
    relaxed = client.get("/api/catalog/search", params={"q": "pizza microscope"}).json()
    assert relaxed["relaxed"] == {"level": "any", "all_words_total": 0,
                                  "message": "No resources match all your words; showing those that match any of "
                                             "them."}
    assert {hit["id"] for hit in relaxed["results"]} == {"fractions-pizza", "plant-cells"}
    # Facet counts describe the results shown (relaxed), not the empty all-words set.
    assert relaxed["facets"]["subject"]["mathematics"] == 1 and relaxed["facets"]["subject"]["biology"] == 1
    corrected = client.get("/api/catalog/search", params={"q": "photosinthesis"}).json()
    assert corrected["corrected"]["q"] == "photosynthesis" and corrected["total"] == 2
    assert corrected["corrected"]["message"].startswith("No resources contain “photosinthesis”")
    question = client.get("/api/catalog/search", params={"q": "what is photosynthesis for high school?"}).json()
    assert question["understood"]["grades"] == ["9-12"] and "is" in question["understood"]["ignored"]
    assert question["relaxed"] is None and question["total"] == 2
    # The 9-12 resource is steered first; both hold the word in the title or description.
    assert [hit["id"] for hit in question["results"]][0] in {"photosynthesis-basics", "plant-cells"}
    stop_words = client.get("/api/catalog/search", params={"q": "the french revolution of 1789"}).json()
    assert stop_words["results"][0]["id"] == "french-revolution" and stop_words["relaxed"] is None


def test_search_api_no_results_help(client: TestClient) -> None:
    body = client.get("/api/catalog/search", params={"q": "photosynthesis", "subject": "history"}).json()
    assert body["total"] == 0
    help_ = body["no_results"]
    assert help_["message"] == "No resources match your words with the filters you set."
    assert help_["active_filters"] == {"subject": ["history"]}
    assert help_["broader"][0] == {"label": "Search all resources for “photosynthesis”", "q": "photosynthesis",
                                   "filters": {}, "total": 2}
    assert help_["nearest_subjects"] == [{"value": "biology", "label": "Biology", "count": 2, "q": "photosynthesis"}]
    nothing = client.get("/api/catalog/search", params={"q": "xylophonist"}).json()["no_results"]
    assert nothing["message"] == "No resources contain your words." and nothing["nearest_subjects"][0]["q"] == ""
    page = client.get("/", params={"q": "photosynthesis", "subject": "history"}).text
    assert "Clear all filters" in page and "Remove filter History" in page and "Biology (2)" in page


def test_browse_page_filters_by_what_the_licence_allows_and_says_it_in_plain_words(client: TestClient) -> None:
    page = client.get("/")
    assert "<legend>What you may do</legend>" in page.text
    assert 'id="count-allows-commercial">(4)' in page.text and 'id="count-allows-adaptations">(5)' in page.text
    filtered = client.get("/?allows=commercial")
    assert "Plate tectonics" not in filtered.text and "The French Revolution" in filtered.text
    assert "Free to share and adapt, also for commercial use, share alike, with credit" in filtered.text
    resource = client.get("/resources/plate-tectonics")
    assert resource.status_code == 200
    assert ('<a href="https://creativecommons.org/licenses/by-nc/4.0/" rel="license" target="_blank">'
            "Creative Commons Attribution-NonCommercial 4.0 International</a>") in resource.text
    assert "Free to share and adapt, not for commercial use, with credit." in resource.text
    assert "Credit: Plate tectonics and earthquakes by Ada Author" in resource.text
