"""SQLAlchemy models. Portable types only: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from marketplace.clock import aware, utc_now


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored as UTC and always read back aware (SQLite returns naive datetimes), so no caller has to
    repair one."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return aware(value) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return aware(value) if value is not None else None


class Base(DeclarativeBase):
    """The declarative base of every table."""


def table_of(row_class: type[Base]) -> Table:
    """The table of a mapped class, for Core statements built once on a hot path (a Core statement skips the
    ORM's per-call planning). Declarative typing calls `__table__` any FromClause; ours are all tables."""
    table = row_class.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{row_class.__name__} is not mapped to a table")
    return table


class SubjectRow(Base):
    """A subject of the catalog (the closed vocabulary, kept in the database for joins and reports)."""

    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))


class ResourceRow(Base):
    """One catalog resource, as loaded from its file in content/."""

    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"), index=True)
    grade_levels: Mapped[list[str]] = mapped_column(JSON)
    type: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(35))
    keywords: Mapped[list[str]] = mapped_column(JSON)
    thumbnail: Mapped[str] = mapped_column(String(2000))
    author_name: Mapped[str] = mapped_column(String(300))
    author_url: Mapped[str | None] = mapped_column(String(2000))
    license_id: Mapped[str] = mapped_column(String(40), index=True)
    license_attribution: Mapped[str] = mapped_column(Text)
    license_url: Mapped[str] = mapped_column(String(2000))
    # Where and when the licence was read at its source (null for our own items and for unread sources).
    license_evidence_url: Mapped[str | None] = mapped_column(String(2000))
    license_checked: Mapped[date | None] = mapped_column(Date)
    license_note: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(String(500), unique=True)
    source_fingerprint: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)

    # created_at: the picker's newest list reads the catalog newest first (alembic 0009). source_stamp and
    # id_hash cover the two lists a re-index reads of every resource (alembic 0010). updated_at answers the
    # catalog fingerprint (alembic 0011).
    __table_args__ = (Index("ix_resources_content_hash", "content_hash"),
                      Index("ix_resources_created_at", "created_at", "id"),
                      Index("ix_resources_source_stamp", "source_path", "source_fingerprint", "id"),
                      Index("ix_resources_id_hash", "id", "content_hash"),
                      Index("ix_resources_updated_at", "updated_at"))


class ThumbnailRow(Base):
    """A resource's picture, scaled and stored when indexing so pages never hot-link a third-party site.

    The bytes live in the database, not on disk: every host serves them without a shared filesystem. A row
    with no `data` records a source that could not be made into a thumbnail, and why, so it is retried later.
    """

    __tablename__ = "thumbnails"

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    # The https URL fetched, or "content:<path>" for a picture shipped in content/.
    source_url: Mapped[str] = mapped_column(String(2000))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    # The SHA-256 of `data`: its first 12 hex digits name the public URL, so a new picture gets a new URL.
    sha256: Mapped[str | None] = mapped_column(String(64))
    media_type: Mapped[str | None] = mapped_column(String(50))
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    made_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # None exactly when `data` is
    last_error: Mapped[str | None] = mapped_column(Text)
    last_tried_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    # made_at answers the catalog fingerprint without reading the pictures (alembic 0011).
    __table_args__ = (Index("ix_thumbnails_made_at", "made_at"),)


