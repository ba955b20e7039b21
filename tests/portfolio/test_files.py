"""The upload allow-list: names cleaned, extensions and bytes checked, limits enforced, nothing left behind."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from marketplace.portfolio import files
from marketplace.portfolio.errors import PortfolioError
from tests.portfolio import samples


@pytest.mark.parametrize(("raw", "clean"), [
    ("essay.PDF", "essay.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\ada\\My essay (final).docx", "My essay (final).docx"),
    ('<img src=x onerror=alert(1)>.png', "img src_x onerror_alert(1).png"),
    ("résumé\u202e.txt", "résumé.txt"), ("..\x00.txt", "upload.txt"),
    (".pdf", "upload.pdf"),
    ("noextension", "noextension"),
    ("a" * 400 + ".csv", "a" * files.MAX_STEM + ".csv"),
    ("", "upload"),
])
def test_clean_filename(raw: str, clean: str) -> None:
    assert files.clean_filename(raw) == clean


@pytest.mark.parametrize("name", ["virus.exe", "page.html", "drawing.svg", "archive.zip", "noextension", "x.pdf.exe"])
def test_types_off_the_allow_list_are_refused(name: str) -> None:
    with pytest.raises(PortfolioError, match="cannot be added to a portfolio") as refused:
        files.file_type_of(files.clean_filename(name))
    assert refused.value.status == 400 and ".pdf" in refused.value.message


@pytest.mark.parametrize(("name", "content"), [
    ("a.png", samples.PNG), ("a.pdf", samples.PDF), ("a.jpg", samples.JPEG), ("a.jpeg", samples.JPEG),
    ("a.gif", samples.GIF), ("a.txt", samples.TEXT), ("a.csv", samples.CSV), ("a.docx", samples.DOCX),
    ("a.xlsx", samples.XLSX), ("a.odt", samples.ODT),
])
def test_allowed_types_with_matching_bytes_pass(tmp_path: Path, name: str, content: bytes) -> None:
    received = files.receive(io.BytesIO(content), tmp_path, files.MAX_FILE_BYTES, name)
    files.check_type(received, files.file_type_of(name), name)
    assert received.size == len(content) and received.path.read_bytes() == content


@pytest.mark.parametrize(("name", "content"), [
    ("a.png", samples.PDF), ("a.pdf", samples.PNG), ("a.jpg", samples.GIF), ("a.txt", samples.EXE),
    ("a.csv", samples.PNG), ("a.docx", samples.PLAIN_ZIP), ("a.docx", samples.XLSX), ("a.xlsx", samples.DOCX),
    ("a.odt", samples.DOCX), ("a.docx", b"PK\x03\x04 but not a zip"), ("a.gif", b"GIF"),
])
def test_bytes_that_do_not_match_the_extension_are_refused(tmp_path: Path, name: str, content: bytes) -> None:
    received = files.receive(io.BytesIO(content), tmp_path, files.MAX_FILE_BYTES, name)
    with pytest.raises(PortfolioError, match="does not look like"):
        files.check_type(received, files.file_type_of(name), name)


def test_receive_hashes_and_refuses_oversized_and_empty_streams_leaving_nothing(tmp_path: Path) -> None:
    received = files.receive(io.BytesIO(b"x" * 100), tmp_path, 100, "a.txt")
    assert received.sha256 == hashlib.sha256(b"x" * 100).hexdigest()
    received.path.unlink()
    with pytest.raises(PortfolioError, match="larger than 100 bytes") as too_large:
        files.receive(io.BytesIO(b"x" * 101), tmp_path, 100, "a.txt")
    assert too_large.value.status == 413
    with pytest.raises(PortfolioError, match="is empty"):
        files.receive(io.BytesIO(b""), tmp_path, 100, "a.txt")
    assert list(tmp_path.iterdir()) == []


def test_stored_path_only_takes_hashes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sha256"):
        files.stored_path(tmp_path, "../secret_key")
    assert files.stored_path(tmp_path, "a" * 64) == tmp_path / "uploads" / ("a" * 64)


def test_human_size() -> None:
    assert files.human_size(files.MAX_FILE_BYTES) == "20 MB"
    assert (files.human_size(4096), files.human_size(12)) == ("4 KB", "12 bytes")
