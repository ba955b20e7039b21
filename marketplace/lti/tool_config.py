"""A PyLTI1p3 tool configuration backed by the platforms and deployments tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy.orm import Session

from marketplace.store.models import PlatformRow
from marketplace.store.registrations import ACTIVE, find_deployment, find_platform


def registration_of(platform: PlatformRow) -> Registration:
    registration = Registration()
    registration.set_issuer(platform.issuer)
    registration.set_client_id(platform.client_id)
    registration.set_auth_login_url(platform.auth_login_url)
    registration.set_auth_token_url(platform.auth_token_url)
    if platform.auth_audience:
        registration.set_auth_audience(platform.auth_audience)
    registration.set_key_set_url(platform.key_set_url)
    return registration


class DatabaseToolConf(ToolConfAbstract[Request]):
    """Registrations looked up per request in one database session; every issuer may have many client_ids.

    A login or launch has already read its approved platform when PyLTI1p3 asks for the registration: `known`
    platforms are answered without reading them again (a statement less per login and per launch)."""

    def __init__(self, session: Session, known: Iterable[PlatformRow] = ()) -> None:
        self.session = session
        self.issuers_relation_types = {}
        self._known: dict[tuple[str, str], PlatformRow] = {}
        for platform in known:
            self.know(platform)

    def know(self, platform: PlatformRow) -> None:
        """Remember an approved platform this request has read."""
        if platform.status == ACTIVE:
            self._known[(platform.issuer, platform.client_id)] = platform

    def _approved(self, iss: str, client_id: str | None) -> PlatformRow | None:
        if client_id and (iss, client_id) in self._known:
            return self._known[(iss, client_id)]
        return find_platform(self.session, iss, client_id)

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def platform(self, iss: str, client_id: str | None) -> PlatformRow | None:
        return self._approved(iss, client_id)

    # PyLTI1p3 tests the result for None although its annotation says Registration.
    def find_registration_by_issuer(  # type: ignore[override]
        self, iss: str, *args: Any, **kwargs: Any
    ) -> Registration | None:
        platform = find_platform(self.session, iss, None)
        return registration_of(platform) if platform else None

    def find_registration_by_params(  # type: ignore[override]
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration | None:
        platform = self._approved(iss, client_id)
        return registration_of(platform) if platform else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, "")

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        platform = self._approved(iss, client_id or None)
        row = find_deployment(self.session, platform, deployment_id) if platform else None
        if row is None or row.status != ACTIVE:
            return None
        return Deployment().set_deployment_id(row.deployment_id)
