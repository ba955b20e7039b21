"""Portfolio items in the database (and their files on disk), always looked up through their owner.

Every function that reads items takes an Owner, so one student's items can never be reached with another
student's launch: an item of someone else is simply "not found". These are queries and checks; they never
commit. Adding an item (which commits, for the sake of the uploaded file) is in adding.py.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from marketplace.lti.context import LaunchContext
from marketplace.portfolio.errors import PortfolioError
from marketplace.store.models import LaunchRow, PortfolioItemRow, PortfolioSubmissionRow
from marketplace.store.upsert import insert_or_ignore

KINDS = ("file", "link", "note")
MAX_TITLE = 200
MAX_NOTE = 10_000
MAX_URL = 2000
MAX_ITEMS = 200  # per student: with 20 MB files this still bounds what one account can put on disk


@dataclass(frozen=True, slots=True)
class Owner:
    """A portfolio's owner: a user `sub`, which is only unique within its platform."""

    platform_id: int
    sub: str


def owner_for_launch(session: Session, context: LaunchContext) -> Owner:
    """The owner behind a verified launch; PortfolioError (403) for an anonymous launch."""
    platform_id = context.platform_id
    if platform_id is None:  # a context built from claims alone: the launch row says which platform
        row = session.get(LaunchRow, context.launch_id)
        if row is None:
            raise PortfolioError("This session is not valid here. Open the tool again from your course.", 401)
        platform_id = row.platform_id
    if not context.user_sub:
        raise PortfolioError("Your course did not say who you are, so there is no portfolio to show. Open the tool "
                             "again from your course while signed in.", 403)
    return Owner(platform_id, context.user_sub)


def record_submission(session: Session, item: PortfolioItemRow, context: LaunchContext) -> None:
    """Remember the course and deployment an item is submitted to: their teachers may open it from now on."""
    # Insert-or-ignore: the same item submitted twice at once (two tabs) records it once and fails neither.
    insert_or_ignore(session, PortfolioSubmissionRow,
                     {"item_id": item.id, "platform_id": item.platform_id, "deployment_id": context.deployment_id,
                      "context_id": context.context_id or ""},
                     ["item_id", "platform_id", "deployment_id", "context_id"])
    session.flush()


def may_open_submitted(session: Session, item: PortfolioItemRow, platform_id: int, context: LaunchContext) -> bool:
    """Its owner may open an item; an instructor only where it was submitted (same platform, deployment and
    course). A teacher of another course on the same platform must not read students' work by its id."""
    if item.platform_id != platform_id:
        return False
    if context.user_sub and item.owner_sub == context.user_sub:
        return True
    if not context.is_instructor or not context.context_id:
        return False
    return session.scalars(select(PortfolioSubmissionRow.id).where(
        PortfolioSubmissionRow.item_id == item.id, PortfolioSubmissionRow.platform_id == platform_id,
        PortfolioSubmissionRow.deployment_id == context.deployment_id,
        PortfolioSubmissionRow.context_id == context.context_id)).first() is not None


def owned_by(owner: Owner) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return PortfolioItemRow.platform_id == owner.platform_id, PortfolioItemRow.owner_sub == owner.sub


def list_items(session: Session, owner: Owner) -> list[PortfolioItemRow]:
    """The owner's items, newest first."""
    query = select(PortfolioItemRow).where(*owned_by(owner)).order_by(
        PortfolioItemRow.created_at.desc(), PortfolioItemRow.id
    )
    return list(session.scalars(query))


def get_item(session: Session, owner: Owner, item_id: str) -> PortfolioItemRow | None:
    """One of the owner's items; None when it does not exist or belongs to someone else."""
    query = select(PortfolioItemRow).where(PortfolioItemRow.id == item_id, *owned_by(owner))
    return session.scalars(query).first()


def get_file_item(session: Session, item_id: str) -> PortfolioItemRow | None:
    """A file item by id alone: only for signed downloads, where the URL signature is the permission."""
    item = session.get(PortfolioItemRow, item_id)
    return item if item is not None and item.kind == "file" else None


def get_signed_item(session: Session, item_id: str) -> PortfolioItemRow | None:
    """Any item by id alone (files, and notes and links served as web pages): only for signed downloads,
    where the URL signature over the item's current content is the permission."""
    item = session.get(PortfolioItemRow, item_id)
    return item if item is not None and item.kind in KINDS else None


# -- validation ---------------------------------------------------------------------------------------------
def clean_title(raw: str) -> str:
    """The title on one line, without control characters; PortfolioError when missing or too long."""
    title = " ".join("".join(c for c in raw if unicodedata.category(c) != "Cc" or c.isspace()).split())
    if not title:
        raise PortfolioError("Give the item a title, so you can recognise it in your portfolio.")
    if len(title) > MAX_TITLE:
        raise PortfolioError(f"The title is {len(title):,} characters long; keep it to {MAX_TITLE}.")
    return title


def clean_url(raw: str) -> str:
    """An absolute http(s) URL; anything else (javascript:, data:, relative) is refused."""
    url = raw.strip()
    if len(url) > MAX_URL:
        raise PortfolioError(f"The link is {len(url):,} characters long; links can be at most {MAX_URL:,}.")
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise PortfolioError("The link contains spaces or invisible characters. Copy it again from the address bar.")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise PortfolioError("The link must be a full web address starting with https:// (or http://).")
    return url


def clean_note(raw: str) -> str:
    """The note with newlines normalised and control characters (which PostgreSQL refuses, e.g. NUL) dropped."""
    note = raw.replace("\r\n", "\n").replace("\r", "\n")
    note = "".join(c for c in note if unicodedata.category(c) != "Cc" or c in "\n\t").strip()
    if not note:
        raise PortfolioError("The note is empty. Write something, or add a link or a file instead.")
    if len(note) > MAX_NOTE:
        raise PortfolioError(f"The note is {len(note):,} characters long; notes can be at most {MAX_NOTE:,}.")
    return note


