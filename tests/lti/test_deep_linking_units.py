"""Pure deep-linking rules: media types, placement-driven item types, single-item placements."""

from __future__ import annotations

import pytest

from marketplace.lti.deep_linking import media_type_accepted


@pytest.mark.parametrize(
    ("media_type", "accepted", "expected"),
    [
        ("application/pdf", (), True),
        ("application/pdf", ("*/*",), True),
        ("image/png", ("image/*",), True),
        ("Image/PNG; charset=binary", ("image/png",), True),
        ("application/pdf", ("image/*", "text/html"), False),
        ("text/plain", ("text/html",), False),
    ],
)
def test_media_types(media_type: str, accepted: tuple[str, ...], expected: bool) -> None:
    assert media_type_accepted(media_type, accepted) is expected
