"""The Whoosh schema of the catalog index, and the analysis of a Resource into its index document.

Text is analysed once, here (tokenise, lower-case, drop stop words, stem), and the stems feed both the
Whoosh fields (through a plain whitespace tokenizer) and the forward index. Analysing in Whoosh and again
for the forward index would cost a quarter more build time. The original texts are stored for display.
No field keeps positions: phrases come from the forward index, which keeps posting blocks small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema

from marketplace.catalog.analysis import Analyzer, fold, shared_analyzer
from marketplace.catalog.resource import Resource
from marketplace.catalog.sources import source_name
from marketplace.catalog.thumbnails import resource_picture

TITLE_BOOST = 3.0
KEYWORDS_BOOST = 2.0
STEMMED_FIELDS = ("title", "keywords", "description")
SOURCE_BOUNDARY = ""


def word_analyzer() -> Analyzer:
    """Tokenise, fold, drop stop words, stem: what every indexed text and every query word goes through."""
    return shared_analyzer()


@dataclass(frozen=True, slots=True)
class AnalyzedResource:
    """The stems of a resource's texts, in order."""

    title: list[str]
    description: list[str]
    author: list[str]
    keywords: list[list[str]]

    def forward_sequence(self) -> list[str]:
        """All stems in reading order, with a boundary after each source (and each keyword), so that no
        phrase runs from one source into the next, nor from one document into the next in the flat array."""
        sequence = [*self.title, SOURCE_BOUNDARY, *self.description, SOURCE_BOUNDARY, *self.author]
        for keyword in self.keywords:
            sequence.append(SOURCE_BOUNDARY)
            sequence.extend(keyword)
        sequence.append(SOURCE_BOUNDARY)
        return sequence


def analyze(resource: Resource, analyzer: Analyzer) -> AnalyzedResource:
    stems = analyzer.stems
    return AnalyzedResource(
        stems(resource.title),
        stems(resource.description),
        stems(resource.author_name),
        [stems(keyword) for keyword in resource.keywords],
    )


def build_schema() -> Schema:
    """A fresh schema (Whoosh field objects are mutable, so never share one between indexes)."""
    stems = SpaceSeparatedTokenizer()
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),
        content_hash=ID(stored=True),
        title=TEXT(analyzer=stems, field_boost=TITLE_BOOST, phrase=False),
        keywords=TEXT(analyzer=stems, field_boost=KEYWORDS_BOOST, phrase=False),
        description=TEXT(analyzer=stems, phrase=False),
        author=TEXT(analyzer=stems, phrase=False),
        author_text=STORED(),
        subject=ID(stored=True),
        grade=KEYWORD(stored=True, commas=True, scorable=False),
        type=ID(stored=True),
        license=ID(stored=True),
        language=ID(stored=True),
        title_text=STORED(),
        description_text=STORED(),
        display=STORED(),
        # A column rather than stored text: sorting 100,000 titles reads one compact column.
        title_sort=COLUMN(VarBytesColumn()),
    )


def display_fields(resource: Resource) -> dict[str, Any]:
    """What a search result shows besides the text fields, kept in the index to spare a database trip.

    `picture` is the local thumbnail made when indexing (the resource arrives as a PicturedResource), else
    the type's icon; `thumbnail` stays the catalog's own value, for callers that still read it.
    """
    return {
        "thumbnail": resource.thumbnail,
        "picture": resource_picture(resource),
        "source": source_name(resource),
        "author_url": resource.author_url,
        "license_label": resource.license_label,
        "license_url": resource.license_url,
        "attribution": resource.license_attribution,
        "grade_levels": list(resource.grade_levels),
        "keywords": list(resource.keywords),
    }


def to_document(resource: Resource, analyzed: AnalyzedResource) -> dict[str, Any]:
    """The Whoosh document of one resource."""
    return {
        "id": resource.id,
        "content_hash": resource.content_hash,
        "title": " ".join(analyzed.title),
        "keywords": " ".join(stem for keyword in analyzed.keywords for stem in keyword),
        "description": " ".join(analyzed.description),
        "author": " ".join(analyzed.author),
        "author_text": resource.author_name,
        "subject": resource.subject,
        "grade": ",".join(resource.grade_levels),
        "type": resource.type,
        "license": resource.license_id,
        "language": resource.language,
        "title_text": resource.title,
        "description_text": resource.description,
        "display": json.dumps(display_fields(resource), separators=(",", ":")),
        "title_sort": title_sort_key(resource.title),
    }


def title_sort_key(title: str) -> bytes:
    """The bytes titles are ordered by: case and accents folded like search words ("Écologie" sorts with
    the E's, not after "Zebra"), at most 64 bytes."""
    return fold(title).strip().encode("utf-8")[:64]
