"""The Whoosh schema of the catalog index and the mapping from a Resource to an index document."""

from __future__ import annotations

import json
from typing import Any

from whoosh.analysis import StemmingAnalyzer
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema

from marketplace.catalog.resource import Resource

TITLE_BOOST = 3.0
KEYWORDS_BOOST = 2.0
TEXT_FIELDS = ("title", "keywords", "description", "author")
FACET_FIELDS = ("subject", "grade", "type", "license")


def build_schema() -> Schema:
    """A fresh schema (Whoosh field objects are mutable, so never share one between indexes)."""
    stemming = StemmingAnalyzer(cachesize=100_000)
    return Schema(
        id=ID(stored=True, unique=True),
        content_hash=ID(stored=True),
        title=TEXT(analyzer=stemming, field_boost=TITLE_BOOST, stored=True, phrase=True),
        keywords=TEXT(analyzer=stemming, field_boost=KEYWORDS_BOOST, stored=True, phrase=False),
        description=TEXT(analyzer=stemming, stored=True, phrase=True),
        author=TEXT(stored=True, phrase=True),
        subject=ID(stored=True),
        grade=KEYWORD(stored=True, commas=True, scorable=False),
        type=ID(stored=True),
        license=ID(stored=True),
        language=ID(stored=True),
        display=STORED(),
        # A column rather than stored text: sorting 100,000 titles reads one compact column.
        title_sort=COLUMN(VarBytesColumn()),
    )


def display_fields(resource: Resource) -> dict[str, Any]:
    """What a search result shows besides the text fields, kept in the index to spare a database trip."""
    return {
        "thumbnail": resource.thumbnail,
        "author_url": resource.author_url,
        "license_label": resource.license_label,
        "license_url": resource.license_url,
        "attribution": resource.license_attribution,
        "grade_levels": list(resource.grade_levels),
        "keywords": list(resource.keywords),
    }


def to_document(resource: Resource) -> dict[str, Any]:
    """The Whoosh document of one resource."""
    return {
        "id": resource.id,
        "content_hash": resource.content_hash,
        "title": resource.title,
        "keywords": ", ".join(resource.keywords),
        "description": resource.description,
        "author": resource.author_name,
        "subject": resource.subject,
        "grade": ",".join(resource.grade_levels),
        "type": resource.type,
        "license": resource.license_id,
        "language": resource.language,
        "display": json.dumps(display_fields(resource), separators=(",", ":")),
        "title_sort": title_sort_key(resource.title),
    }


def title_sort_key(title: str) -> bytes:
    """The bytes titles are ordered by: case-folded, at most 64 bytes."""
    return title.casefold().strip().encode("utf-8")[:64]