class CatalogGenerationRow(Base):
    """One row: a counter that every transaction changing the catalog moves by one (alembic 0012).

    Hosts see a catalog change made elsewhere by comparing it with the generation their index was synced to.
    Row counts and newest change times alone miss a removal together with a change stamped by a host whose
    clock is behind, or a transaction that commits after a later-stamped one; a counter bumped inside the
    changing transaction cannot (on PostgreSQL the bump also holds the row until that transaction commits).
    """

    __tablename__ = "catalog_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class ReindexRunRow(Base):
    """One row: the operator's page re-index run, the latest or the one running (alembic 0013).

    Shared through the database so that every worker and host shows its progress (the page's poll reaches any
    of them) and only one runs at a time, tool-wide.
    """

    __tablename__ = "reindex_run"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    phase: Mapped[str] = mapped_column(String(20))  # idle | reading | indexing | done | failed
    done: Mapped[int] = mapped_column()
    total: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(Text)
    runner: Mapped[str] = mapped_column(String(300))  # host and process id
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PlatformRow(Base):
    """An LMS registration: one issuer and client_id pair (an issuer may have several client_ids)."""

    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    auth_login_url: Mapped[str] = mapped_column(String(2000))
    auth_token_url: Mapped[str] = mapped_column(String(2000))
    auth_audience: Mapped[str | None] = mapped_column(String(2000))
    key_set_url: Mapped[str] = mapped_column(String(2000))
    # Origins seen in verified launches (e.g. a Canvas institution's own domain), for frame-ancestors.
    frame_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "active", or "pending" for a dynamic registration no administrator has approved yet.
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_platforms_issuer_client_id"),)


class DeploymentRow(Base):
    """A deployment of the tool on a platform; unknown ones arrive as pending until an administrator approves."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("platform_id", "deployment_id", name="uq_deployments_platform_deployment"),)


class ToolKeyRow(Base):
    """One of the tool's RSA key pairs; the private key is encrypted with the secret key at rest."""

    __tablename__ = "tool_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LoginStateRow(Base):
    """An OIDC login in flight: the state and nonce we issued, until the launch uses them (once)."""

    __tablename__ = "login_states"

    state: Mapped[str] = mapped_column(String(100), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    target_link_uri: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LaunchRow(Base):
    """A verified launch: the typed context later requests of the same page work in."""

    __tablename__ = "launches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), index=True)
    deployment_row_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(100))
    message_type: Mapped[str] = mapped_column(String(60))
    user_sub: Mapped[str] = mapped_column(String(255), index=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set once the browser proved it started the login (cookie or platform storage).
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # A one-time code (its hash) that moves the launch to the app page without putting the launch token
    # in a URL, where access logs would keep it.
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A deep-linking launch is answered once (Canvas refuses a second response anyway).
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What that answer sent (content items and message), so that an answer whose page never reached the
    # browser (a worker died, the network dropped) is sent again rather than lost.
    response_items: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The picker's tray: resource ids selected so far, in order (kept server-side across searches).
    selection: Mapped[list[str]] = mapped_column(JSON, default=list)


class FavouriteRow(Base):
    """A resource an instructor starred (per platform user)."""

    __tablename__ = "favourites"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    user_sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class RecentUseRow(Base):
    """When an instructor last sent a resource to a course (per platform user)."""

    __tablename__ = "recent_uses"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    user_sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)


class PortfolioItemRow(Base):
    """One item of a student's portfolio: an uploaded file, a link or a note, owned by a platform user."""

    __tablename__ = "portfolio_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The owner is the platform plus the user's `sub`: a `sub` is only unique within its platform.
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    owner_sub: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))  # file | link | note
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    note: Mapped[str | None] = mapped_column(Text)
    # Files live in <data_dir>/uploads/<file_sha256>; identical uploads share one stored file.
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(127))
    file_size: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    __table_args__ = (
        Index("ix_portfolio_items_owner", "platform_id", "owner_sub"),
        Index("ix_portfolio_items_file_sha256", "file_sha256"),
    )


class PortfolioSubmissionRow(Base):
    """A portfolio item submitted to an assignment: the course and deployment whose teachers may open it."""

    __tablename__ = "portfolio_submissions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("portfolio_items.id", ondelete="CASCADE"))
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    __table_args__ = (
        UniqueConstraint("item_id", "platform_id", "deployment_id", "context_id",
                         name="uq_portfolio_submissions_place"),
    )


