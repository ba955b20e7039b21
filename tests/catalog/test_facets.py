"""Facet counts and filters over a catalog that uses every licence, subject and grade, checked against counts
worked out by hand from the resources themselves."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from marketplace.catalog.index_store import build_index
from marketplace.catalog.licences import LICENCES, allows
from marketplace.catalog.loader import load_catalog
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.vocabulary import FACETS, GRADE_LEVELS, SUBJECTS
from tests.conftest import PROJECT_DIR, write_resource


@pytest.fixture(scope="module")
def spread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CatalogIndex, list[Resource]]]:
    folder = tmp_path_factory.mktemp("facets")
    content_dir = folder / "content"
    (content_dir / "resources").mkdir(parents=True)
    shutil.copytree(PROJECT_DIR / "content" / "thumbnails", content_dir / "thumbnails")
    rng = random.Random(5)
    for number in range(240):
        licence = list(LICENCES)[number % len(LICENCES)]
        write_resource(content_dir, f"item-{number}", title=f"Item {number} about rivers",
                       description="A resource about rivers and the water cycle, for class.",
                       subject=rng.choice(list(SUBJECTS)), license_id=licence,
                       grades=tuple(rng.sample(list(GRADE_LEVELS), rng.choice((1, 2)))))
    loaded = load_catalog(content_dir)
    assert not loaded.problems, loaded.problems[:3]
    build_index(folder / "index", loaded.resources, workers=1)
    catalog = CatalogIndex(Path(folder / "index"))
    catalog.open()
    yield catalog, loaded.resources
    catalog.close()


def passes(resource: Resource, request: SearchRequest, skip: str | None) -> bool:
    """Whether `resource` passes every filter of `request` except facet `skip`'s own (disjunctive facets)."""
    terms = LICENCES[resource.license_id]
    checks = {
        "subject": not request.subjects or resource.subject in request.subjects,
        "grade": not request.grades or bool(set(resource.grade_levels) & set(request.grades)),
        "type": not request.types or resource.type in request.types,
        "license": not request.licenses or resource.license_id in request.licenses,
        "allows": all(allows(terms, permission) for permission in request.allows),
    }
    return all(ok for facet, ok in checks.items() if facet != skip)


def expected_counts(resources: list[Resource], request: SearchRequest) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for facet, values in FACETS.items():
        # "allows" is conjunctive: its own choices narrow its counts too.
        scope = [item for item in resources if passes(item, request, None if facet == "allows" else facet)]
        tally = dict.fromkeys(values, 0)
        for item in scope:
            if facet == "subject":
                tally[item.subject] += 1
            elif facet == "grade":
                for grade in item.grade_levels:
                    tally[grade] += 1
            elif facet == "type":
                tally[item.type] += 1
            elif facet == "license":
                tally[item.license_id] += 1
            else:
                for permission in values:
                    tally[permission] += allows(LICENCES[item.license_id], permission)
        counts[facet] = tally
    return counts


@pytest.mark.parametrize("request_", [
    SearchRequest(),
    SearchRequest(allows=("commercial",)),
    SearchRequest(allows=("commercial", "adaptations")),
    SearchRequest(licenses=("CC-BY-4.0", "CC0-1.0"), allows=("adaptations",)),
    SearchRequest(subjects=("biology", "history"), grades=("k-2",)),
    SearchRequest(text="rivers", types=("link",), subjects=("mathematics",), allows=("commercial",)),
    SearchRequest(licenses=("no-such-licence",)),
], ids=lambda request: repr(request.filters()))
def test_counts_and_totals_match_the_resources(spread: tuple[CatalogIndex, list[Resource]],
                                               request_: SearchRequest) -> None:
    catalog, resources = spread
    result = catalog.search(request_)
    assert result.facets == expected_counts(resources, request_)
    assert result.total == sum(passes(item, request_, None) for item in resources)
    assert 0 < len(resources)
