"""JSON shapes of search results and resources, and the public URL of local catalog assets."""

from __future__ import annotations

from typing import Any

from marketplace.catalog.highlight import Segment
from marketplace.catalog.resource import Resource
from marketplace.catalog.search import SearchHit, SearchResult
from marketplace.catalog.vocabulary import FACETS


def asset_url(path: str) -> str:
    """An https URL stays as it is; a path under content/ is served from /content/."""
    return path if path.startswith("https://") else f"/content/{path.lstrip('/')}"


def _segments(segments: list[Segment]) -> list[dict[str, Any]]:
    return [{"text": text, "match": matched} for text, matched in segments]


def hit_to_json(hit: SearchHit) -> dict[str, Any]:
    display = hit.display
    return {
        "id": hit.id,
        "title": hit.title,
        "description": hit.description,
        "subject": hit.subject,
        "type": hit.type,
        "grade_levels": display["grade_levels"],
        "language": hit.language,
        "keywords": display["keywords"],
        "thumbnail_url": asset_url(display["thumbnail"]),
        "author": {"name": hit.author, "url": display["author_url"]},
        "license": {
            "id": hit.license_id,
            "label": display["license_label"],
            "url": display["license_url"],
            "attribution": display["attribution"],
        },
        "highlights": {
            "title": _segments(hit.title_highlight),
            "description": _segments(hit.description_highlight),
        },
        "score": hit.score,
    }


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "page_count": result.page_count,
        "results": [hit_to_json(hit) for hit in result.hits],
        "facets": result.facets,
        "facet_labels": FACETS,
        "suggestion": result.suggestion,
    }


def resource_to_json(resource: Resource) -> dict[str, Any]:
    data = resource.to_public_dict()
    data["thumbnail_url"] = asset_url(resource.thumbnail)
    if resource.type == "file":
        data["payload"]["download_url"] = asset_url(f"files/{resource.payload['path']}")
    return data
