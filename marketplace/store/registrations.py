"""Query functions for platforms and deployments. They never commit: the caller owns the transaction."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.store.models import DeploymentRow, PlatformRow, utc_now

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
) -> PlatformRow:
    """Register a platform (issuer + client_id); several client_ids per issuer are allowed."""
    for label, url in (("auth login URL", auth_login_url), ("auth token URL", auth_token_url),
                       ("key set URL", key_set_url), ("issuer", issuer)):
        if not url.startswith(("https://", "http://")):
            raise RegistrationError(f"The {label} must be an http(s) URL, not {url!r}.")
    if not client_id.strip():
        raise RegistrationError("The client_id must not be empty.")
    for origin in frame_origins or []:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
            raise RegistrationError(f"A frame origin is a scheme and host such as https://school.example.edu, "
                                    f"not {origin!r}.")
    for label, value, limit in (("issuer", issuer, 500), ("client_id", client_id, 255), ("name", name or "", 200)):
        if len(value) > limit:
            raise RegistrationError(f"The {label} is longer than {limit} characters.")
    if find_platform(session, issuer, client_id) is not None:
        raise RegistrationError(f"A platform with issuer {issuer} and client_id {client_id} is already registered.")
    row = PlatformRow(
        issuer=issuer,
        client_id=client_id,
        name=name or issuer,
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        auth_audience=auth_audience,
        key_set_url=key_set_url,
        frame_origins=[origin.rstrip("/") for origin in frame_origins or []],
    )
    session.add(row)
    session.flush()
    return row


def find_platform(session: Session, issuer: str, client_id: str | None) -> PlatformRow | None:
    """The platform for this issuer and client_id; without a client_id, the issuer's only platform."""
    query = select(PlatformRow).where(PlatformRow.issuer == issuer)
    if client_id:
        return session.scalars(query.where(PlatformRow.client_id == client_id)).first()
    rows = list(session.scalars(query.limit(2)))
    return rows[0] if len(rows) == 1 else None


def platforms_of_issuer(session: Session, issuer: str) -> list[PlatformRow]:
    return list(session.scalars(select(PlatformRow).where(PlatformRow.issuer == issuer)))


def list_platforms(session: Session) -> list[PlatformRow]:
    return list(session.scalars(select(PlatformRow).order_by(PlatformRow.issuer, PlatformRow.client_id)))


def remove_platform(session: Session, issuer: str, client_id: str) -> None:
    row = find_platform(session, issuer, client_id)
    if row is None:
        raise RegistrationError(f"No platform with issuer {issuer} and client_id {client_id} is registered.")
    session.delete(row)
    session.flush()


def find_deployment(session: Session, platform: PlatformRow, deployment_id: str) -> DeploymentRow | None:
    query = select(DeploymentRow).where(
        DeploymentRow.platform_id == platform.id, DeploymentRow.deployment_id == deployment_id
    )
    return session.scalars(query).first()


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
