"""SQLAlchemy models. Portable types only: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of every table."""


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
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(String(500), unique=True)
    source_fingerprint: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)

    __table_args__ = (Index("ix_resources_content_hash", "content_hash"),)
