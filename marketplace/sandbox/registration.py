"""The sandbox platform's identity and its registration with the tool (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from marketplace.settings import Settings
from marketplace.store.models import PlatformRow
from marketplace.store.registrations import (
    ACTIVE,
    PENDING,
    add_deployment,
    add_platform,
    find_deployment,
    find_platform,
)

CLIENT_ID = "sandbox-client"
DEPLOYMENT_ID = "sandbox-deployment"
PLATFORM_NAME = "Sandbox LMS"


@dataclass(frozen=True, slots=True)
class SandboxUrls:
    """Every URL of the sandbox and of the tool it talks to, from the tool's base URL."""

    base_url: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/sandbox"

    @property
    def course(self) -> str:
        return f"{self.base_url}/sandbox"

    @property
    def auth(self) -> str:
        return f"{self.base_url}/sandbox/auth"

    @property
    def token(self) -> str:
        return f"{self.base_url}/sandbox/token"

    @property
    def jwks(self) -> str:
        return f"{self.base_url}/sandbox/jwks"

    @property
    def gradebook(self) -> str:
        return f"{self.base_url}/sandbox/gradebook"

    def course_api(self, course_id: str) -> str:
        """Canvas's `/api/lti/courses/<id>` prefix of the course's services, under /sandbox."""
        return f"{self.base_url}/sandbox/api/lti/courses/{course_id}"

    def lineitems(self, course_id: str) -> str:
        return f"{self.course_api(course_id)}/line_items"

    def lineitem(self, course_id: str, item_id: str) -> str:
        return f"{self.lineitems(course_id)}/{item_id}"

    def memberships(self, course_id: str) -> str:
        return f"{self.course_api(course_id)}/names_and_roles"

    def deep_link_return(self, placement: str) -> str:
        return f"{self.base_url}/sandbox/return/{placement}"

    @property
    def tool_login(self) -> str:
        return f"{self.base_url}/lti/login"

    @property
    def tool_launch(self) -> str:
        return f"{self.base_url}/lti/launch"


def ensure_sandbox_registration(session: Session, settings: Settings) -> PlatformRow:
    """Register the sandbox platform and its deployment unless already there (the caller commits)."""
    urls = SandboxUrls(settings.base_url)
    platform = find_platform(session, urls.issuer, CLIENT_ID)
    if platform is None:
        platform = add_platform(session, issuer=urls.issuer, client_id=CLIENT_ID, name=PLATFORM_NAME,
                                auth_login_url=urls.auth, auth_token_url=urls.token, key_set_url=urls.jwks,
                                allow_http=not settings.is_production)
    deployment = find_deployment(session, platform, DEPLOYMENT_ID)
    if deployment is None or deployment.status == PENDING:
        add_deployment(session, platform, DEPLOYMENT_ID, status=ACTIVE)
    return platform
