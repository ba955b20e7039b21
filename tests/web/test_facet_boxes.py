"""The facet checkboxes of the picker and of the catalog page, and the catalog's count updates, are built in
Python (template_text), from fragments escaped once: the HTML must be the Jinja loops', byte for byte, for any
counts and selections, and escape what it shows."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import DictLoader, Environment, select_autoescape

from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.vocabulary import FACET_LEGENDS, FACETS
from marketplace.web.template_text import catalog_facet_boxes, facet_boxes, facet_count_updates
from tests.conftest import PROJECT_DIR

# templates/_picker_facets.html before the rows moved to Python.
JINJA_LOOP = (
    '{% set selected = search.filters() if search else {} %}\n<div class="picker-facets">\n'
    '  {% for facet, values in facet_labels.items() %}\n  <fieldset>\n    <legend>{{ facet_legends[facet] }}'
    '</legend>\n    {% for value, label in values.items() %}{% set count = result.facets[facet][value] %}\n'
    '      {% if count or value in selected.get(facet, ()) %}\n      <div class="facet-row"><input '
    'class="facet-option" type="checkbox" form="picker-search" name="{{ facet }}" value="{{ value }}" '
    'id="pf-{{ facet }}-{{ value }}"{% if value in selected.get(facet, ()) %} checked{% endif %}>\n'
    '        <label for="pf-{{ facet }}-{{ value }}">{{ label }} ({{ count }})</label></div>\n'
    '      {% endif %}\n    {% endfor %}\n  </fieldset>\n  {% endfor %}\n</div>\n'
)

# templates/catalog.html's checkboxes and templates/_results.html's count updates, before they moved to Python.
CATALOG_LOOP = (
    '      {% set selected = search.filters() %}\n      {% for facet, values in facet_labels.items() %}\n'
    '      <fieldset>\n        <legend>{{ facet_legends[facet] }}</legend>\n        {% for value, label in '
    'values.items() %}\n        <div class="facet-row">\n          <input class="facet-option" type="checkbox" '
    'id="f-{{ facet }}-{{ value }}" name="{{ facet }}" value="{{ value }}"\n                 {% if value in '
    'selected[facet] %}checked{% endif %}>\n          <label for="f-{{ facet }}-{{ value }}">{{ label }} <span '
    'class="count" id="count-{{ facet }}-{{ value }}">({{ result.facets[facet][value] }})</span></label>\n'
    '        </div>\n        {% endfor %}\n      </fieldset>\n      {% endfor %}\n'
)
COUNTS_LOOP = (
    '{% for facet, counts in result.facets.items() %}{% for value, count in counts.items() %}\n'
    '<span class="count" id="count-{{ facet }}-{{ value }}" hx-swap-oob="true">({{ count }})</span>\n'
    '{% endfor %}{% endfor %}\n'
)


class _Result:
    def __init__(self, facets: dict[str, dict[str, int]]) -> None:
        self.facets = facets


def _environment() -> Environment:
    environment = Environment(loader=DictLoader({
        "loop.html": JINJA_LOOP,
        "now.html": (PROJECT_DIR / "templates" / "_picker_facets.html").read_text(encoding="utf-8"),
        "catalog_loop.html": CATALOG_LOOP,
        "catalog_now.html": _line_of("catalog.html", "catalog_facet_boxes("),
        "counts_loop.html": COUNTS_LOOP,
        "counts_now.html": _line_of("_results.html", "facet_count_updates("),
    }), autoescape=select_autoescape(default=True))
    environment.globals.update(facet_boxes=facet_boxes, catalog_facet_boxes=catalog_facet_boxes,
                               facet_count_updates=facet_count_updates)
    return environment


def _line_of(template: str, call: str) -> str:
    """The line of a shipped template that calls `call` (what replaced the loop), with its newline."""
    text = (PROJECT_DIR / "templates" / template).read_text(encoding="utf-8")
    return next(line for line in text.splitlines(keepends=True) if call in line)


ENVIRONMENT = _environment()
VALUES = [(facet, value) for facet, values in FACETS.items() for value in values]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(VALUES), st.integers(0, 5000)),
       st.lists(st.sampled_from(VALUES), unique=True), st.booleans())
def test_the_rows_are_the_jinja_loops_html(counted: dict[tuple[str, str], int], chosen: list[tuple[str, str]],
                                           searched: bool) -> None:
    facets = {facet: {value: count for (name, value), count in counted.items() if name == facet} for facet in FACETS}
    picked = {facet: tuple(value for name, value in chosen if name == facet) for facet in FACETS}
    search = SearchRequest(text="x", subjects=picked["subject"], grades=picked["grade"], types=picked["type"],
                           allows=picked["allows"], licenses=picked["license"]) if searched else None
    context = {"facet_labels": FACETS, "facet_legends": FACET_LEGENDS, "result": _Result(facets), "search": search}
    for now, loop in (("now.html", "loop.html"), ("counts_now.html", "counts_loop.html")):
        assert ENVIRONMENT.get_template(now).render(context) == ENVIRONMENT.get_template(loop).render(context)
    catalog = {**context, "search": search or SearchRequest()}  # the catalog page always has a search
    assert ENVIRONMENT.get_template("catalog_now.html").render(catalog) == \
        ENVIRONMENT.get_template("catalog_loop.html").render(catalog)


def test_what_the_rows_show_is_escaped() -> None:
    labels = {"subject": {'a"b': "Art & <b>design</b>"}}
    html = str(facet_boxes(labels, {"subject": "Sub<ject>"}, {"subject": {'a"b': 3}}, {}))
    assert 'value="a&#34;b"' in html and "Art &amp; &lt;b&gt;design&lt;/b&gt; (3)" in html
    assert "<legend>Sub&lt;ject&gt;</legend>" in html and "<b>" not in html
    html = str(catalog_facet_boxes(labels, {"subject": "S"}, {"subject": {'a"b': 3}}, {"subject": ()}))
    assert 'id="f-subject-a&#34;b"' in html and "Art &amp; &lt;b&gt;design&lt;/b&gt; <span" in html
    assert 'id="count-x&lt;-a&#34;b"' in str(facet_count_updates({"x<": {'a"b': 2}}))
