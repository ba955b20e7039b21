"""marked(): the search's highlight parts as HTML, in Python instead of a template loop."""

from __future__ import annotations

from markupsafe import Markup

from marketplace.web.template_text import marked


def test_matched_parts_are_marked_and_every_part_is_escaped() -> None:
    parts = [{"text": "Cells & ", "match": False}, {"text": "<plants>", "match": True},
             {"text": " \"under\" 'glass'", "match": False}]
    html = marked(parts)
    assert isinstance(html, Markup)
    assert html == "Cells &amp; <mark>&lt;plants&gt;</mark> &#34;under&#34; &#39;glass&#39;"
    assert marked([]) == ""


def test_it_renders_as_the_template_loop_did() -> None:
    from jinja2 import Environment

    loop = Environment(autoescape=True).from_string(
        "{% for part in parts %}{% if part.match %}<mark>{{ part.text }}</mark>{% else %}{{ part.text }}{% endif %}"
        "{% endfor %}")
    parts = [{"text": text, "match": number % 2 == 1}
             for number, text in enumerate(["Fractions ", "with", " <pizza> & ", "slices", ""])]
    assert str(marked(parts)) == loop.render(parts=parts)
