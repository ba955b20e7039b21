"""The Canvas developer key configuration (the JSON pasted or linked in Canvas), built from the base URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from marketplace.lti import claims

PLACEMENTS = {
    "editor_button": ("Insert open resource", 1000, 700),
    "link_selection": ("Add open resources", 1000, 700),
    "assignment_selection": ("Open resource assignment", 1000, 700),
    "homework_submission": ("Submit from my portfolio", 900, 650),
}


def canvas_configuration(base_url: str) -> dict[str, Any]:
    """Title, description, OIDC login and launch URLs, our JWKS URL, scopes, privacy and the four placements."""
    domain = urlsplit(base_url).netloc
    icon = f"{base_url}/static/icon.svg"
    placements = [
        {
            "placement": placement,
            "message_type": claims.DEEP_LINKING_REQUEST,
            "target_link_uri": f"{base_url}/lti/launch",
            "text": text,
            "icon_url": icon,
            "selection_width": width,
            "selection_height": height,
            **({"custom_fields": {"selection": "$com.instructure.Editor.selection"}}
               if placement == "editor_button" else {}),
        }
        for placement, (text, width, height) in PLACEMENTS.items()
    ]
    return {
        "title": "LTI Marketplace",
        "description": "Find open educational resources and add them to your course: embedded in a page, as "
                       "module items or as graded assignments.",
        "oidc_initiation_url": f"{base_url}/lti/login",
        "target_link_uri": f"{base_url}/lti/launch",
        "public_jwk_url": f"{base_url}/lti/jwks",
        "scopes": [*claims.AGS_SCOPES, claims.NRPS_SCOPE, claims.NOTICE_SCOPE],
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": domain,
                "tool_id": "lti-marketplace",
                "privacy_level": "public",
                "settings": {"text": "LTI Marketplace", "icon_url": icon, "placements": placements},
            }
        ],
        "custom_fields": {"canvas_course_id": "$Canvas.course.id"},
    }
