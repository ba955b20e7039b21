"""Login and launch over real HTTP against the loopback platform peer: valid launches, every refusal."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from marketplace.lti import launch_token
from marketplace.store.models import DeploymentRow, LaunchRow, LoginStateRow, PlatformRow
from marketplace.store.registrations import approve_deployment
from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment
from tests.lti.peer import CLIENT_ID, DL_SETTINGS, INSTRUCTOR, LEARNER, Scenario, form_fields

FIXTURE = json.loads((Path(__file__).parent.parent / "fixtures" / "canvas-deep-linking.json").read_text())
VERSION = "https://purl.imsglobal.org/spec/lti/claim/version"
MESSAGE_TYPE = "https://purl.imsglobal.org/spec/lti/claim/message_type"
ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"
DEPLOYMENT = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
RESOURCE_LINK = "https://purl.imsglobal.org/spec/lti/claim/resource_link"


def page_token(page: httpx.Response) -> str:
    """The launch token the page carries in its htmx headers."""
    found = re.search(r'"X-Launch-Token": "([^"]+)"', html.unescape(page.text))
    assert found, page.text[:400]
    return found.group(1)


def whoami(lti: LtiEnvironment, page: httpx.Response) -> dict[str, Any]:
    token = page_token(page)
    response = lti.browser.get(lti.tool_url + "/lti/whoami", headers={launch_token.HEADER: token})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def assert_refused(response: httpx.Response, check: str, status: int = 400, words: str = "") -> None:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert response.headers.get("x-lti-check") == check
    assert "Traceback" not in response.text and "reference" in response.text
    if words:
        assert words in response.text


def test_resource_link_launch_for_an_instructor(lti: LtiEnvironment) -> None:
    page = lti.launch()
    assert page.status_code == 200, page.text[:500]
    assert "Welcome, Ada Teacher" in page.text and "Biology 101" in page.text
    assert "hx-headers" in page.text
    data = whoami(lti, page)
    assert data["roles"] == [INSTRUCTOR] and data["message_type"] == "LtiResourceLinkRequest"
    assert data["deployment_id"] == "dep-1" and data["context_id"] == "course-1"
    assert not lti.peer.auth_failures, lti.peer.auth_failures  # the peer's strict auth-request checks passed
    with lti.sessions() as session:
        row = session.scalars(select(LaunchRow)).one()
        assert row.confirmed_at is not None and row.user_sub == "user-1"
        assert row.context["id"] == "course-1" and row.claims["sub"] == "user-1" and row.selection == []
        assert session.scalars(select(LoginStateRow)).one().consumed_at is not None
        # Not answered: SQL NULLs (the row is written as a Core insert; None there would be JSON null).
        unanswered = select(LaunchRow.id).where(LaunchRow.response_items.is_(None), LaunchRow.responded_at.is_(None))
        assert session.scalars(unanswered).one() == row.id


def test_resource_link_launch_for_a_learner(lti: LtiEnvironment) -> None:
    lti.peer.roles = [LEARNER]
    page = lti.launch()
    assert page.status_code == 200
    assert whoami(lti, page)["roles"] == [LEARNER]


@pytest.mark.parametrize("placement", sorted(FIXTURE["deep_linking_settings_by_placement"]))
def test_canvas_shaped_deep_linking_launch(lti: LtiEnvironment, placement: str) -> None:
    claims = dict(FIXTURE["example_id_token_claims_editor_button"])
    for key in ("iss", "aud", "azp", "sub", "iat", "exp", "nonce", DEPLOYMENT,
                "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"):
        claims.pop(key, None)
    settings = dict(FIXTURE["deep_linking_settings_by_placement"][placement])
    settings["deep_link_return_url"] = "https://school.instructure.com/courses/1/deep_linking_response?data=x"
    claims[DL_SETTINGS] = settings
    claims["https://www.instructure.com/placement"] = placement
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = claims
    if placement == "homework_submission":  # a student's placement: the picker refuses teaching roles
        claims[ROLES] = [LEARNER]
    page = lti.launch()
    assert page.status_code == 200, page.text[:400]
    data = whoami(lti, page)
    assert data["message_type"] == "LtiDeepLinkingRequest"
    partial = lti.browser.get(lti.tool_url + "/lti/whoami",
                              headers={launch_token.HEADER: page_token(page), "HX-Request": "true"})
    assert f"({placement})" in partial.text
    # The Canvas school's own origin, learned from the verified launch, may now frame the tool.
    time.sleep(0.05)
    services(lti.app).frame_ancestors.invalidate()
    csp = lti.browser.get(lti.tool_url + "/healthz").headers["content-security-policy"]
    assert "https://example.instructure.com" in csp  # the fixture's return_url origin


def test_generic_deep_linking_launch(lti: LtiEnvironment) -> None:
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = {DL_SETTINGS: {"accept_types": ["ltiResourceLink"], "deep_link_return_url":
                                           lti.peer.issuer + "/return", "accept_presentation_document_targets":
                                           ["iframe"], "data": "opaque"}}
    page = lti.launch()
    assert page.status_code == 200
    assert whoami(lti, page)["message_type"] == "LtiDeepLinkingRequest"


CERTIFICATION_REFUSALS = [
    ("no kid", Scenario(header={"kid": None}), "no_kid"),
    ("wrong kid", Scenario(header={"kid": "not-a-platform-key"}), "unknown_kid"),
    ("wrong LTI version", Scenario(claims={VERSION: "1.2.0"}), "bad_version"),
    ("no LTI version", Scenario(claims={VERSION: None}), "bad_version"),
    ("not a JWT", Scenario(signer="raw", raw_token="this-is-not-a-jwt"), "not_jwt"),
    ("missing message_type", Scenario(claims={MESSAGE_TYPE: None}), "missing_message_type"),
    ("missing roles", Scenario(claims={ROLES: None}), "missing_roles"),
    ("missing deployment_id", Scenario(claims={DEPLOYMENT: None}), "missing_deployment_id"),
    ("missing resource_link id", Scenario(claims={RESOURCE_LINK: {"title": "x"}}), "missing_resource_link"),
    ("expired", Scenario(mutate=lambda c: c.update(iat=c["iat"] - 3600, exp=c["iat"] - 3000)), "expired"),
    ("iat far in the future", Scenario(mutate=lambda c: c.update(iat=c["iat"] + 3600, exp=c["iat"] + 7200)),
     "iat_future"),
    ("no exp", Scenario(claims={"exp": None}), "missing_claim"),
    ("wrong iss", Scenario(claims={"iss": "https://evil.example"}), "unknown_iss"),
    ("wrong aud", Scenario(claims={"aud": "someone-else", "azp": "someone-else"}), "wrong_aud"),
    ("bad azp", Scenario(claims={"aud": [CLIENT_ID, "other"], "azp": "other"}), "bad_azp"),
    ("several audiences, no azp", Scenario(claims={"aud": [CLIENT_ID, "other"], "azp": None}), "bad_azp"),
    ("alg none", Scenario(signer="none"), "bad_alg"),
    ("HS256 signed with the platform's public key", Scenario(signer="hs256-public"), "bad_alg"),
    ("tampered payload", Scenario(tamper=True), "bad_signature"),
    ("signed by another key under the platform's kid", Scenario(signer="foreign"), "bad_signature"),
    ("no sub", Scenario(claims={"sub": None}), "missing_sub"),
    ("unsupported message type", Scenario(claims={MESSAGE_TYPE: "LtiSubmissionReviewRequest"}), "bad_message_type"),
    ("nonce not the one issued", Scenario(claims={"nonce": "made-up"}), "nonce_mismatch"),
    ("nonce a number", Scenario(claims={"nonce": 12345}), "nonce_mismatch"),
    ("nonce an object", Scenario(claims={"nonce": {"value": "x"}}), "nonce_mismatch"),
]


@pytest.mark.parametrize(
    ("case", "scenario", "check"), CERTIFICATION_REFUSALS, ids=[case[0] for case in CERTIFICATION_REFUSALS]
)
def test_invalid_launches_are_refused(lti: LtiEnvironment, case: str, scenario: Scenario, check: str) -> None:
    lti.peer.scenario = scenario
    assert_refused(lti.launch(), check)
    with lti.sessions() as session:
        assert session.scalars(select(LaunchRow)).first() is None


def test_deep_linking_without_return_url_is_refused(lti: LtiEnvironment) -> None:
    lti.peer.message_type = "LtiDeepLinkingRequest"
    lti.peer.extra_claims = {DL_SETTINGS: {"accept_types": ["ltiResourceLink"]}}
    assert_refused(lti.launch(), "missing_deep_linking_settings")


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("several roles", {ROLES: [INSTRUCTOR, LEARNER, "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]}),
        ("unknown role", {ROLES: ["http://example.org/roles#Wizard"]}),
        ("no role", {ROLES: []}),
        ("no name or email", {"name": None, "email": None, "given_name": None, "family_name": None}),
    ],
)
def test_valid_variants_are_accepted(lti: LtiEnvironment, case: str, claims: dict[str, Any]) -> None:
    lti.peer.scenario = Scenario(claims=claims)
    page = lti.launch()
    assert page.status_code == 200, page.text[:400]
    if case == "no name or email":
        assert "Welcome, Anonymous user" in page.text


def test_a_replayed_id_token_is_refused(lti: LtiEnvironment) -> None:
    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    assert lti.browser.post(action, data=fields).status_code == 303
    assert_refused(lti.browser.post(action, data=fields), "replayed", words="This launch was already used.")


def test_a_login_that_took_too_long_is_refused_every_time(lti: LtiEnvironment) -> None:
    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    with lti.sessions() as session:
        row = session.get(LoginStateRow, fields["state"])
        assert row is not None
        row.expires_at = row.created_at - timedelta(seconds=1)
        session.commit()
    for _ in range(2):
        assert_refused(lti.browser.post(action, data=fields), "state_expired", words="took too long")


def test_state_mismatch_is_refused(lti: LtiEnvironment) -> None:
    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    assert_refused(lti.browser.post(action, data={**fields, "state": "forged-state"}), "unknown_state")


def test_a_browser_without_the_state_cookie_is_refused(lti: LtiEnvironment) -> None:
    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    lti.browser.cookies.clear()
    assert_refused(lti.browser.post(action, data=fields), "state_not_bound", words="new window")


def test_an_unknown_deployment_is_recorded_as_pending_until_approved(lti: LtiEnvironment) -> None:
    lti.peer.scenario = Scenario(claims={DEPLOYMENT: "dep-new"})
    assert_refused(lti.launch(), "pending_deployment", status=403, words="marketplace deployment approve")
    with lti.sessions() as session:
        row = session.scalars(select(DeploymentRow).where(DeploymentRow.deployment_id == "dep-new")).one()
        assert row.status == "pending"
        assert_refused(lti.launch(), "pending_deployment", status=403)
        approve_deployment(session, row)
        session.commit()
    assert lti.launch().status_code == 200


def test_a_launch_refused_while_its_deployment_waits_cannot_be_replayed_after_approval(
        lti: LtiEnvironment) -> None:
    lti.peer.scenario = Scenario(claims={DEPLOYMENT: "dep-new"})
    refused_forms = []
    for _ in range(2):  # the first launch records the deployment; the second finds it still pending
        login = lti.browser.get(lti.peer.login_url())
        action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
        assert_refused(lti.browser.post(action, data=fields), "pending_deployment", status=403)
        refused_forms.append((action, fields))
    with lti.sessions() as session:
        approve_deployment(session, session.scalars(
            select(DeploymentRow).where(DeploymentRow.deployment_id == "dep-new")).one())
        session.commit()
    for action, fields in refused_forms:
        assert_refused(lti.browser.post(action, data=fields), "replayed", words="This launch was already used.")
    assert lti.launch().status_code == 200


def test_an_oversized_id_token_gets_413(lti: LtiEnvironment) -> None:
    response = lti.browser.post(lti.tool_url + "/lti/launch", data={"id_token": "a" * (300 * 1024), "state": "x"})
    assert response.status_code == 413
    assert "too large" in response.text


def test_platform_key_rotation_is_accepted_after_one_refetch(lti: LtiEnvironment) -> None:
    # The key sets' clock moves only when the test says (a launch on a loaded machine took longer than the
    # 0.5 s refetch interval, and the second ghost launch below was allowed a refetch).
    clock = [time.monotonic()]
    services(lti.app).platform_keys._now = lambda: clock[0]  # noqa: SLF001 - the clock is there to be replaced
    assert lti.launch().status_code == 200
    assert lti.peer.jwks_fetches == 1
    assert lti.launch().status_code == 200
    assert lti.peer.jwks_fetches == 1  # cached
    clock[0] += 0.6
    lti.peer.rotate_key()
    assert lti.launch().status_code == 200
    assert lti.peer.jwks_fetches == 2  # one refetch for the new kid
    # An unknown kid is refetched once, then refused without hammering the platform.
    clock[0] += 0.6
    lti.peer.scenario = Scenario(header={"kid": "ghost"})
    assert_refused(lti.launch(), "unknown_kid")
    assert_refused(lti.launch(), "unknown_kid")
    assert lti.peer.jwks_fetches == 3


def test_launch_tokens_expired_or_foreign_get_401(lti: LtiEnvironment) -> None:
    page = lti.launch()
    launch_id = whoami(lti, page)["launch_id"]
    expired = launch_token.issue(launch_id, lti.settings.secret_key, lifetime=launch_token.LIFETIME * -1)
    foreign = launch_token.issue(launch_id, "another-tool-secret-key-of-enough-length")
    for token in (expired, foreign, "garbage", None):
        headers = {launch_token.HEADER: token} if token else {}
        response = lti.browser.get(lti.tool_url + "/lti/whoami", headers=headers)
        assert response.status_code == 401
        assert "Open the tool again from your course" in response.text


def test_several_client_ids_of_one_issuer_launch_side_by_side(lti: LtiEnvironment) -> None:
    from marketplace.store.registrations import add_deployment, add_platform

    with lti.sessions() as session:
        second = add_platform(session, issuer=lti.peer.issuer, client_id="second-client", name="Second key",
                              auth_login_url=lti.peer.issuer + "/auth", auth_token_url=lti.peer.issuer + "/token",
                              key_set_url=lti.peer.issuer + "/jwks", allow_http=True)
        add_deployment(session, second, "dep-2")
        session.commit()
    assert lti.launch().status_code == 200
    lti.peer.client_id, lti.peer.deployment_id = "second-client", "dep-2"
    page = lti.launch()
    assert page.status_code == 200, page.text[:300]
    assert whoami(lti, page)["deployment_id"] == "dep-2"
    with lti.sessions() as session:
        assert len({row.platform_id for row in session.scalars(select(LaunchRow))}) == 2


def test_the_app_page_link_works_once_and_keeps_the_token_out_of_urls(lti: LtiEnvironment) -> None:
    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    launched = lti.browser.post(action, data=fields)
    location = launched.headers["location"]
    assert "handoff=" in location and "lt=" not in location
    # Issue 10, finding 9: the code is bound to the browser that launched. Opened by another client (a
    # victim lured to the attacker's link), it gives nothing, and the launching browser can still use it.
    with httpx.Client() as stranger:
        foreign = stranger.get(location)
    assert foreign.status_code == 401 and "another browser" in foreign.text and "X-Launch-Token" not in foreign.text
    page = lti.browser.get(location)
    assert page.status_code == 200
    assert page_token(page) not in location
    again = lti.browser.get(location)
    assert again.status_code == 401 and "already opened" in again.text


@pytest.mark.parametrize(("return_url", "learned"), [
    ("https://school.instructure.com/courses/1/external_content/success", "https://school.instructure.com"),
    ("https://x;frame-ancestors *;sandbox;@evil.example/back", None),
    ("https://中@evil.example/back", None),
    ("https://*.example/back", None),
])
def test_only_valid_return_url_origins_are_learned_for_framing(lti: LtiEnvironment, return_url: str,
                                                               learned: str | None) -> None:
    """Issue 10, sibling of findings 1-2: origins learned from launches pass the same door as registrations."""
    lti.peer.extra_claims = {"https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
        "document_target": "iframe", "return_url": return_url}}
    assert lti.launch().status_code == 200
    with lti.sessions() as session:
        platform = session.scalars(select(PlatformRow)).one()
        assert platform.frame_origins == ([learned] if learned else [])


def test_a_student_cannot_use_the_instructor_picker_with_their_launch_token(lti: LtiEnvironment) -> None:
    """Issue 10, the wider hunt: a learner's resource launch token opens nothing of the picker."""
    lti.peer.roles = [LEARNER]
    page = lti.launch()
    assert page.status_code == 200
    token = page_token(page)
    headers = {launch_token.HEADER: token, "HX-Request": "true"}
    for method, path, data in (("GET", "/lti/picker/results?q=plants", None),
                               ("POST", "/lti/picker/select", {"toggle": "plant-cells"}),
                               ("POST", "/lti/deep-linking/respond", {"launch_token": token,
                                                                      "resource": "plant-cells"})):
        response = lti.browser.request(method, lti.tool_url + path, headers=headers, data=data)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "Traceback" not in response.text


def test_an_app_page_link_opened_several_times_at_once_opens_once(lti: LtiEnvironment) -> None:
    """A double click or a replayed link racing the first: the code is used up by exactly one request."""
    from concurrent.futures import ThreadPoolExecutor

    login = lti.browser.get(lti.peer.login_url())
    action, fields = form_fields(lti.browser.get(login.headers["location"]).text)
    location = lti.browser.post(action, data=fields).headers["location"]
    cookies = dict(lti.browser.cookies.items())

    def open_link(_: int) -> int:
        with httpx.Client(cookies=cookies) as browser:
            return browser.get(location).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(open_link, range(6)))
    assert sorted(statuses) == [200] + [401] * 5, statuses
