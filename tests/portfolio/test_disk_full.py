"""The disk fills up while a student uploads a file: a clear 507, nothing stored, no half-written file left, and
uploads work again once there is room."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.portfolio.conftest import Student, leftover_files, rows


@pytest.fixture
def small_uploads_disk(portfolio_env: object) -> Iterator[Path]:
    """A 128 KiB tmpfs mounted as the uploads folder (a real file system that really fills up)."""
    uploads = portfolio_env.settings.data_dir / "uploads"  # type: ignore[attr-defined]
    uploads.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_or_fail("mounting a small file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(uploads)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield uploads
    finally:
        subprocess.run(["umount", "-l", str(uploads)], check=False)


def test_a_full_disk_refuses_the_upload_cleanly(student: Callable[[str], Student],
                                                small_uploads_disk: Path) -> None:
    ada = student("ada")
    big = b"%PDF-1.4\n" + b"x" * (400 * 1024)  # larger than the disk, far under the upload limit
    response = ada.add("My essay", file=("essay.pdf", big))
    assert response.status_code == 507, response.text[:300]
    assert "storage is full" in response.text and "Nothing was added" in response.text
    assert "Traceback" not in response.text
    assert rows(ada.env.sessions) == []
    assert leftover_files(ada.env.settings.data_dir) == []  # no .part file left behind
    small = b"%PDF-1.4\n" + b"y" * 1024
    assert ada.add("A short note", file=("short.pdf", small)).status_code == 200  # room again: it works
    assert [row.title for row in rows(ada.env.sessions)] == ["A short note"]
