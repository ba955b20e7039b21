"""Our keys and configuration: JWKS during rotation, the Canvas developer key JSON, login checks, headers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import jwt
import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.clock import utc_now
from marketplace.lti.keys import SigningKeys, active_kid, ensure_keys, key_statuses, new_key_row, rotate
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.models import ToolKeyRow
from marketplace.store.registrations import add_platform
from tests.lti.conftest import LtiEnvironment


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = dataclasses.replace(settings, base_url="https://tool.example")
    upgrade_database(configured.database_url)
    engine = make_engine(configured.database_url)
    with make_session_factory(engine)() as session:
        add_platform(session, issuer="https://canvas.instructure.com", client_id="10000000000001",
                     auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
                     auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
                     key_set_url="https://sso.canvaslms.com/api/lti/security/jwks", name="Canvas")
        session.commit()
    engine.dispose()
    with TestClient(create_app(configured), base_url="https://tool.example") as test_client:
        yield test_client


def test_jwks_publishes_next_active_and_previous_so_cached_copies_keep_working(lti: LtiEnvironment) -> None:
    first = lti.browser.get(lti.tool_url + "/lti/jwks")
    assert first.status_code == 200 and first.headers["cache-control"].startswith("public")
    cached = {key["kid"]: key for key in first.json()["keys"]}  # what a platform caches
    assert len(cached) == 2 and all(key["alg"] == "RS256" and "d" not in key for key in cached.values())
    assert lti.browser.get(lti.tool_url + "/.well-known/jwks.json").json() == first.json()
    keys = SigningKeys(lti.settings.secret_key)
    with lti.sessions() as session:
        old_kid, _ = keys.active(session)
        retired, active = rotate(session, lti.settings.secret_key)
        session.commit()
        assert retired == old_kid and active in cached  # the new active key was published before it signed
        kid, private_key = keys.active(session)
    token = jwt.encode({"iss": "tool", "aud": "platform"}, private_key, algorithm="RS256", headers={"kid": kid})
    # A platform still holding the JWKS fetched before the rotation verifies the new signature.
    verified = jwt.decode(token, jwt.PyJWK(cached[kid]), algorithms=["RS256"], audience="platform")
    assert verified["iss"] == "tool"
    after = {key["kid"] for key in lti.browser.get(lti.tool_url + "/lti/jwks").json()["keys"]}
    assert old_kid in after and kid in after and len(after) == 3  # previous, active, next


def test_keys_are_loaded_once_and_encrypted_at_rest(lti: LtiEnvironment) -> None:
    keys = SigningKeys(lti.settings.secret_key)
    with lti.sessions() as session:
        ensure_keys(session, lti.settings.secret_key)
        session.commit()
        first = keys.active(session)[1]
        assert keys.active(session)[1] is first
        stored = " ".join(row.private_key_encrypted for row in session.query(ToolKeyRow))
        assert "PRIVATE KEY" not in stored


def test_canvas_developer_key_json(client: TestClient) -> None:
    config = client.get("/lti/config/canvas.json").json()
    assert config["oidc_initiation_url"] == "https://tool.example/lti/login"
    assert config["target_link_uri"] == "https://tool.example/lti/launch"
    assert config["public_jwk_url"] == "https://tool.example/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in config["scopes"]
    assert "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly" in config["scopes"]
    assert "https://purl.imsglobal.org/spec/lti/scope/noticehandlers" in config["scopes"]
    (canvas,) = config["extensions"]
    assert canvas["platform"] == "canvas.instructure.com" and canvas["privacy_level"] == "public"
    assert canvas["domain"] == "tool.example"
    placements = {p["placement"]: p for p in canvas["settings"]["placements"]}
    assert set(placements) == {"editor_button", "link_selection", "assignment_selection", "homework_submission"}
    for placement in placements.values():
        assert placement["message_type"] == "LtiDeepLinkingRequest"
        assert placement["icon_url"].startswith("https://tool.example/") and placement["text"]
        assert placement["selection_width"] > 0 and placement["selection_height"] >= 450
    assert placements["editor_button"]["custom_fields"]["selection"] == "$com.instructure.Editor.selection"
    assert client.get("/static/icon.svg").status_code == 200


LOGIN = {"iss": "https://canvas.instructure.com", "login_hint": "u1", "client_id": "10000000000001",
         "target_link_uri": "https://tool.example/lti/launch", "lti_message_hint": "m",
         "lti_deployment_id": "1:abc"}


def test_login_redirects_with_a_cross_site_cookie(client: TestClient) -> None:
    response = client.get("/lti/login", params=LOGIN, follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("https://sso.canvaslms.com/api/lti/authorize_redirect?")
    for part in ("scope=openid", "response_type=id_token", "response_mode=form_post", "prompt=none",
                 "client_id=10000000000001", "login_hint=u1", "lti_message_hint=m",
                 "redirect_uri=https%3A%2F%2Ftool.example%2Flti%2Flaunch", "nonce=", "state="):
        assert part in location
    cookie = response.headers["set-cookie"]
    assert "mkt-state-" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "SameSite=None" in cookie and "Partitioned" in cookie and "Path=/lti/" in cookie
    posted = client.post("/lti/login", data={**LOGIN, "deployment_id": "1:abc"}, follow_redirects=False)
    assert posted.status_code == 302


def test_login_with_a_storage_target_uses_platform_storage(client: TestClient) -> None:
    response = client.get("/lti/login", params={**LOGIN, "lti_storage_target": "post_message_forwarding"})
    assert response.status_code == 200
    assert 'data-mode="put"' in response.text and 'data-target="post_message_forwarding"' in response.text
    assert 'data-origin="https://sso.canvaslms.com"' in response.text and "lti-storage.js" in response.text
    assert "mkt-state-" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({**LOGIN, "iss": "https://unknown.example"}, "login_unknown_platform"),
        ({key: value for key, value in LOGIN.items() if key != "iss"}, "login_missing_iss"),
        ({key: value for key, value in LOGIN.items() if key != "login_hint"}, "login_missing_hint"),
        ({**LOGIN, "target_link_uri": "https://evil.example/phish"}, "login_foreign_target"),
        ({**LOGIN, "client_id": "unknown-client"}, "login_unknown_platform"),
    ],
)
def test_bad_logins_are_refused_with_a_sentence(client: TestClient, params: dict[str, str], check: str) -> None:
    response = client.get("/lti/login", params=params, follow_redirects=False)
    assert response.status_code == 400
    assert response.headers["x-lti-check"] == check
    assert "<html" in response.text and "Traceback" not in response.text


def test_security_headers_limit_framing_to_platforms(client: TestClient) -> None:
    headers = client.get("/").headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy and "https://canvas.instructure.com" in policy
    assert "https://*.instructure.com" in policy and "https://sso.canvaslms.com" in policy
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    other = client.get("/").headers["content-security-policy"]
    assert other.split("nonce-")[1][:10] != policy.split("nonce-")[1][:10]  # a fresh nonce per response
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_rotation_leaves_one_active_key_even_after_a_startup_race(lti: LtiEnvironment) -> None:
    with lti.sessions() as session:
        ensure_keys(session, lti.settings.secret_key)
        racing = new_key_row(lti.settings.secret_key)  # a second worker's key, activated at the same start
        racing.activated_at = utc_now()
        session.add(racing)
        session.commit()
        assert [s.role for s in key_statuses(session)].count("active") == 2
        rotate(session, lti.settings.secret_key)
        session.commit()
        roles = [s.role for s in key_statuses(session)]
        assert roles.count("active") == 1 and roles.count("next") >= 1


def test_the_signing_key_read_on_its_own_is_the_key_the_listing_calls_active(lti: LtiEnvironment) -> None:
    # Answers read only the active kid (not every key); it must stay the key `key_statuses` calls active.
    def listed_active(session: Session) -> str | None:
        return next((status.kid for status in key_statuses(session) if status.role == "active"), None)

    with lti.sessions() as session:
        ensure_keys(session, lti.settings.secret_key)
        session.commit()
        assert active_kid(session) == listed_active(session) is not None
        racing = new_key_row(lti.settings.secret_key)  # two active keys after a startup race: the newest signs
        racing.activated_at = utc_now()
        session.add(racing)
        session.commit()
        assert active_kid(session) == listed_active(session) == racing.kid
        _, activated = rotate(session, lti.settings.secret_key)
        session.commit()
        assert active_kid(session) == listed_active(session) == activated
        for row in session.query(ToolKeyRow):
            row.retired_at = utc_now()
        session.commit()
        assert active_kid(session) is None and listed_active(session) is None
