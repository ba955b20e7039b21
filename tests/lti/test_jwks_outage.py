"""The platform's JWKS endpoint goes down: launches signed with keys already fetched keep working; a launch
signed with a key the tool has never seen is refused with a sentence naming the key set; and once the
endpoint is back, the new key works."""

from __future__ import annotations

from marketplace.lti.platform_keys import CACHE_SECONDS
from marketplace.web.services import services
from tests.lti.conftest import LtiEnvironment


def test_launches_ride_out_a_jwks_outage_until_the_key_is_rotated_away(lti: LtiEnvironment) -> None:
    key_sets = services(lti.app).platform_keys
    clock = [key_sets._now()]  # noqa: SLF001 - the cache's clock, moved forward instead of waiting an hour
    key_sets._now = lambda: clock[0]  # type: ignore[method-assign]  # noqa: SLF001
    assert lti.launch().status_code == 200
    fetches = lti.peer.jwks_fetches

    lti.peer.jwks_down = True
    clock[0] += CACHE_SECONDS + 1  # the cached set expired; the refetch fails
    lti.browser.cookies.clear()
    assert lti.launch().status_code == 200  # the key fetched before still verifies
    assert lti.peer.jwks_fetches == fetches + 1

    lti.peer.rotate_key()  # the platform signs with a key published while its endpoint is down
    clock[0] += 10
    lti.browser.cookies.clear()
    refused = lti.launch()
    assert refused.status_code == 400 and refused.headers["x-lti-check"] == "unknown_kid"
    assert "answered HTTP 503" in refused.text

    lti.peer.jwks_down = False
    clock[0] += 10
    lti.browser.cookies.clear()
    assert lti.launch().status_code == 200
