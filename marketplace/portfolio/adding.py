"""Adding items to a student's portfolio: service functions that own their transaction.

Each add commits itself, because whether an uploaded file stays on disk depends on the commit succeeding:
on any error neither the row nor a newly stored file remains. The queries over items are in store.py."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.portfolio import files, store
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.store import KINDS, Owner, clean_note, clean_title, clean_url, owned_by
from marketplace.store.models import PortfolioItemRow


def _check_room(session: Session, owner: Owner) -> None:
    count = session.scalar(select(func.count()).select_from(PortfolioItemRow).where(*owned_by(owner))) or 0
    if count >= store.MAX_ITEMS:
        raise PortfolioError(f"Your portfolio already holds {store.MAX_ITEMS} items, the most it can.", 409)


def _new_row(owner: Owner, kind: str, title: str) -> PortfolioItemRow:
    assert kind in KINDS  # noqa: S101 - callers pass constants
    return PortfolioItemRow(id=str(uuid.uuid4()), platform_id=owner.platform_id, owner_sub=owner.sub, kind=kind,
                            title=title)


# -- adding -------------------------------------------------------------------------------------------------
def _add_row(session: Session, owner: Owner, row: PortfolioItemRow) -> PortfolioItemRow:
    _check_room(session, owner)
    session.add(row)
    session.commit()
    return row


def add_link(session: Session, owner: Owner, *, title: str, url: str) -> PortfolioItemRow:
    """Add a link item and commit."""
    row = _new_row(owner, "link", clean_title(title))
    row.url = clean_url(url)
    return _add_row(session, owner, row)


def add_note(session: Session, owner: Owner, *, title: str, note: str) -> PortfolioItemRow:
    """Add a note item and commit."""
    row = _new_row(owner, "note", clean_title(title))
    row.note = clean_note(note)
    return _add_row(session, owner, row)


def add_file(session: Session, owner: Owner, *, title: str, filename: str, stream: BinaryIO, data_dir: Path,
             max_bytes: int = files.MAX_FILE_BYTES) -> PortfolioItemRow:
    """Store an upload as `<data_dir>/uploads/<sha256>` and add its item, committing; on any error neither stays.

    Everything that can be checked before reading the bytes is checked first, so a refused upload never
    touches the disk at all.
    """
    row = _new_row(owner, "file", clean_title(title))
    name = files.clean_filename(filename)
    file_type = files.file_type_of(name)
    _check_room(session, owner)
    received = files.receive(stream, files.uploads_dir(data_dir), max_bytes, name)
    final = files.stored_path(data_dir, received.sha256)
    created = False
    try:
        files.check_type(received, file_type, name)
        if final.exists():
            received.path.unlink()  # the same bytes are stored already (the same file added twice)
        else:
            os.replace(received.path, final)
            created = True
        row.file_sha256, row.file_name, row.media_type = received.sha256, name, file_type.media_type
        row.file_size = received.size
        session.add(row)
        session.commit()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            received.path.unlink()
        try:
            session.rollback()
        finally:
            if created:
                _remove_unreferenced(session, final, received.sha256)
        raise
    return row


def _remove_unreferenced(session: Session, path: Path, sha256: str) -> None:
    """Delete a stored file no item refers to (after a failed insert); a shared file stays."""
    try:
        referenced = session.scalar(select(exists().where(PortfolioItemRow.file_sha256 == sha256)))
    except Exception:
        return  # the database is what failed: keep the file rather than risk deleting one another item uses
    if not referenced:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- one add from the portfolio's form ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Upload:
    """A file the student sent: the name their browser gave it and its bytes, read once."""

    filename: str
    stream: BinaryIO


def add_one(sessions: sessionmaker[Session], owner: Owner, *, title: str, url: str, note: str,
            upload: Upload | None, data_dir: Path, max_bytes: int) -> PortfolioItemRow:
    """Add exactly one item: the file, the link or the note the form holds (blocking); PortfolioError when it
    holds none or more than one, so nothing is added that the student did not mean."""
    given = [kind for kind, present in (("file", upload is not None), ("link", bool(url.strip())),
                                        ("note", bool(note.strip()))) if present]
    if not given:
        raise PortfolioError("Add a file, a link or a note, and give it a title.")
    if len(given) > 1:
        raise PortfolioError(f"Add one thing at a time: you gave a {' and a '.join(given)}.")
    with sessions() as session:
        if upload is not None:
            return add_file(session, owner, title=title, filename=upload.filename, stream=upload.stream,
                            data_dir=data_dir, max_bytes=max_bytes)
        if given == ["link"]:
            return add_link(session, owner, title=title, url=url)
        return add_note(session, owner, title=title, note=note)
