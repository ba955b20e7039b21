"""A course copy: after the platform's LtiContextCopyNotice, a copied link whose custom values were lost still
opens its quiz, and its scores go to the copy's own gradebook, never the original course's."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from marketplace.cli import main
from marketplace.store.models import NoticeRow
from tests.grading.conftest import AGS_CLAIM, COURSE, TOOL_PLATFORM, Graded, token_of, wait_for
from tests.lti.notices_peer import ORIGIN_CONTEXTS, batch, notice_claims, sign_notice
from tests.lti.peer import LEARNER

COPY = "course-2"
PNS = "https://purl.imsglobal.org/spec/lti/claim/platformnotificationservice"


def launch_without_custom(graded: Graded, user: str, course: str, link: str) -> Any:
    peer = graded.env.peer
    peer.user_id, peer.roles, peer.resource_link_id, peer.context_id = user, [LEARNER], link, course
    peer.message_type = "LtiResourceLinkRequest"
    peer.extra_claims = {AGS_CLAIM: graded.gradebook.ags_claim(course),
                         TOOL_PLATFORM: {"product_family_code": "canvas", "guid": "loopback"}}
    graded.env.browser.cookies.clear()
    return graded.env.launch()


def copy_course(graded: Graded, origin: str, copy: str) -> None:
    claims = notice_claims(graded.env.peer, "LtiContextCopyNotice", context=copy, **{ORIGIN_CONTEXTS: [origin]})
    response = graded.env.browser.post(graded.env.tool_url + "/lti/notices",
                                       json=batch(sign_notice(graded.env.peer, claims)))
    assert response.status_code == 204, response.text


def test_a_copied_link_without_custom_values_opens_its_quiz_and_grades_into_the_copy(graded: Graded) -> None:
    graded.launch("teacher", role="instructor")  # the original course's link, naming its quiz
    lost = launch_without_custom(graded, "ada", COPY, "link-1")
    assert lost.status_code == 200 and "Submit answers" not in lost.text  # no copy known yet: the plain page
    # In its own course a link is known by its id only: another link with the same title is another link.
    other = launch_without_custom(graded, "ada", COURSE, "other-link")
    assert other.status_code == 200 and "Submit answers" not in other.text

    copy_course(graded, COURSE, COPY)
    page = launch_without_custom(graded, "ada", COPY, "link-1")
    assert page.status_code == 200 and "Submit answers" in page.text
    answer = graded.submit(token_of(page.text), {"q1": "0"})
    assert "Score: 2 / 2" in answer.text
    wait_for(lambda: graded.job_states() == [("ada", "sent")], what="the score to be sent")
    gradebook = graded.gradebook
    assert gradebook.problems == []
    [item] = gradebook.line_items.values()
    assert item.course == COPY  # created in the copy's gradebook, not the original's
    [score] = gradebook.scores
    assert score["userId"] == "ada" and score["scoreGiven"] == 2.0


def test_a_copied_link_with_a_new_id_is_found_by_its_title(graded: Graded) -> None:
    graded.launch("teacher", role="instructor")
    copy_course(graded, COURSE, COPY)
    copy_course(graded, COPY, "course-3")  # a copy of the copy
    page = launch_without_custom(graded, "ada", "course-3", "a-new-link-id")
    assert page.status_code == 200 and "Submit answers" in page.text


def test_notices_subscribe_registers_the_handler_and_the_platform_says_hello(
        graded: Graded, monkeypatch: pytest.MonkeyPatch) -> None:
    """`marketplace notices subscribe` finds the service in the last launch, gets a noticehandlers token, PUTs
    each type; the platform's hello-world notice then reaches /lti/notices and is recorded."""
    env = graded.env
    cli = CliRunner()
    for name, value in {"MARKETPLACE_DATABASE_URL": env.settings.database_url,
                        "MARKETPLACE_SECRET_KEY": env.settings.secret_key, "MARKETPLACE_BASE_URL": env.tool_url,
                        "MARKETPLACE_DATA_DIR": str(env.settings.data_dir)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    command = ["notices", "subscribe", "--issuer", env.peer.issuer, "--client-id", env.peer.client_id]
    missing = cli.invoke(main, command)
    assert missing.exit_code == 1 and "Launch the tool once" in missing.output

    graded.launch("teacher", role="instructor", custom=None)
    env.peer.extra_claims = {PNS: graded.gradebook.pns_claim()}
    env.browser.cookies.clear()
    assert env.launch().status_code == 200
    result = cli.invoke(main, command)
    assert result.exit_code == 0, result.output
    handler = env.tool_url + "/lti/notices"
    assert graded.gradebook.notice_handlers == {"LtiContextCopyNotice": handler, "LtiHelloWorldNotice": handler}
    assert f"LtiHelloWorldNotice: {handler}" in result.output
    assert graded.gradebook.hello_deliveries == [204]
    with env.sessions() as session:
        assert [row.notice_type for row in session.scalars(select(NoticeRow))] == ["LtiHelloWorldNotice"]
    assert graded.gradebook.problems == []
