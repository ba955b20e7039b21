"""Deep linking: which content items a platform gets for the chosen resources, and the signed response.

What each placement accepts follows the request's `deep_linking_settings` (the spec) and, for Canvas,
what it really honours per placement (shared reference, section 2): the editor drops `file` items, module
and assignment placements only keep `ltiResourceLink`, the assignment page takes the first item only,
and `custom` must be a flat map of strings (never sent empty: some platforms refuse `{}`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from markupsafe import Markup

from marketplace.catalog.resource import Resource
from marketplace.clock import utc_now
from marketplace.lti import claims
from marketplace.lti.context import LaunchContext
from marketplace.lti.errors import refused

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CONTENT_ITEMS = DL + "content_items"
DATA = DL + "data"
MSG = DL + "msg"
ERRORMSG = DL + "errormsg"
RESPONSE_MESSAGE_TYPE = "LtiDeepLinkingResponse"
RESPONSE_LIFETIME = timedelta(minutes=5)
EDITOR, MODULES, ASSIGNMENT, HOMEWORK, GENERIC = (
    "editor_button", "link_selection", "assignment_selection", "homework_submission", "generic",
)
DEFAULT_FRAME = (800, 600)
MAX_WIDTH = 1200  # px: wider images and frames overflow a course page; scaled down with their aspect kept
PRESERVE_ASSIGNMENT_NAME = "https://canvas.instructure.com/lti/preserveExistingAssignmentName"

# Preferred item types per resource type where the platform lets the tool choose (editor and generic).
PREFERENCES = {
    "html": ("html", "ltiResourceLink", "link"),
    # An embedded picture is a copy of the work, so it carries its credit: as an html figure where the
    # platform accepts html (an `image` item has no place for a caption), else as a bare image.
    "image": ("html", "image", "link", "ltiResourceLink"),
    "file": ("file", "link", "ltiResourceLink"),
    "link": ("link", "ltiResourceLink"),
    "reading": ("ltiResourceLink", "link"),
    "simulation": ("ltiResourceLink", "link"),
    "quiz": ("ltiResourceLink",),
}


@dataclass(frozen=True, slots=True)
class DeepLinkingSettings:
    """The platform's `deep_linking_settings` claim, read defensively."""

    return_url: str
    accept_types: tuple[str, ...]
    targets: tuple[str, ...]
    accept_multiple: bool
    accept_lineitem: bool | None
    auto_create: bool
    has_data: bool
    accept_media_types: tuple[str, ...] = ()
    data: Any = None
    title: str | None = None
    text: str | None = None

    @classmethod
    def from_claim(cls, claim: dict[str, Any]) -> DeepLinkingSettings:
        def strings(value: Any) -> tuple[str, ...]:
            return tuple(str(item) for item in value) if isinstance(value, list) else ()

        lineitem = claim.get("accept_lineitem")
        return cls(
            return_url=str(claim["deep_link_return_url"]),
            accept_types=strings(claim.get("accept_types")),
            targets=strings(claim.get("accept_presentation_document_targets")),
            accept_multiple=claim.get("accept_multiple") is not False,
            accept_lineitem=lineitem if isinstance(lineitem, bool) else None,
            auto_create=bool(claim.get("auto_create")),
            has_data="data" in claim,
            accept_media_types=tuple(part.strip().lower() for part in str(claim.get("accept_media_types") or "")
                                     .split(",") if part.strip()),
            data=claim.get("data"),
            title=claim.get("title") if isinstance(claim.get("title"), str) else None,
            text=claim.get("text") if isinstance(claim.get("text"), str) else None,
        )


@dataclass(frozen=True, slots=True)
class ItemOptions:
    """What the instructor set on insert: points for non-quiz graded items, dates, the description choice."""

    points: float | None = None
    available_start: str | None = None
    available_end: str | None = None
    due: str | None = None
    # Send the resource's description as the item's `text`: Canvas's assignment page replaces the teacher's
    # description with it, and server-created assignments take it as theirs, so only when the teacher asks.
    use_description: bool = False
    extra_custom: dict[str, str] = field(default_factory=dict)
    # Attempts allowed and grade policy, for quizzes only (see grading.policy).
    quiz_custom: dict[str, str] = field(default_factory=dict)


def media_type_accepted(media_type: str, accepted: tuple[str, ...]) -> bool:
    """Whether `media_type` matches the platform's accept_media_types (none given: anything goes)."""
    if not accepted:
        return True
    kind = media_type.lower().split(";")[0].strip()
    major = kind.split("/")[0]
    return any(pattern in {"*/*", kind, f"{major}/*"} for pattern in accepted)


def dates_honoured(placement: str, product_family: str | None) -> bool:
    """Whether the platform uses an item's `available`/`submission` dates, so the picker may ask for them.

    Canvas's assignment page ignores them (its code reads "TODO: add date prefill here"); its module placement
    creates the assignment on the server, with unlock, lock and due dates from them (shared reference 2.4).
    Moodle fills its activity form from title, url, custom and lineItem only. Other platforms get the spec.
    """
    if placement in {ASSIGNMENT, EDITOR, HOMEWORK}:
        return False
    if placement == MODULES:
        return True
    return product_family != "moodle"


