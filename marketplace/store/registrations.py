"""Query functions for platforms and deployments. They never commit: the caller owns the transaction."""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from marketplace.clock import utc_now
from marketplace.platform_urls import PlatformUrlError, normalise_url
from marketplace.store.models import DeploymentRow, PlatformRow

ACTIVE = "active"
PENDING = "pending"


class RegistrationError(ValueError):
    """Bad or conflicting registration input; the message is a sentence for the operator."""


def add_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    auth_audience: str | None = None,
    name: str | None = None,
    frame_origins: list[str] | None = None,
    status: str = ACTIVE,
    allow_http: bool = False,
) -> PlatformRow:
    """Register a platform (issuer + client_id); several client_ids per issuer are allowed.

    Every URL is validated and stored normalised here, the one door all registrations pass (CLI, dynamic
    registration, sandbox); http is accepted only with `allow_http` (never in production).
    """
    try:
        auth_login_url = normalise_url(auth_login_url, what="auth login URL", allow_http=allow_http)
        auth_token_url = normalise_url(auth_token_url, what="auth token URL", allow_http=allow_http)
        key_set_url = normalise_url(key_set_url, what="key set URL", allow_http=allow_http)
        normalise_url(issuer, what="issuer", allow_http=allow_http)  # the issuer is compared as sent: kept
        origins = [normalise_url(origin, what="frame origin", allow_http=allow_http, origin_only=True)
                   for origin in frame_origins or []]
    except PlatformUrlError as error:
        raise RegistrationError(str(error)) from None
    if not client_id.strip():
        raise RegistrationError("The client_id must not be empty.")
    for label, value, limit in (("issuer", issuer, 500), ("client_id", client_id, 255), ("name", name or "", 200)):
        if len(value) > limit:
            raise RegistrationError(f"The {label} is longer than {limit} characters.")
    if find_platform(session, issuer, client_id, include_pending=True) is not None:
        raise RegistrationError(f"A platform with issuer {issuer} and client_id {client_id} is already registered.")
    row = PlatformRow(
        issuer=issuer,
        client_id=client_id,
        name=name or issuer,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        auth_audience=auth_audience,
        key_set_url=key_set_url,
        frame_origins=origins,
        status=status,
    )
    session.add(row)
    session.flush()
    return row


# Every login and launch looks its platform up (and its deployment): the statements are built once, on first use
# (the mapper is not touched at import), with their parameters bound at each call. Building an ORM select and
# its cache key each time cost more than running it.
@functools.cache
def _platform_query(include_pending: bool, by_client_id: bool) -> Select[PlatformRow]:
    query = select(PlatformRow).where(PlatformRow.issuer == bindparam("issuer"))
    if not include_pending:
        query = query.where(PlatformRow.status == ACTIVE)
    return query.where(PlatformRow.client_id == bindparam("client_id")) if by_client_id else query.limit(2)


@functools.cache
def _active_of_issuer_query() -> Select[PlatformRow]:
    return select(PlatformRow).where(PlatformRow.issuer == bindparam("issuer"), PlatformRow.status == ACTIVE)


@functools.cache
def _deployment_query() -> Select[DeploymentRow]:
    return select(DeploymentRow).where(DeploymentRow.platform_id == bindparam("platform_id"),
                                       DeploymentRow.deployment_id == bindparam("deployment_id"))


def find_platform(session: Session, issuer: str, client_id: str | None, *,
                  include_pending: bool = False) -> PlatformRow | None:
    """The approved platform for this issuer and client_id; without a client_id, the issuer's only one.

    Platforms awaiting approval are invisible to launches, logins and headers unless `include_pending`.
    """
    query = _platform_query(include_pending, bool(client_id))
    if client_id:
        return session.scalars(query, {"issuer": issuer, "client_id": client_id}).first()
    rows = list(session.scalars(query, {"issuer": issuer}))
    return rows[0] if len(rows) == 1 else None


def platforms_of_issuer(session: Session, issuer: str) -> list[PlatformRow]:
    """The issuer's approved platforms."""
    return list(session.scalars(_active_of_issuer_query(), {"issuer": issuer}))


def active_platforms(session: Session) -> list[PlatformRow]:
    return list(session.scalars(select(PlatformRow).where(PlatformRow.status == ACTIVE)))


def pending_platform_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(PlatformRow).where(PlatformRow.status == PENDING))
               or 0)


def approve_platform(session: Session, row: PlatformRow) -> list[DeploymentRow]:
    """Approve a platform and the deployments its registration brought; returns those deployments."""
    row.status = ACTIVE
    approved = [approve_deployment(session, deployment) for deployment in session.scalars(
        select(DeploymentRow).where(DeploymentRow.platform_id == row.id, DeploymentRow.status == PENDING))]
    session.flush()
    return approved


def list_platforms(session: Session) -> list[PlatformRow]:
    return list(session.scalars(select(PlatformRow).order_by(PlatformRow.issuer, PlatformRow.client_id)))


def remove_platform(session: Session, issuer: str, client_id: str) -> None:
    row = find_platform(session, issuer, client_id, include_pending=True)
    if row is None:
        raise RegistrationError(f"No platform with issuer {issuer} and client_id {client_id} is registered.")
    session.delete(row)
    session.flush()


def find_deployment(session: Session, platform: PlatformRow, deployment_id: str) -> DeploymentRow | None:
    return session.scalars(_deployment_query(), {"platform_id": platform.id, "deployment_id": deployment_id}).first()


def add_deployment(
    session: Session, platform: PlatformRow, deployment_id: str, *, status: str = ACTIVE
) -> DeploymentRow:
    """Register a deployment; an existing pending one is approved instead."""
    if not deployment_id.strip():
        raise RegistrationError("The deployment_id must not be empty.")
    existing = find_deployment(session, platform, deployment_id)
    if existing is not None:
        if existing.status == PENDING and status == ACTIVE:
            return approve_deployment(session, existing)
        raise RegistrationError(f"The deployment {deployment_id} of {platform.issuer} is already registered.")
    row = DeploymentRow(
        platform_id=platform.id,
        deployment_id=deployment_id,
        status=status,
        approved_at=utc_now() if status == ACTIVE else None,
    )
    session.add(row)
    session.flush()
    return row


def approve_deployment(session: Session, row: DeploymentRow) -> DeploymentRow:
    row.status = ACTIVE
    row.approved_at = utc_now()
    session.flush()
    return row


def list_deployments(session: Session) -> list[tuple[PlatformRow, DeploymentRow]]:
    query = (
        select(PlatformRow, DeploymentRow)
        .join(DeploymentRow, DeploymentRow.platform_id == PlatformRow.id)
        .order_by(PlatformRow.issuer, PlatformRow.client_id, DeploymentRow.deployment_id)
    )
    return [(platform, deployment) for platform, deployment in session.execute(query)]


def remove_deployment(session: Session, row: DeploymentRow) -> None:
    session.delete(row)
    session.flush()
