"""Resource-link launches show the resource the link points at; a removed resource gets a friendly page."""

from __future__ import annotations

import pytest

from tests.lti.conftest import LtiEnvironment
from tests.lti.peer import LEARNER

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"


def launch_resource(lti: LtiEnvironment, resource_id: str) -> str:
    lti.peer.roles = [LEARNER]
    lti.peer.extra_claims = {CUSTOM: {"resource_id": resource_id}}
    page = lti.launch()
    assert page.status_code == 200, page.text[:400]
    return page.text


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        ("leaf-reading", ["<h2>Why leaves are green</h2>", "<li>red</li>", "&lt;script&gt;alert(1)&lt;/script&gt;"]),
        ("leaf-quiz", ["Green?", 'type="radio" name="q1"', "Submit answers"]),
        ("embed-snippet", ["Light makes <strong>sugar</strong>."]),
        ("leaf-image", ['alt="A green leaf"', 'width="640"']),
        ("leaf-worksheet", ["Download leaf.pdf", "/content/files/leaf.pdf"]),
        ("french-revolution", ["https://example.org/french-revolution", "Open “The French Revolution”"]),
    ],
)
def test_each_type_renders_for_the_learner(extras: LtiEnvironment, resource_id: str, expected: list[str]) -> None:
    text = launch_resource(extras, resource_id)
    for fragment in expected:
        assert fragment in text
    assert "<script>alert(1)</script>" not in text
    assert "explanation" not in text and '"answer"' not in text  # the answer key stays on the server


def test_a_removed_resource_gets_a_friendly_page(extras: LtiEnvironment) -> None:
    extras.peer.extra_claims = {CUSTOM: {"resource_id": "gone-from-the-catalog"}}
    page = extras.launch()
    assert page.status_code == 404
    assert "no longer in the catalog" in page.text and "Traceback" not in page.text


def test_public_resource_page(extras: LtiEnvironment) -> None:
    page = extras.browser.get(extras.tool_url + "/resources/leaf-reading")
    assert page.status_code == 200 and "Why leaves are green" in page.text
    quiz = extras.browser.get(extras.tool_url + "/resources/leaf-quiz")
    assert "Open this quiz from your course to have it graded." in quiz.text
    assert extras.browser.get(extras.tool_url + "/resources/nope").status_code == 404
