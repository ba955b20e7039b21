"""Claim names of LTI 1.3, Deep Linking 2.0, AGS and NRPS, in one place."""

from typing import Final

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE: Final = LTI + "message_type"
VERSION: Final = LTI + "version"
DEPLOYMENT_ID: Final = LTI + "deployment_id"
ROLES: Final = LTI + "roles"
CONTEXT: Final = LTI + "context"
RESOURCE_LINK: Final = LTI + "resource_link"
TARGET_LINK_URI: Final = LTI + "target_link_uri"
LAUNCH_PRESENTATION: Final = LTI + "launch_presentation"
CUSTOM: Final = LTI + "custom"
TOOL_PLATFORM: Final = LTI + "tool_platform"
DEEP_LINKING_SETTINGS: Final = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
AGS_ENDPOINT: Final = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS: Final = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
PLATFORM_NOTIFICATION_SERVICE: Final = LTI + "platformnotificationservice"
CANVAS_PLACEMENT: Final = "https://www.instructure.com/placement"

RESOURCE_LINK_REQUEST: Final = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST: Final = "LtiDeepLinkingRequest"
SUPPORTED_MESSAGE_TYPES: Final = frozenset({RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST})
LTI_VERSION: Final = "1.3.0"

SCOPE_LINEITEM: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READ: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READ: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_SCOPES: Final = (SCOPE_LINEITEM, SCOPE_LINEITEM_READ, SCOPE_RESULT_READ, SCOPE_SCORE)
NRPS_SCOPE: Final = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NOTICE_SCOPE: Final = "https://purl.imsglobal.org/spec/lti/scope/noticehandlers"
