"""The Canvas developer key configuration (the JSON pasted or linked in Canvas), built from the base URL.

`PLACEMENTS` is the one table of Canvas placements: the JSON configuration here and the dynamic registration
(`marketplace.lti.dynamic_registration`) both read it, so a tool installed either way shows the same menus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from marketplace.lti import claims

# Canvas expands this variable to the text selected in the rich content editor, so the search starts from it.
EDITOR_SELECTION: Final[Mapping[str, str]] = MappingProxyType({"selection": "$com.instructure.Editor.selection"})


@dataclass(frozen=True, slots=True)
class Placement:
    """One Canvas placement: its menu text, the size of the selection dialog, custom parameters of its own."""

    # What teachers (students, for homework_submission) see in Canvas's menu: say what the click does.
    text: str
    width: int
    height: int
    custom: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


PLACEMENTS: Final[Mapping[str, Placement]] = MappingProxyType({
    # The rich content editor's Apps menu, inside a page: one item goes into the text.
    "editor_button": Placement("Insert open resource", 1000, 700, EDITOR_SELECTION),
    # Modules > Add item > External Tool: several resources become module items.
    "link_selection": Placement("Add open resources", 1000, 700),
    # Assignment > Submission type > External Tool > Find: a verb, so it does not read as "open the assignment".
    "assignment_selection": Placement("Assign an open resource", 1000, 700),
    # The student's submission dialog.
    "homework_submission": Placement("Submit from my portfolio", 900, 650),
})


def canvas_configuration(base_url: str) -> dict[str, Any]:
    """Title, description, OIDC login and launch URLs, our JWKS URL, scopes, privacy and the four placements."""
    domain = urlsplit(base_url).netloc
    icon = f"{base_url}/static/icon.svg"
    placements = [
        {
            "placement": placement,
            "message_type": claims.DEEP_LINKING_REQUEST,
            "target_link_uri": f"{base_url}/lti/launch",
            "text": settings.text,
            "icon_url": icon,
            "selection_width": settings.width,
            "selection_height": settings.height,
            **({"custom_fields": dict(settings.custom)} if settings.custom else {}),
        }
        for placement, settings in PLACEMENTS.items()
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
