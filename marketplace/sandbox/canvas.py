"""What the sandbox sends as Canvas does: placements, their deep_linking_settings, users and roles, and the
service scopes its developer key holds.

The settings are Canvas's hard-coded per-placement table (shared reference, section 1.1); a test checks them
against tests/fixtures/canvas-deep-linking.json.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from marketplace.lti import claims

EDITOR: Final = "editor_button"
MODULES: Final = "link_selection"
ASSIGNMENT: Final = "assignment_selection"
HOMEWORK: Final = "homework_submission"
PLACEMENTS: Final = (EDITOR, MODULES, ASSIGNMENT, HOMEWORK)

LTI: Final = "https://purl.imsglobal.org/spec/lti/claim/"
DL: Final = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DL_SETTINGS: Final = DL + "deep_linking_settings"
CONTENT_ITEMS: Final = DL + "content_items"
PLACEMENT_CLAIM: Final = "https://www.instructure.com/placement"
AGS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM: Final = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

SCOPE_LINEITEM: Final = claims.SCOPE_LINEITEM
SCOPE_LINEITEM_READ: Final = claims.SCOPE_LINEITEM_READ
SCOPE_RESULT_READ: Final = claims.SCOPE_RESULT_READ
SCOPE_SCORE: Final = claims.SCOPE_SCORE
SCOPE_MEMBERSHIP: Final = claims.NRPS_SCOPE
# Canvas puts "the key's scopes ∩ the AGS scopes" in the claim; the sandbox's key holds all of them.
AGS_SCOPES: Final = claims.AGS_SCOPES
KEY_SCOPES: Final = frozenset({*AGS_SCOPES, SCOPE_MEMBERSHIP})

_LTILINK = "application/vnd.ims.lti.v1.ltilink"
_DEEP_LINKING_SETTINGS: dict[str, dict[str, Any]] = {
    EDITOR: {"accept_types": ["link", "file", "html", "ltiResourceLink", "image"],
             "accept_presentation_document_targets": ["embed", "iframe", "window"],
             "accept_media_types": f"image/*,text/html,{_LTILINK},*/*", "accept_multiple": True,
             "auto_create": False},
    MODULES: {"accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
              "accept_media_types": _LTILINK, "accept_multiple": True, "auto_create": False},
    ASSIGNMENT: {"accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
                 "accept_media_types": _LTILINK, "accept_multiple": False, "auto_create": False},
    HOMEWORK: {"accept_types": ["file", "ltiResourceLink"], "accept_presentation_document_targets": ["iframe"],
               "accept_media_types": "*/*", "accept_multiple": False, "auto_create": False},
}

LABELS: Final = {EDITOR: "Editor button", MODULES: "Module link", ASSIGNMENT: "Assignment",
                 HOMEWORK: "Homework submission"}
# Canvas sends the placement's selection_width/selection_height as launch_presentation width/height.
FRAME_SIZE: Final = (800, 600)


def deep_linking_settings(placement: str, return_url: str) -> dict[str, Any]:
    """Canvas's deep_linking_settings for a placement, with this launch's return URL."""
    return {**copy.deepcopy(_DEEP_LINKING_SETTINGS[placement]), "deep_link_return_url": return_url}


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """A member of the sandbox course."""

    key: str
    sub: str
    name: str
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]


INSTRUCTOR: Final = SandboxUser(
    "instructor", "sandbox-user-ada", "Ada Teacher", "Ada", "Teacher", "ada@sandbox.invalid",
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
     "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
     "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"),
)
STUDENT: Final = SandboxUser(
    "student", "sandbox-user-sam", "Sam Student", "Sam", "Student", "sam@sandbox.invalid",
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
     "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
     "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"),
)
STUDENT_2: Final = SandboxUser(
    "student2", "sandbox-user-lee", "Lee Learner", "Lee", "Learner", "lee@sandbox.invalid",
    ("http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
     "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
     "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"),
)
USERS: Final = {user.key: user for user in (INSTRUCTOR, STUDENT, STUDENT_2)}
LEARNER_ROLE: Final = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
# The course's students, in roster order: the only users a score may be posted for.
STUDENTS: Final = tuple(user for user in USERS.values() if LEARNER_ROLE in user.roles)


def membership_roles(user: SandboxUser) -> list[str]:
    """The roles Names and Roles lists: Canvas sends course enrolment roles there, not institution roles."""
    return [role for role in user.roles if "/membership#" in role]


def user_for(placement: str) -> SandboxUser:
    """Who opens a placement in Canvas: students submit homework, instructors use the rest."""
    return STUDENT if placement == HOMEWORK else INSTRUCTOR
