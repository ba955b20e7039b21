"""JSON shapes of search results and resources, and the public URL of local catalog assets."""

from __future__ import annotations

from typing import Any

from marketplace.catalog.highlight import Segment
from marketplace.catalog.resource import Resource, licence_to_dict
from marketplace.catalog.search_types import NoResultsHelp, SearchHit, SearchResult
from marketplace.catalog.sources import OWN_NAME, source_name
from marketplace.catalog.thumbnails import LocalThumbnail, PicturedResource, picture_of
from marketplace.catalog.vocabulary import FACETS


def asset_url(path: str) -> str:
    """An https URL stays as it is; a path under content/ is served from /content/."""
    return path if path.startswith("https://") else f"/content/{path.lstrip('/')}"


def _segments(segments: list[Segment]) -> list[dict[str, Any]]:
    return [{"text": text, "match": matched} for text, matched in segments]


def hit_to_json(hit: SearchHit) -> dict[str, Any]:
    """A search result. `picture` is what its card shows: the local thumbnail made when indexing
    ({"kind": "thumbnail", "url": "/thumbnails/<name>", "width", "height"}) or the type icon ({"kind": "icon",
    "url": "/static/icons/<type>.svg", "width": 48, "height": 48}); `source` names the site it comes from.
    `thumbnail_url` is picture.url, kept for older templates: never a third-party URL."""
    display = hit.display
    # An index written before pictures existed has neither key until `marketplace index` rewrites it.
    picture = display.get("picture") or picture_of(hit.type, None)
    return {
        "id": hit.id,
        "title": hit.title,
        "description": hit.description,
        "subject": hit.subject,
        "type": hit.type,
        "grade_levels": display["grade_levels"],
        "language": hit.language,
        "keywords": display["keywords"],
        "thumbnail_url": picture["url"],
        "picture": picture,
        "source": display.get("source") or OWN_NAME,
        "author": {"name": hit.author, "url": display["author_url"]},
        "license": licence_to_dict(hit.license_id, display["license_url"], display["attribution"]),
        "highlights": {
            "title": _segments(hit.title_highlight),
            "description": _segments(hit.description_highlight),
        },
        "score": hit.score,
    }


def _label(facet: str, value: str) -> str:
    return FACETS[facet].get(value, value)


def _help_to_json(help_: NoResultsHelp | None) -> dict[str, Any] | None:
    if help_ is None:
        return None
    return {
        "message": help_.message,
        "nearest_subjects": [
            {"value": subject, "label": _label("subject", subject), "count": count, "q": help_.subject_text}
            for subject, count in help_.nearest_subjects
        ],
        "broader": [
            {"label": broader.label, "q": broader.text, "filters": {k: list(v) for k, v in broader.filters.items()},
             "total": broader.total}
            for broader in help_.broader
        ],
        "active_filters": {facet: list(values) for facet, values in help_.active_filters.items()},
    }


def result_to_json(result: SearchResult) -> dict[str, Any]:
    """The JSON answer of a search: the page of results with how the words were read."""
    relaxation = result.relaxation
    return {
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "page_count": result.page_count,
        "results": [hit_to_json(hit) for hit in result.hits],
        "facets": result.facets,
        "facet_labels": FACETS,
        "suggestion": result.suggestion,
        "relaxed": None if relaxation is None else {
            "level": relaxation.level, "all_words_total": relaxation.all_words_total, "message": relaxation.message,
        },
        "corrected": None if not result.corrections else {
            "q": result.corrected_text, "words": result.corrections, "message": result.correction_message,
        },
        "understood": {
            "ignored": list(result.ignored),
            "grades": list(result.grades),
            "types": list(result.types),
            "subjects": list(result.subjects),
        },
        "no_results": _help_to_json(result.help),
    }


def resource_to_json(resource: Resource, thumbnail: LocalThumbnail | None = None) -> dict[str, Any]:
    """A resource in full, with `picture` and `source` as in hit_to_json.

    The thumbnail is the one passed, else the one a PicturedResource carries (see
    `marketplace.catalog.thumbnails.pictured` / `with_pictures`); without either, the type icon.
    """
    data = resource.to_public_dict()
    if thumbnail is None and isinstance(resource, PicturedResource):
        thumbnail = resource.local_thumbnail
    picture = picture_of(resource.type, thumbnail)
    data["picture"] = picture
    data["source"] = source_name(resource)
    data["thumbnail_url"] = picture["url"]
    if resource.type == "file":
        data["payload"]["download_url"] = asset_url(f"files/{resource.payload['path']}")
    return data
