"""The sandbox LMS: each placement clicked through the real login, launch, picker and signed response, and
rendered as Canvas would; its auth endpoint and return endpoint refuse what a strict platform refuses."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from marketplace.sandbox import canvas, sandbox_enabled
from marketplace.sandbox.course import CourseStore, Delivery
from marketplace.sandbox.keys import load_or_create_key
from marketplace.sandbox.registration import CLIENT_ID, DEPLOYMENT_ID, ensure_sandbox_registration
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import DeploymentRow, PlatformRow
from marketplace.web.services import services
from tests.lti.peer import form_fields
from tests.sandbox.conftest import SandboxEnvironment

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-deep-linking.json").read_text())
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def open_links(page: str, as_user: str | None = None) -> list[str]:
    """The page's launch links that open as `as_user` (a key of canvas.USERS), or with None the plain links,
    which open as Sam Student."""
    links = [html.unescape(link) for link in re.findall(r'href="([^"]*/sandbox/open/[^"]+)"', page)]
    if as_user is None:
        return [link for link in links if "?as=" not in link]
    return [link for link in links if link.endswith(f"?as={as_user}")]


def check_deep_linking_claims(claims: dict[str, Any], env: SandboxEnvironment, placement: str) -> None:
    expected = dict(FIXTURE["deep_linking_settings_by_placement"][placement])
    expected["deep_link_return_url"] = f"{env.url}/sandbox/return/{placement}"
    assert claims[canvas.DL_SETTINGS] == expected
    assert claims[canvas.PLACEMENT_CLAIM] == placement
    assert claims[canvas.LTI + "message_type"] == "LtiDeepLinkingRequest"
    assert claims["iss"] == f"{env.url}/sandbox" and claims["aud"] == CLIENT_ID == claims["azp"]
    assert claims[canvas.LTI + "deployment_id"] == DEPLOYMENT_ID
    assert claims[canvas.LTI + "context"]["title"] == "Sandbox course"
    presentation = claims[canvas.LTI + "launch_presentation"]
    assert (presentation["width"], presentation["height"]) == (800, 600)
    assert presentation["return_url"] == f"{env.url}/sandbox"


def test_the_sandbox_sends_canvass_settings_for_every_placement() -> None:
    for placement in canvas.PLACEMENTS:
        sent = canvas.deep_linking_settings(placement, "https://lms.example/return")
        assert sent.pop("deep_link_return_url") == "https://lms.example/return"
        assert sent == FIXTURE["deep_linking_settings_by_placement"][placement]


def test_the_course_page_offers_the_four_placements(sandbox: SandboxEnvironment) -> None:
    page = sandbox.browser.get(sandbox.url + "/sandbox")
    assert page.status_code == 200
    assert "<h1>Sandbox course</h1>" in page.text
    for placement, label in canvas.LABELS.items():
        assert f'href="{sandbox.url}/sandbox/start/{placement}"' in page.text and f">{label}</a>" in page.text
    assert "Nothing yet." in page.text
    # Visiting registered the sandbox with the tool, once however often it is visited.
    sandbox.browser.get(sandbox.url + "/sandbox")
    engine = make_engine(sandbox.settings.database_url)
    with make_session_factory(engine)() as session:
        platforms = list(session.scalars(select(PlatformRow).where(PlatformRow.client_id == CLIENT_ID)))
        assert [(row.issuer, row.key_set_url, row.auth_login_url) for row in platforms] == [
            (f"{sandbox.url}/sandbox", f"{sandbox.url}/sandbox/jwks", f"{sandbox.url}/sandbox/auth")]
        deployments = list(session.scalars(select(DeploymentRow).where(DeploymentRow.platform_id == platforms[0].id)))
        assert [(row.deployment_id, row.status) for row in deployments] == [(DEPLOYMENT_ID, "active")]
    engine.dispose()


def test_editor_button_inserts_html_images_and_links_into_the_page(sandbox: SandboxEnvironment) -> None:
    walk = sandbox.walk("editor_button", ["embed-snippet", "leaf-image", "leaf-worksheet", "leaf-quiz",
                                          "french-revolution"])
    check_deep_linking_claims(walk.auth_claims, sandbox, "editor_button")
    assert walk.auth_claims["name"] == "Ada Teacher" and INSTRUCTOR in walk.auth_claims[canvas.LTI + "roles"]
    assert walk.returned is not None and walk.returned.headers["location"].endswith("#editor_button")
    assert walk.course is not None
    page = walk.course.text
    assert "The course received 5 items" in page and "from the Editor button launch." in page
    # The html snippet runs in a sandboxed frame with no permissions, never in the course page itself.
    assert ('<iframe class="sandbox-html" sandbox="" srcdoc="&lt;p&gt;Light makes &lt;strong&gt;sugar&lt;/strong&gt;'
            '.&lt;/p&gt;&lt;p class=&#34;attribution&#34;&gt;&lt;small&gt;Leaf html resource by the Editors, '
            'LTI Marketplace (CC BY 4.0)') in page
    # The image comes as a figure with its credit as the caption (an image item has no place for one).
    assert re.search(r'srcdoc="&lt;figure&gt;&lt;img src=&#34;https://upload.example/leaf.png&#34; '
                     r'alt=&#34;A green leaf&#34;.*Leaf image resource by the Editors', page)
    assert "inserts the thumbnail linked to the image" not in page
    assert f'<a href="{sandbox.url}/content/files/leaf.pdf" title="Leaf file resource"' in page
    assert '<a href="https://example.org/french-revolution" title="The French Revolution"' in page
    assert "Canvas embeds “Leaf quiz resource” here as a 800×600 frame" in page
    # The inserted quiz link is a real resource-link launch: the student sees the quiz.
    assert open_links(page) == []  # the frame offers each member of the course instead
    assert len(open_links(page, "instructor")) == len(open_links(page, "student2")) == 1
    [quiz_link] = open_links(page, "student")
    claims, quiz = sandbox.launch(quiz_link.removeprefix(sandbox.url))
    assert quiz.status_code == 200 and "Green?" in quiz.text
    assert claims[canvas.LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[canvas.LTI + "custom"]["resource_id"] == "leaf-quiz"
    assert claims[canvas.LTI + "custom"]["attribution"].startswith("Leaf quiz resource by the Editors")
    assert claims[canvas.LTI + "resource_link"]["title"] == "Leaf quiz resource"
    assert claims["name"] == "Sam Student" and LEARNER in claims[canvas.LTI + "roles"]


def test_module_link_adds_module_items(sandbox: SandboxEnvironment) -> None:
    walk = sandbox.walk("link_selection", ["leaf-quiz", "plant-cells"])
    check_deep_linking_claims(walk.auth_claims, sandbox, "link_selection")
    assert walk.course is not None
    page = walk.course.text
    module = page[page.index('id="modules-heading"'):page.index('id="assignments-heading"')]
    assert re.search(r'<a href="[^"]+/sandbox/open/\w+/0">Leaf quiz resource</a>', module)
    assert re.search(r'<a href="[^"]+/sandbox/open/\w+/1">Plant cells under the microscope</a>', module)
    assert "graded, Points: 2" in module
    _, opened = sandbox.launch(open_links(module)[1].removeprefix(sandbox.url))
    assert opened.status_code == 200 and "Plant cells under the microscope" in opened.text


def test_assignment_shows_its_points(sandbox: SandboxEnvironment) -> None:
    walk = sandbox.walk("assignment_selection", ["plant-cells"], points="15")
    check_deep_linking_claims(walk.auth_claims, sandbox, "assignment_selection")
    assert 'type="radio"' in walk.picker.text
    assert walk.course is not None
    page = walk.course.text
    assignments = page[page.index('id="assignments-heading"'):page.index('id="submissions-heading"')]
    assert "<h4>Plant cells under the microscope</h4>" in assignments
    assert '<p class="sandbox-points">Points: 15</p>' in assignments
    assert "A look at chloroplasts" not in assignments  # the teacher's own description is kept
    described = sandbox.walk("assignment_selection", ["plant-cells"], points="15", use_description="yes")
    assert described.course is not None and "A look at chloroplasts" in described.course.text


def test_homework_submission_is_made_by_the_student(sandbox: SandboxEnvironment) -> None:
    walk = sandbox.walk("homework_submission", ["leaf-worksheet"])
    check_deep_linking_claims(walk.auth_claims, sandbox, "homework_submission")
    assert walk.auth_claims["name"] == "Sam Student" and walk.auth_claims["sub"] == "sandbox-user-sam"
    roles = walk.auth_claims[canvas.LTI + "roles"]
    assert LEARNER in roles and INSTRUCTOR not in roles
    assert "Submit your work" in walk.picker.text
    assert walk.course is not None
    page = walk.course.text
    submissions = page[page.index('id="submissions-heading"'):page.index('id="raw-heading"')]
    assert "<h4>Submission by Sam Student</h4>" in submissions
    assert f'File: <a href="{sandbox.url}/content/files/leaf.pdf">leaf.pdf</a>' in submissions


def tool_auth_request(sandbox: SandboxEnvironment, placement: str = "editor_button") -> str:
    """The URL the tool sends the browser to at /sandbox/auth."""
    start = sandbox.browser.get(f"{sandbox.url}/sandbox/start/{placement}")
    login = sandbox.browser.get(start.headers["location"])
    assert login.status_code == 302
    return str(login.headers["location"])


def test_the_auth_endpoint_refuses_requests_a_strict_platform_refuses(sandbox: SandboxEnvironment) -> None:
    url = tool_auth_request(sandbox)
    params = query_of(url)
    bent = {
        "redirect_uri": ({"redirect_uri": "https://evil.example/launch"}, "redirect_uri is 'https://evil.example"),
        "prompt": ({"prompt": "login"}, "prompt is 'login', expected 'none'"),
        "login_hint": ({"login_hint": "sandbox-user-sam"}, "login_hint is 'sandbox-user-sam'"),
        "hint": ({"lti_message_hint": params["lti_message_hint"] + "x"}, "lti_message_hint is not one this sandbox"),
        "nonce": ({"nonce": ""}, "nonce is missing"),
        "client_id": ({"client_id": "other"}, "client_id is 'other'"),
    }
    for name, (change, sentence) in bent.items():
        refused = sandbox.browser.get(f"{sandbox.url}/sandbox/auth?" + urlencode({**params, **change}))
        assert refused.status_code == 400, name
        assert sentence in html.unescape(refused.text), (name, refused.text)
        assert "id_token" not in refused.text
    assert sandbox.browser.get(url).status_code == 200


def test_a_hint_from_another_secret_or_an_old_one_is_refused(sandbox: SandboxEnvironment) -> None:
    params = query_of(tool_auth_request(sandbox))
    body = jwt.decode(params["lti_message_hint"], options={"verify_signature": False})
    forged = jwt.encode(body, b"not the sandbox's key at all, 32b", algorithm="HS256")
    refused = sandbox.browser.get(f"{sandbox.url}/sandbox/auth?" + urlencode({**params, "lti_message_hint": forged}))
    assert refused.status_code == 400 and "lti_message_hint is not one this sandbox issued" in refused.text


def test_the_return_endpoint_verifies_the_tools_signature_and_takes_each_response_once(
    sandbox: SandboxEnvironment,
) -> None:
    walk = sandbox.walk("link_selection", ["plant-cells"])
    assert walk.response_page is not None
    _, fields = form_fields(walk.response_page.text)
    token = fields["JWT"]
    again = sandbox.browser.post(f"{sandbox.url}/sandbox/return/link_selection", data={"JWT": token})
    assert again.status_code == 409 and "already received" in again.text

    header = jwt.get_unverified_header(token)
    body = jwt.decode(token, options={"verify_signature": False})
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = foreign.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Signed with a key the tool never published: the library's signature check refuses it.
    forged = jwt.encode({**body, "nonce": "foreign"}, pem, algorithm="RS256", headers={"kid": header["kid"]})
    refused = sandbox.browser.post(f"{sandbox.url}/sandbox/return/link_selection", data={"JWT": forged})
    assert refused.status_code == 400 and "lti1p3platform refused the response" in refused.text
    # Properly signed but wrong: the sandbox's own checks refuse it.
    signing = services(sandbox.app).signing_keys
    engine = make_engine(sandbox.settings.database_url)
    with make_session_factory(engine)() as session:
        kid, key = signing.active(session)
    engine.dispose()
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("wrong aud", "link_selection", {"aud": ["https://canvas.instructure.com"]},
         "aud is ['https://canvas.instructure.com']"),
        ("old iat", "link_selection", {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 60}, "iat "),
        ("other deployment", "link_selection", {canvas.LTI + "deployment_id": "dep-2"}, "deployment_id is 'dep-2'"),
        ("wrong iss", "link_selection", {"iss": "someone-else"}, "iss is 'someone-else'"),
        ("data echo", "link_selection", {canvas.DL + "data": "x"}, "data is echoed"),
        ("two items", "assignment_selection", {canvas.CONTENT_ITEMS: [body[canvas.CONTENT_ITEMS][0]] * 2},
         "2 items came back where the request accepted one"),
    ]
    for name, placement, change, sentence in cases:
        forged = jwt.encode({**body, **change, "nonce": name}, key, algorithm="RS256", headers={"kid": kid})
        refused = sandbox.browser.post(f"{sandbox.url}/sandbox/return/{placement}", data={"JWT": forged})
        assert refused.status_code == 400 and sentence in html.unescape(refused.text), (name, refused.text)
    # A response for the editor (html items) is not what a module accepts.
    html_body = {**body, "nonce": "html", canvas.CONTENT_ITEMS: [{"type": "html", "html": "<p>x</p>"}]}
    forged = jwt.encode(html_body, key, algorithm="RS256", headers={"kid": kid})
    refused = sandbox.browser.post(f"{sandbox.url}/sandbox/return/link_selection", data={"JWT": forged})
    assert refused.status_code == 400 and "Content item type is not supported" in refused.text
    assert sandbox.browser.post(f"{sandbox.url}/sandbox/return/link_selection", data={}).status_code == 400


def test_tool_supplied_html_and_urls_cannot_run_scripts_in_the_course(sandbox: SandboxEnvironment) -> None:
    hostile = [
        {"type": "html", "html": '<script>alert("html")</script><img src=x onerror=alert(1)>', "title": "<b>t</b>"},
        {"type": "link", "url": "javascript:alert('link')", "title": "Click"},
        {"type": "image", "url": "data:text/html,<script>alert(2)</script>", "text": '"><script>alert(3)</script>'},
        {"type": "link", "url": "https://example.org/x", "title": "x", "text": "</a><script>alert(4)</script>"},
    ]
    store = CourseStore(sandbox.settings.data_dir / "sandbox")
    assert store.add(Delivery.new("editor_button", "instructor", hostile, {}), "n-1")
    page = sandbox.browser.get(sandbox.url + "/sandbox").text
    assert "<script>alert" not in page and "javascript:" not in page.split("<pre>")[0]
    assert 'onerror=alert(1)&gt;" title="&lt;b&gt;t&lt;/b&gt;"' in page
    assert 'href="data:' not in page and 'src="data:' not in page
    assert "&lt;/a&gt;&lt;script&gt;alert(4)&lt;/script&gt;</a>" in page
    assert sandbox.browser.post(sandbox.url + "/sandbox/reset").status_code == 303
    assert "Nothing yet." in sandbox.browser.get(sandbox.url + "/sandbox").text


def test_an_unknown_placement_or_link_is_a_404(sandbox: SandboxEnvironment) -> None:
    assert sandbox.browser.get(sandbox.url + "/sandbox/start/course_navigation").status_code == 404
    assert sandbox.browser.get(sandbox.url + "/sandbox/open/nope/0").status_code == 404
    assert sandbox.browser.post(sandbox.url + "/sandbox/return/nope", data={"JWT": "x"}).status_code == 404


def test_the_platform_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path)
    path = tmp_path / "sandbox" / "platform-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_key(tmp_path)
    assert first.kid == second.kid and first.public_jwk == second.public_jwk
    assert first.public_jwk["alg"] == "RS256" and "d" not in first.public_jwk
    assert [entry.name for entry in path.parent.iterdir()] == ["platform-key.pem"]


def test_registration_is_idempotent(settings: Settings) -> None:
    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        first = ensure_sandbox_registration(session, settings)
        session.commit()
        second = ensure_sandbox_registration(session, settings)
        session.commit()
        assert first.id == second.id and first.issuer == "http://127.0.0.1:8000/sandbox"
        assert len(list(session.scalars(select(DeploymentRow)))) == 1
    engine.dispose()


def test_production_never_has_the_sandbox(settings: Settings) -> None:
    assert sandbox_enabled(dataclasses.replace(settings, environment="development"))
    assert sandbox_enabled(dataclasses.replace(settings, environment="test"))
    assert not sandbox_enabled(dataclasses.replace(settings, environment="production"))


def test_the_page_warns_when_opened_away_from_the_base_url(sandbox: SandboxEnvironment) -> None:
    elsewhere = sandbox.browser.get(sandbox.url.replace("127.0.0.1", "localhost") + "/sandbox")
    assert elsewhere.status_code == 200 and "so launches go there" in elsewhere.text
    assert "so launches go there" not in sandbox.browser.get(sandbox.url + "/sandbox").text


def test_only_the_course_page_can_clear_the_course(sandbox: SandboxEnvironment) -> None:
    cross_site = sandbox.browser.post(sandbox.url + "/sandbox/reset", headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    same_site = sandbox.browser.post(sandbox.url + "/sandbox/reset", headers={"Origin": sandbox.url})
    assert same_site.status_code == 303