def scaled_to_fit(width: int, height: int, maximum: int = MAX_WIDTH) -> tuple[int, int]:
    """(width, height) no wider than `maximum`, the aspect ratio kept."""
    if width <= maximum:
        return width, height
    return maximum, max(1, round(height * maximum / width))


def placement_of(context: LaunchContext) -> str:
    """The Canvas placement when Canvas names one, else the generic spec behaviour."""
    if context.placement in {EDITOR, MODULES, ASSIGNMENT, HOMEWORK}:
        return str(context.placement)
    return GENERIC


def _absolute(base_url: str, path: str) -> str:
    return path if path.startswith("https://") else f"{base_url}/content/{path.lstrip('/')}"


class ContentItemBuilder:
    """Builds the content items for one deep-linking launch."""

    def __init__(self, settings: DeepLinkingSettings, placement: str, base_url: str,
                 product_family: str | None = None) -> None:
        self.settings = settings
        self.placement = placement
        self.base_url = base_url
        self.product_family = product_family

    def accepts(self, item_type: str) -> bool:
        return not self.settings.accept_types or item_type in self.settings.accept_types

    def item_type_for(self, resource: Resource) -> str | None:
        """The item type this resource goes as, or None when the platform accepts nothing suitable."""
        if self.placement in {MODULES, ASSIGNMENT}:
            return "ltiResourceLink" if self.accepts("ltiResourceLink") else None
        for candidate in PREFERENCES[resource.type]:
            if candidate == "file" and self.placement == EDITOR:
                continue  # Canvas's editor drops file items; a link to the file works
            if candidate == "file" and not media_type_accepted(resource.payload["media_type"],
                                                               self.settings.accept_media_types):
                continue
            if self.accepts(candidate):
                return candidate
        return None

    def build(self, resources: Sequence[Resource], options: ItemOptions | None = None) -> list[dict[str, Any]]:
        options = options or ItemOptions()
        if not resources:
            return []
        if len(resources) > 1 and (not self.settings.accept_multiple or self.placement in {ASSIGNMENT, HOMEWORK}):
            raise refused("dl_single_only", "This place in the course accepts one item only; select one.",
                          advice="")
        items = []
        for resource in resources:
            item_type = self.item_type_for(resource)
            if item_type is None:
                raise refused("dl_type_not_accepted", f"“{resource.title}” cannot be added here: the course accepts "
                              f"only {', '.join(self.settings.accept_types) or 'nothing'}.", advice="")
            items.append(self._item(resource, item_type, options))
        return items

    # -- items ------------------------------------------------------------------------------------------
    def _frame_size(self, resource: Resource) -> tuple[int, int]:
        if resource.type in {"simulation", "image"}:
            return scaled_to_fit(int(resource.payload["width"]), int(resource.payload["height"]))
        return DEFAULT_FRAME

    def _presentation(self, resource: Resource, frame_src: str | None = None) -> dict[str, Any]:
        """`iframe` where frames are accepted, else a new window.

        A `link` item needs `iframe.src`: without it Canvas's editor inserts a plain anchor, not a frame.
        For an ltiResourceLink the platform puts its own launch URL in the frame, so only the size is sent.
        """
        width, height = self._frame_size(resource)
        targets = self.settings.targets
        if not targets or "iframe" in targets:
            frame: dict[str, Any] = {"width": width, "height": height}
            if frame_src:
                frame = {"src": frame_src, **frame}
            return {"iframe": frame}
        if "window" in targets:
            return {"window": {"targetName": "_blank"}}
        return {}

    def _description(self, resource: Resource, options: ItemOptions) -> dict[str, str]:
        """`text` only where the teacher asked for the description, never in the editor.

        In Canvas's editor an anchor's body is the thumbnail, else `text`, else `title` (reference 2.3): with
        neither thumbnail nor text, a link reads as its title. On the assignment page `text` replaces the
        teacher's description.
        """
        if self.placement in {EDITOR, HOMEWORK} or not options.use_description:
            return {}
        return {"text": resource.description}

    def _custom(self, resource: Resource, options: ItemOptions) -> dict[str, str]:
        # The full credit travels with the item, so the platform (and whoever copies the course) keeps it
        # even where the tool's own page, which shows it too, is not at hand.
        custom = {"resource_id": resource.id, "attribution": resource.credit_line, "license": resource.license_id,
                  "license_url": resource.license_url,
                  **{str(k): str(v) for k, v in options.extra_custom.items()}}
        if resource.type == "quiz":
            custom.update({str(k): str(v) for k, v in options.quiz_custom.items()})
        return custom

    def _item(self, resource: Resource, item_type: str, options: ItemOptions) -> dict[str, Any]:
        if item_type == "html" and resource.type == "image":
            return self._figure(resource)
        if item_type == "html":
            # The credit goes into the fragment itself, once: Canvas's editor ignores an html item's `text`, and
            # a platform that shows `text` as well would print the credit twice, so no `text` is sent. Catalog
            # snippets carry no credit of their own (the loader refuses one); Markup escapes the credit line.
            fragment = Markup('{}<p class="attribution"><small>{}</small></p>').format(
                Markup(resource.payload["html"]), resource.credit_line  # noqa: S704 - validated catalog HTML
            )
            return {"type": "html", "html": str(fragment), "title": resource.title}
        if item_type == "image":
            # No thumbnail: with one, Canvas inserts the thumbnail linking to the image instead of the image.
            # `text` is the alternative text Canvas puts on the <img>.
            width, height = scaled_to_fit(int(resource.payload["width"]), int(resource.payload["height"]))
            return {"type": "image", "url": resource.payload["url"], "title": resource.title,
                    "text": resource.payload["alt"], "width": width, "height": height}
        if item_type == "file":
            return {"type": "file", "url": _absolute(self.base_url, f"files/{resource.payload['path']}"),
                    "title": resource.payload["filename"], "text": resource.payload["filename"],
                    "mediaType": resource.payload["media_type"]}
        if item_type == "link":
            url = self._link_url(resource)
            item: dict[str, Any] = {"type": "link", "url": url, "title": resource.title,
                                    **self._description(resource, options)}
            if resource.type == "link" and resource.payload.get("embeddable"):
                item.update(self._presentation(resource, frame_src=url))
            elif "window" in self.settings.targets or not self.settings.targets:
                item["window"] = {"targetName": "_blank"}
            return item
        return self._resource_link(resource, options)

    @staticmethod
    def _figure(resource: Resource) -> dict[str, Any]:
        """A picture with its credit under it: the image at a capped size, and a caption. No inline style (a
        page's CSP may forbid it; Canvas's content CSS already keeps images within the page's width). No
        `text`: the caption is the credit, and a platform showing `text` too would repeat it."""
        width, height = scaled_to_fit(int(resource.payload["width"]), int(resource.payload["height"]))
        fragment = Markup(
            '<figure><img src="{}" alt="{}" width="{}" height="{}">'
            '<figcaption><small>{}</small></figcaption></figure>'
        ).format(resource.payload["url"], resource.payload["alt"], width, height, resource.credit_line)
        return {"type": "html", "html": str(fragment), "title": resource.title}

    def _link_url(self, resource: Resource) -> str:
        if resource.type in {"link", "simulation", "image"}:
            return str(resource.payload["url"])
        if resource.type == "file":
            return _absolute(self.base_url, f"files/{resource.payload['path']}")
        return f"{self.base_url}/resources/{resource.id}"

    def _resource_link(self, resource: Resource, options: ItemOptions) -> dict[str, Any]:
        item: dict[str, Any] = {
            "type": "ltiResourceLink",
            "url": f"{self.base_url}/lti/launch",
            "title": resource.title,
            **self._description(resource, options),
            "custom": self._custom(resource, options),
            **self._presentation(resource),
        }
        if self.placement == ASSIGNMENT:
            # Canvas's assignment page renames the teacher's assignment after the item unless told not to.
            item[PRESERVE_ASSIGNMENT_NAME] = True
        score_maximum = resource.payload.get("max_score") if resource.type == "quiz" else options.points
        wants_lineitem = self.placement == ASSIGNMENT or (resource.type == "quiz" and self.placement != EDITOR)
        if score_maximum and wants_lineitem and self.settings.accept_lineitem is not False:
            item["lineItem"] = {"scoreMaximum": score_maximum, "label": resource.title,
                                "resourceId": resource.id, "tag": "lti-marketplace"}
            if dates_honoured(self.placement, self.product_family):
                item.update(self._dates(options))
        return item

    @staticmethod
    def _dates(options: ItemOptions) -> dict[str, Any]:
        dates: dict[str, Any] = {}
        available = {key: value for key, value in (("startDateTime", options.available_start),
                                                   ("endDateTime", options.available_end)) if value}
        if available:
            dates["available"] = available
        if options.due:
            dates["submission"] = {"endDateTime": options.due}
        return dates


def response_claims(context: LaunchContext, settings: DeepLinkingSettings, items: list[dict[str, Any]],
                    message: str | None = None) -> dict[str, Any]:
    """The LtiDeepLinkingResponse claims (iss = our client_id, aud = the platform, a fresh nonce)."""
    now = utc_now()
    body: dict[str, Any] = {
        "iss": context.client_id,
        "aud": [context.issuer],
        "iat": int(now.timestamp()),
        "exp": int((now + RESPONSE_LIFETIME).timestamp()),
        "nonce": secrets.token_urlsafe(24),
        claims.DEPLOYMENT_ID: context.deployment_id,
        claims.MESSAGE_TYPE: RESPONSE_MESSAGE_TYPE,
        claims.VERSION: claims.LTI_VERSION,
        CONTENT_ITEMS: items,
    }
    if settings.has_data:
        body[DATA] = settings.data  # echoed exactly, and only when the platform sent it
    if message:
        body[MSG] = message
    return body


def sign_response(body: dict[str, Any], kid: str, key: RSAPrivateKey) -> str:
    """Sign at the moment of submit (Canvas refuses an iat older than 5 minutes)."""
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})
