"""LaunchContext: a verified launch as typed data, the only shape the rest of the tool sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketplace.lti import claims

INSTRUCTOR_ROLES = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
    "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator",
)
PLATFORM_ADMINISTRATOR_ROLES = (
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
    "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
)
LEARNER_ROLES = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
)


def _product_family(body: dict[str, Any]) -> str | None:
    code = _dict(body.get(claims.TOOL_PLATFORM)).get("product_family_code")
    if isinstance(code, str) and code.strip():
        return code.strip().lower()
    # Canvas always names the placement in its own claim, even where tool_platform is trimmed.
    return "canvas" if claims.CANVAS_PLACEMENT in body else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class LaunchContext:
    """Who launched, from where, for what, and which services the platform offered."""

    launch_id: str
    issuer: str
    client_id: str
    platform_name: str
    deployment_id: str
    message_type: str
    user_sub: str
    user_name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    roles: tuple[str, ...]
    context_id: str | None
    context_title: str | None
    context_label: str | None
    placement: str | None
    resource_link_id: str | None
    target_link_uri: str | None
    deep_linking_settings: dict[str, Any] | None
    ags: dict[str, Any] | None
    nrps: dict[str, Any] | None
    custom: dict[str, str] = field(default_factory=dict)
    launch_presentation: dict[str, Any] = field(default_factory=dict)
    # tool_platform.product_family_code ("canvas", "moodle", …): what a platform does with an item differs.
    product_family: str | None = None
    # Read with the launch's row by a later request, so its handlers need not read the row again: the
    # platform's row id, the picker's tray (its current selection) and whether the launch was already answered,
    # at the time of this request.
    platform_id: int | None = None
    selection: tuple[str, ...] = ()
    responded: bool = False

    @classmethod
    def from_claims(
        cls, launch_id: str, body: dict[str, Any], *, client_id: str, platform_name: str,
        platform_id: int | None = None, selection: tuple[str, ...] = (), responded: bool = False
    ) -> LaunchContext:
        context = _dict(body.get(claims.CONTEXT))
        custom = {str(key): str(value) for key, value in _dict(body.get(claims.CUSTOM)).items()}
        roles = body.get(claims.ROLES) or []
        return cls(
            launch_id=launch_id,
            issuer=str(body["iss"]),
            client_id=client_id,
            platform_name=platform_name,
            deployment_id=str(body[claims.DEPLOYMENT_ID]),
            message_type=str(body[claims.MESSAGE_TYPE]),
            user_sub=str(body.get("sub") or ""),
            user_name=body.get("name"),
            given_name=body.get("given_name"),
            family_name=body.get("family_name"),
            email=body.get("email"),
            roles=tuple(str(role) for role in roles),
            context_id=context.get("id"),
            context_title=context.get("title"),
            context_label=context.get("label"),
            placement=body.get(claims.CANVAS_PLACEMENT) or custom.get("placement"),
            resource_link_id=_dict(body.get(claims.RESOURCE_LINK)).get("id"),
            target_link_uri=body.get(claims.TARGET_LINK_URI),
            deep_linking_settings=body.get(claims.DEEP_LINKING_SETTINGS),
            ags=body.get(claims.AGS_ENDPOINT),
            nrps=body.get(claims.NRPS),
            custom=custom,
            launch_presentation=_dict(body.get(claims.LAUNCH_PRESENTATION)),
            product_family=_product_family(body),
            platform_id=platform_id,
            selection=selection,
            responded=responded,
        )

    @property
    def display_name(self) -> str:
        return self.user_name or " ".join(filter(None, (self.given_name, self.family_name))) or "Anonymous user"

    @property
    def is_instructor(self) -> bool:
        return any(role in INSTRUCTOR_ROLES for role in self.roles)

    @property
    def is_platform_administrator(self) -> bool:
        """An administrator of the institution or the platform itself (not of one course)."""
        return any(role in PLATFORM_ADMINISTRATOR_ROLES for role in self.roles)

    @property
    def is_learner(self) -> bool:
        return any(role in LEARNER_ROLES for role in self.roles)
