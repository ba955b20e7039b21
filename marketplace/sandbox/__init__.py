"""The sandbox LMS: a small Canvas stand-in at /sandbox for trying the tool on a laptop (never in production).

Only `sandbox_enabled` lives here, so deciding costs nothing; the routes (`marketplace.sandbox.views`) need the
`lti1p3platform` library and are imported only when the sandbox is enabled.
"""

from __future__ import annotations

from marketplace.settings import Settings


def sandbox_enabled(settings: Settings) -> bool:
    """Whether /sandbox is served: everywhere except production."""
    return not settings.is_production
