"""One analysis for indexed text and queries: tokens that matter survive, the rest folds the same way."""

from __future__ import annotations

import pytest

from marketplace.catalog.analysis import Analyzer
from marketplace.catalog.intent import find_audiences
from marketplace.catalog.query import parse_query


@pytest.fixture
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.mark.parametrize(("text", "stems"), [
    ("Introduction to Geology", ["introduct", "geologi"]),
    ("Fractions", ["fraction"]),
    ("fraction", ["fraction"]),
    ("rocks", ["rock"]),
    ("The Water Cycles", ["water", "cycle"]),
    ("MIT 12.001", ["mit", "12.001"]),
    ("pH of DNA", ["ph", "dna"]),
    ("World War II", ["world", "war", "ii"]),
    ("World War I", ["world", "war", "i"]),
    ("C++ and C#", ["c++", "c#"]),
    ("k-2", ["k", "2"]),
    ("H2O, CO2 and 3D", ["h2o", "co2", "3d"]),
    ("Newton's laws", ["newton", "law"]),
    ("U.S. history", ["us", "histori"]),
    ("Écosystème ÉLECTRICITÉ naïve", ["ecosystem", "electricit", "naiv"]),
    ("Vitamin C, May and the US", ["vitamin", "c", "mai", "us"]),
])
def test_analysis_keeps_what_teachers_search_for(analyzer: Analyzer, text: str, stems: list[str]) -> None:
    assert analyzer.stems(text) == stems


def test_query_words_go_through_the_same_analysis(analyzer: Analyzer) -> None:
    title = "The Fractions of a Pizza: Équivalent Parts"
    parsed = parse_query("the FRACTION of a pizza equivalent parts", analyzer=analyzer)
    assert parsed.content_stems() == tuple(analyzer.stems(title))
    assert parsed.ignored == ("the", "of", "a")


def test_stop_words_alone_leave_nothing_to_require() -> None:
    assert parse_query("the of and").is_empty


def test_question_words_are_optional_and_the_topic_required() -> None:
    parsed = parse_query("what is photosynthesis?")
    assert [clause.words for group in parsed.required for clause in group] == [("photosynthesis",)]
    assert [clause.words for clause in parsed.optional] == [("what",)]
    assert parsed.sequence == ("what", "photosynthesi")


def test_only_question_or_audience_words_become_the_topic() -> None:
    quiz = parse_query("a quiz")
    assert quiz.types == ("quiz",) and [c.words for g in quiz.required for c in g] == [("quiz",)]
    kids = parse_query("for kids")
    assert kids.grades == ("k-2", "3-5") and len(kids.required) == 1


@pytest.mark.parametrize(("text", "grades"), [
    ("photosynthesis for high school", ("9-12",)),
    ("algebra for college students", ("higher-ed",)),
    ("fractions lesson for 3rd grade", ("3-5",)),
    ("middle school ecosystems", ("6-8",)),
    ("k-2 counting", ("k-2",)),
    ("elementary fractions", ("k-2", "3-5")),
    ('"high school" chemistry', ()),  # quoted: a phrase, not an audience
])
def test_audience_words_name_grade_levels(text: str, grades: tuple[str, ...]) -> None:
    assert tuple(grade for audience in find_audiences(text) for grade in audience.grades) == grades
    assert parse_query(text).grades == grades


def test_exclusion_and_word_endings() -> None:
    parsed = parse_query("volcanoes -hawaii")
    assert [clause.words for clause in parsed.excluded] == [("hawaii",)]
    assert "hawaii" not in " ".join(parsed.sequence)
    endings = parse_query("-ar verbs")  # a Spanish verb ending, not an exclusion
    assert not endings.excluded and [c.words for g in endings.required for c in g] == [("ar",), ("verbs",)]


def test_subject_words_hint_their_subject() -> None:
    parsed = parse_query("cell biology")
    assert parsed.subjects == ("biology",)


@pytest.mark.parametrize("text", [
    "The Fractions of a Pizza: Équivalent Parts",
    "U.S. history and C++ for the k-2 class, Newton's laws at 12.001 m/s",
    "",
    "the of and",
])
def test_highlight_spans_are_the_tokens_with_stop_words_kept(analyzer: Analyzer, text: str) -> None:
    expected = [(token.text, token.startchar, token.endchar) for token in analyzer(text, removestops=False)]
    assert analyzer.spans(text) == expected
    assert analyzer.spans(text) == expected  # from the cache, the same


def test_highlight_marks_stems_prefixes_and_nothing_else(analyzer: Analyzer) -> None:
    from marketplace.catalog.highlight import highlight

    text = "The chloroplasts of plant cells: where photosynthesis happens"
    marked = [part for part, matched in highlight(text, analyzer, {"photosynthesi"}, ["chloro", "cel"]) if matched]
    assert marked == ["chloroplasts", "cells", "photosynthesis"]
    assert [part for part, matched in highlight(text, analyzer, {"the"}) if matched] == ["The"]  # a stop word asked
    assert highlight(text, analyzer, set()) == [(text, False)]
