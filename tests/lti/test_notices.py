"""POST /lti/notices: each notice verified against the platform's JWKS, recorded once, answered per the batch."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from marketplace.store.models import CourseCopyRow, NoticeRow
from tests.lti.conftest import LtiEnvironment
from tests.lti.notices_peer import NOTICE, ORIGIN_CONTEXTS, batch, notice_claims, sign_notice
from tests.lti.peer import RsaKey


def post(lti: LtiEnvironment, body: Any) -> Any:
    return lti.browser.post(lti.tool_url + "/lti/notices", json=body)


def notices(lti: LtiEnvironment) -> list[tuple[str, str, bool]]:
    with lti.sessions() as session:
        return [(row.notice_id, row.notice_type, row.handled)
                for row in session.scalars(select(NoticeRow).order_by(NoticeRow.id))]


def test_a_hello_world_notice_is_verified_recorded_and_answered_204(lti: LtiEnvironment) -> None:
    token = sign_notice(lti.peer, notice_claims(lti.peer, "LtiHelloWorldNotice", notice_id="n-1"))
    response = post(lti, batch(token))
    assert response.status_code == 204, response.text
    assert notices(lti) == [("n-1", "LtiHelloWorldNotice", True)]


def test_a_replayed_notice_is_acknowledged_and_not_handled_twice(lti: LtiEnvironment) -> None:
    claims = notice_claims(lti.peer, "LtiContextCopyNotice", notice_id="copy-1", context="course-2",
                           **{ORIGIN_CONTEXTS: ["course-1"]})
    token = sign_notice(lti.peer, claims)
    assert post(lti, batch(token)).status_code == 204
    assert post(lti, batch(token, token)).status_code == 204
    assert notices(lti) == [("copy-1", "LtiContextCopyNotice", True)]
    with lti.sessions() as session:
        copies = [(row.context_id, row.origin_context_id) for row in session.scalars(select(CourseCopyRow))]
    assert copies == [("course-2", "course-1")]


def test_an_unknown_notice_type_is_recorded_as_unhandled_and_acknowledged(lti: LtiEnvironment) -> None:
    token = sign_notice(lti.peer, notice_claims(lti.peer, "LtiAssetProcessorSubmissionNotice", notice_id="u-1"))
    assert post(lti, batch(token)).status_code == 204
    assert notices(lti) == [("u-1", "LtiAssetProcessorSubmissionNotice", False)]


def _refused(lti: LtiEnvironment, token: str) -> dict[str, Any]:
    good = sign_notice(lti.peer, notice_claims(lti.peer, "LtiHelloWorldNotice", notice_id="good"))
    response = post(lti, batch(good, token))
    assert response.status_code == 207, response.text
    first, second = response.json()["notices"]
    assert first["status"] == 200 and first["id"] == "good"
    assert second["index"] == 1 and second["status"] >= 400
    assert [row[0] for row in notices(lti)] == ["good"]  # the refused one left nothing behind
    return dict(second)


def test_a_notice_signed_by_another_key_under_the_platforms_kid_is_refused(lti: LtiEnvironment) -> None:
    forged = sign_notice(lti.peer, notice_claims(lti.peer, "LtiHelloWorldNotice"), key=RsaKey.generate(),
                         kid=lti.peer.signing_key.kid)
    refusal = _refused(lti, forged)
    assert refusal["status"] == 401 and "signature" in refusal["message"]


def test_a_notice_for_another_tool_is_refused(lti: LtiEnvironment) -> None:
    claims = notice_claims(lti.peer, "LtiHelloWorldNotice", aud="some-other-tool", azp="some-other-tool")
    refusal = _refused(lti, sign_notice(lti.peer, claims))
    assert refusal["status"] == 401 and "not registered" in refusal["message"]
    listed = notice_claims(lti.peer, "LtiHelloWorldNotice", aud=[lti.peer.client_id, "x"], azp="x")
    assert _refused_again(lti, sign_notice(lti.peer, listed))["status"] == 401


def _refused_again(lti: LtiEnvironment, token: str) -> dict[str, Any]:
    response = post(lti, batch(token))
    assert response.status_code == 207
    return dict(response.json()["notices"][0])


def test_expired_wrong_version_unapproved_deployment_and_missing_id_are_refused(lti: LtiEnvironment) -> None:
    now = int(time.time())
    cases = {
        "expired": (notice_claims(lti.peer, "LtiHelloWorldNotice", iat=now - 7200, exp=now - 3600), 401),
        "version": (notice_claims(lti.peer, "LtiHelloWorldNotice",
                                  **{"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}), 400),
        "deployment": (notice_claims(lti.peer, "LtiHelloWorldNotice",
                                     **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-x"}), 403),
        "no id": (notice_claims(lti.peer, "LtiHelloWorldNotice", **{NOTICE: {"type": "LtiHelloWorldNotice"}}), 400),
    }
    for name, (claims, status) in cases.items():
        assert _refused_again(lti, sign_notice(lti.peer, claims))["status"] == status, name
    assert notices(lti) == []


def test_a_body_that_is_not_a_batch_is_a_400_with_a_sentence(lti: LtiEnvironment) -> None:
    for body in ({}, {"notices": []}, {"notices": "x"}, [1, 2]):
        response = post(lti, body)
        assert response.status_code == 400 and "notice batch" in response.json()["error"]["message"]
    garbage = lti.browser.post(lti.tool_url + "/lti/notices", content=b"{not json",
                               headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    unsigned = post(lti, {"notices": [{"jwt": "not-a-jwt"}, {"nothing": 1}]})
    assert unsigned.status_code == 207
    assert [entry["status"] for entry in unsigned.json()["notices"]] == [400, 400]


def test_a_context_copy_notice_must_name_its_origins(lti: LtiEnvironment) -> None:
    claims = notice_claims(lti.peer, "LtiContextCopyNotice", context="course-2")
    assert _refused_again(lti, sign_notice(lti.peer, claims))["status"] == 400
