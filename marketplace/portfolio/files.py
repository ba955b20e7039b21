"""Uploaded files: the allow-list of types, filename cleaning, and streaming to disk while hashing and sniffing.

A type is accepted only when the extension is on the allow-list *and* the bytes look like that type. The
media type the browser declared is ignored: browsers disagree (a CSV arrives as text/csv, text/plain or
application/vnd.ms-excel) and the sender controls it anyway. Archives (zip), HTML, SVG and executables are
left off on purpose: they can carry scripts or programs to whoever opens the submission.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from marketplace.portfolio.errors import PortfolioError

MAX_FILE_BYTES = 20 * 1024 * 1024
CHUNK = 64 * 1024
HEAD = 4096
MAX_STEM = 150
UPLOADS = "uploads"
TEMP_PREFIX = ".upload-"

# Control bytes that do not occur in text (tab, newlines, form feed, vertical tab and escape do).
_BINARY_CONTROL = frozenset(range(32)) - {9, 10, 11, 12, 13, 27}
_TEXT_BYTES = bytes(value for value in range(256) if value not in _BINARY_CONTROL)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Received:
    """An upload written to a temporary file, with what was learned while writing it."""

    path: Path
    size: int
    sha256: str
    head: bytes
    text: bool


@dataclass(frozen=True, slots=True)
class FileType:
    """One allowed type: its extension, the media type it is served with, and the check its bytes must pass."""

    extension: str
    media_type: str
    label: str
    matches: Callable[[Received], bool]


def _zip_names(path: Path) -> set[str] | None:
    """The member names of a zip file (its central directory only: nothing is decompressed), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            return set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _office_open_xml(folder: str) -> Callable[[Received], bool]:
    def matches(received: Received) -> bool:
        if not received.head.startswith(b"PK\x03\x04"):
            return False
        names = _zip_names(received.path)
        return names is not None and "[Content_Types].xml" in names and any(n.startswith(folder) for n in names)

    return matches


def _open_document(media_type: str) -> Callable[[Received], bool]:
    def matches(received: Received) -> bool:
        if not received.head.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(received.path) as archive, archive.open("mimetype") as member:
                return member.read(len(media_type) + 1) == media_type.encode("ascii")
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError):
            return False

    return matches


def _text(received: Received) -> bool:
    return received.text


_ODT = "application/vnd.oasis.opendocument.text"
_ODS = "application/vnd.oasis.opendocument.spreadsheet"
_ODP = "application/vnd.oasis.opendocument.presentation"
ALLOWED: dict[str, FileType] = {
    file_type.extension: file_type
    for file_type in (
        # PDF readers accept the header anywhere in the first kilobyte, so we do too.
        FileType("pdf", "application/pdf", "PDF", lambda r: b"%PDF-" in r.head[:1024]),
        FileType("png", "image/png", "PNG", lambda r: r.head.startswith(b"\x89PNG\r\n\x1a\n")),
        FileType("jpg", "image/jpeg", "JPEG", lambda r: r.head.startswith(b"\xff\xd8\xff")),
        FileType("jpeg", "image/jpeg", "JPEG", lambda r: r.head.startswith(b"\xff\xd8\xff")),
        FileType("gif", "image/gif", "GIF", lambda r: r.head[:6] in (b"GIF87a", b"GIF89a")),
        FileType("txt", "text/plain", "text", _text),
        FileType("csv", "text/csv", "CSV", _text),
        FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word",
                 _office_open_xml("word/")),
        FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel",
                 _office_open_xml("xl/")),
        FileType("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint",
                 _office_open_xml("ppt/")),
        FileType("odt", _ODT, "OpenDocument text", _open_document(_ODT)),
        FileType("ods", _ODS, "OpenDocument spreadsheet", _open_document(_ODS)),
        FileType("odp", _ODP, "OpenDocument presentation", _open_document(_ODP)),
    )
}
ALLOWED_LIST = ", ".join(f".{extension}" for extension in ALLOWED)


def human_size(size: int) -> str:
    """A byte count for people: 20 MB, 512 KB, 300 bytes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def clean_filename(raw: str) -> str:
    """A safe display and download name: no folders, no control or markup characters, a lower-case extension."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(char if char.isalnum() or char in " ._-()" else "_" for char in name)
    name = re.sub(r"\s+", " ", re.sub(r"_+", "_", name)).strip()
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    # Leading dots would make a hidden file on the grader's computer; trailing ones confuse Windows.
    stem = stem.strip(" ._")[:MAX_STEM].rstrip(" ._") or "upload"
    extension = extension.strip(" _").lower()
    return f"{stem}.{extension}" if extension else stem


def file_type_of(filename: str) -> FileType:
    """The allowed type of a cleaned file name; PortfolioError (400) for anything off the allow-list."""
    _, dot, extension = filename.rpartition(".")
    file_type = ALLOWED.get(extension) if dot else None
    if file_type is None:
        shown = f"“.{extension}” files" if dot and extension else "Files without an extension"
        raise PortfolioError(f"{shown} cannot be added to a portfolio. Allowed types: {ALLOWED_LIST}.")
    return file_type


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / UPLOADS


def stored_path(data_dir: Path, sha256: str) -> Path:
    """Where the file with this content hash lives; refuses anything that is not a hash (no path tricks)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return uploads_dir(data_dir) / sha256


# No space left, the disk quota used up, or the file size limit of the process reached.
_STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _storage_full(filename: str) -> PortfolioError:
    return PortfolioError(f"The tool's storage is full, so “{filename}” could not be saved. Nothing was added; "
                          "try again later, and tell your teacher if it keeps happening.", 507)


def receive(stream: BinaryIO, directory: Path, max_bytes: int, filename: str) -> Received:
    """Copy `stream` to a temporary file in `directory` while hashing it; the caller moves or deletes the file.

    The temporary file is in the uploads folder itself so the final rename is atomic (same file system).
    On any failure it is removed before the error propagates.
    """
    directory.mkdir(parents=True, exist_ok=True)
    try:
        descriptor, name = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".part")
    except OSError as error:
        if error.errno in _STORAGE_FULL:
            raise _storage_full(filename) from None
        raise
    path = Path(name)
    try:
        digest = hashlib.sha256()
        size = 0
        head = b""
        text = True
        with os.fdopen(descriptor, "wb") as handle:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PortfolioError(f"“{filename}” is larger than {human_size(max_bytes)}, the largest file a "
                                         "portfolio accepts. Nothing was added.", 413)
                digest.update(chunk)
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                if text and chunk.translate(None, _TEXT_BYTES):
                    text = False
                handle.write(chunk)
        if size == 0:
            raise PortfolioError(f"“{filename}” is empty. Choose a file with something in it.")
        return Received(path, size, digest.hexdigest(), head, text)
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if error.errno in _STORAGE_FULL:
            raise _storage_full(filename) from None
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def check_type(received: Received, file_type: FileType, filename: str) -> None:
    """PortfolioError (400) unless the bytes look like the type the extension claims."""
    if not file_type.matches(received):
        raise PortfolioError(f"“{filename}” does not look like a {file_type.label} file, though its name ends in "
                             f".{file_type.extension}. Check that you chose the right file.")
