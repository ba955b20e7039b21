"""Listing content/resources/ to find what changed: the order of the files, their stamps, and what a re-index
does when a file's attachment changes or a folder cannot be listed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace.catalog.loader import fingerprint, in_source_order, scan_sources, source_files
from marketplace.catalog.records import get_resource
from marketplace.catalog.sync import load_content
from marketplace.cli import main
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from tests.conftest import write_resource


def nested_catalog(content_dir: Path) -> list[Path]:
    """Files at several depths, with names chosen so that sorting by string and by path parts differ
    ("a-b" sorts before "a/" as a string, after "a" as a part)."""
    root = content_dir / "resources"
    made = []
    for relative in ("a-b/one.toml", "a/b/two.toml", "a/three.toml", "a/b-c/four.toml", "z.toml", "a/b/c/five.toml",
                     "b/six.toml"):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# not a resource\n", encoding="utf-8")
        made.append(path)
    (root / "a" / "notes.txt").write_text("not listed\n", encoding="utf-8")
    return made


def test_source_files_are_in_path_order_at_every_depth(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    made = nested_catalog(content_dir)
    listed = source_files(content_dir)
    assert listed == sorted(made)  # Path order: by parts, not by string
    assert listed == sorted((content_dir / "resources").rglob("*.toml"))
    assert str(listed[0]).endswith("resources/a/b/c/five.toml")


def test_scan_sources_gives_each_file_its_stored_path_and_stamp(tmp_path: Path) -> None:
    content_dir = tmp_path / "content"
    made = nested_catalog(content_dir)
    scanned = scan_sources(content_dir)
    assert set(scanned) == {path.relative_to(content_dir).as_posix() for path in made}
    for relative, stamp in scanned.items():
        assert stamp == fingerprint(content_dir / relative)  # what the loader stores for a file without attachment
    assert in_source_order(scanned) == [path.relative_to(content_dir).as_posix() for path in source_files(content_dir)]
    # The stamp follows the file: a rewrite of another size changes it.
    made[0].write_text("# not a resource, longer now\n", encoding="utf-8")
    relative = made[0].relative_to(content_dir).as_posix()
    assert scan_sources(content_dir)[relative] != scanned[relative]


def test_a_linked_folder_is_not_entered_and_a_relative_content_dir_works(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    content_dir = tmp_path / "content"
    nested_catalog(content_dir)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stray.toml").write_text("# outside content/\n", encoding="utf-8")
    (content_dir / "resources" / "linked").symlink_to(outside, target_is_directory=True)
    monkeypatch.chdir(content_dir)
    scanned = scan_sources(Path("."))
    assert "resources/a/b/two.toml" in scanned and len(scanned) == 7
    assert not any("stray" in relative for relative in scanned)
    assert [path.as_posix() for path in source_files(Path("."))][:1] == ["resources/a/b/c/five.toml"]


def test_a_changed_attachment_alone_re_reads_its_resource(database_url: str, content_dir: Path) -> None:
    """A file resource's own TOML is unchanged, but its attachment grew: the stored size must follow."""
    (content_dir / "files" / "sheet.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    path = write_resource(content_dir, "data-sheet", title="A data sheet", description="Numbers to plot in class.")
    path.write_text(path.read_text(encoding="utf-8").replace('type = "link"', 'type = "file"').replace(
        'url = "https://example.org/data-sheet"', 'path = "sheet.csv"\nmedia_type = "text/csv"'), encoding="utf-8")
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            first = load_content(session, content_dir)
            session.commit()
            assert not first.problems, first.problems
            assert get_resource(session, "data-sheet").payload["size"] == 8  # type: ignore[union-attr]
            assert load_content(session, content_dir).parsed == 0
            attachment = content_dir / "files" / "sheet.csv"
            attachment.write_text("a,b\n1,2\n3,4\n5,6\n", encoding="utf-8")
            os.utime(attachment, ns=(time.time_ns(), time.time_ns() + 1_000_000))
            again = load_content(session, content_dir)
            session.commit()
            assert (again.parsed, again.updated) == (1, 1)
            assert get_resource(session, "data-sheet").payload["size"] == 16  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_a_folder_that_cannot_be_listed_stops_the_index_and_removes_nothing(
        tmp_path: Path, content_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.walk skipped such a folder, and its resources were then deleted as gone. Tests run as root, where
    permissions do not stop a listing, so the listing of one folder is made to fail as the OS would."""
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_CONTENT_DIR", str(content_dir))
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(main, ["index"])
    assert first.exit_code == 0 and "5 added" in first.output, first.output
    blocked = str(content_dir / "resources" / "biology")
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    refused = runner.invoke(main, ["index"])
    assert refused.exit_code == 1
    assert "Permission denied" in refused.output and blocked in refused.output
    assert "Traceback" not in refused.output
    monkeypatch.setattr(os, "scandir", real_scandir)
    again = runner.invoke(main, ["index"])
    assert again.exit_code == 0 and "0 added, 0 updated, 0 removed" in again.output, again.output