class QuizAttemptRow(Base):
    """One submitted attempt at a quiz in a resource-link launch, graded by the server from the answer key."""

    __tablename__ = "quiz_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    user_sub: Mapped[str] = mapped_column(String(255))
    # Shown in the grade view for learners the roster no longer lists.
    user_name: Mapped[str | None] = mapped_column(String(300))
    launch_id: Mapped[str] = mapped_column(String(36))
    resource_id: Mapped[str] = mapped_column(String(80))
    number: Mapped[int] = mapped_column()
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Why no grade job was written (no AGS in the launch, a scope missing), for the grade view.
    not_sent_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_quiz_attempts_link_user", "platform_id", "context_id", "resource_link_id", "user_sub"),
        UniqueConstraint("platform_id", "deployment_id", "context_id", "resource_link_id", "user_sub", "number",
                         name="uq_quiz_attempts_number"),
    )


class GradeJobRow(Base):
    """The outbox: one score to deliver to a platform's gradebook, written with the attempt that earned it."""

    __tablename__ = "grade_jobs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    # The resource link's key (platform, deployment, context, link) and the user's: jobs of one series are
    # delivered in the order they were written, never overtaking each other.
    link_key: Mapped[str] = mapped_column(String(64), index=True)
    series: Mapped[str] = mapped_column(String(64), index=True)
    user_sub: Mapped[str] = mapped_column(String(255))
    # pending | sent | failed | superseded
    state: Mapped[str] = mapped_column(String(20), default="pending")
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    # ISO 8601 with microseconds, strictly increasing per series (the platform orders scores by it).
    score_timestamp: Mapped[str] = mapped_column(String(40))
    submitted_at: Mapped[str] = mapped_column(String(40))
    # Where and how to deliver: service URLs and scopes from the launch, the resource, the platform's product.
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    tries: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Set while a worker holds the job; still set when a new worker claims it, the last one died mid-delivery.
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[int | None] = mapped_column()
    last_message: Mapped[str | None] = mapped_column(Text)
    lineitem_url: Mapped[str | None] = mapped_column(String(2000))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    __table_args__ = (Index("ix_grade_jobs_due", "state", "next_attempt_at"),)


class LineItemRow(Base):
    """The gradebook column of one resource link, remembered once found or created (a lease guards creation)."""

    __tablename__ = "line_items"

    link_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(2000))
    # launch | found | created
    source: Mapped[str | None] = mapped_column(String(20))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class AccessTokenRow(Base):
    """A platform's service access token, shared by every job and process until shortly before it expires."""

    __tablename__ = "access_tokens"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"), primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scopes: Mapped[str] = mapped_column(Text)
    # Encrypted at rest like the tool's private keys: a database dump must not hand out gradebook access.
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # One process fetches a new token while the others wait for it.
    refresh_owner: Mapped[str | None] = mapped_column(String(64))
    refresh_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class NoticeRow(Base):
    """A platform notice, recorded once under its platform and notice id (a batch delivered again is a no-op)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    notice_id: Mapped[str] = mapped_column(String(255))
    notice_type: Mapped[str] = mapped_column(String(255))
    # False for notice types this tool records but does not act on.
    handled: Mapped[bool] = mapped_column()
    context_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("platform_id", "notice_id", name="uq_notices_platform_notice"),)


class CourseCopyRow(Base):
    """A course copied from another one, as a platform's LtiContextCopyNotice said."""

    __tablename__ = "course_copies"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str] = mapped_column(String(255))
    origin_context_id: Mapped[str] = mapped_column(String(255))
    notice_id: Mapped[str] = mapped_column(String(255))
    copied_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("platform_id", "context_id", "origin_context_id", name="uq_course_copies_pair"),)


class ResourceLinkRow(Base):
    """Which resource a resource link in a course showed, so that a copy of the link without its custom
    values still finds it (see lti/course_copies.py)."""

    __tablename__ = "resource_links"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(255))
    resource_id: Mapped[str] = mapped_column(String(255))
    last_launch_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("platform_id", "context_id", "resource_link_id", name="uq_resource_links_link"),
        Index("ix_resource_links_title", "platform_id", "context_id", "title"),
    )


class LaunchRefusalRow(Base):
    """A refused login or launch, for the operator's page: the failed check, the sentence shown, the reference
    the person was given (the same as in the log line). No token, no claim values."""

    __tablename__ = "launch_refusals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    check: Mapped[str] = mapped_column(String(60))
    status: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(String(1000))
    path: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(20))
    refused_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
