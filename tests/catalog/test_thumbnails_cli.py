"""`marketplace index` makes thumbnails, says so in one line, and never fails because of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace.catalog import thumbnails
from marketplace.cli import main
from tests.catalog.image_server import ImageServer, Reply, image_server
from tests.catalog.test_thumbnails import jpeg, write_picture


@pytest.fixture
def runner(tmp_path: Path, content_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_CONTENT_DIR", str(content_dir))
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return CliRunner()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ImageServer]:
    """The loopback picture server, and the index command's client pointed at it (trusting its test CA)."""
    with image_server() as running:
        monkeypatch.setenv("MARKETPLACE_THUMBNAIL_FETCH", "1")
        monkeypatch.setattr(thumbnails, "make_client", lambda **_options: running.client())
        yield running


def test_index_reports_thumbnails_in_one_line(runner: CliRunner, content_dir: Path, server: ImageServer) -> None:
    server.routes["/good.jpg"] = Reply(body=jpeg(800, 450))
    write_picture(content_dir, "good-picture", url=server.url("/good.jpg"))
    write_picture(content_dir, "lost-picture", url=server.url("/lost.jpg"))
    first = runner.invoke(main, ["index"])
    assert first.exit_code == 0, first.output
    assert "7 files: 7 added" in first.output
    assert ("1 thumbnail made, 0 unchanged, 1 could not be fetched: lost-picture: HTTP 404 from 127.0.0.1."
            in first.output)
    second = runner.invoke(main, ["index"])
    assert "0 thumbnails made, 1 unchanged, 1 failed earlier (tried again after 6 hours, or now with " \
           "--refresh-thumbnails)." in second.output.replace("\n", " ")
    assert server.hits["/good.jpg"] == 1 and server.hits["/lost.jpg"] == 1
    third = runner.invoke(main, ["index", "--refresh-thumbnails"])
    assert third.exit_code == 0 and "1 thumbnail made, 0 unchanged, 1 could not be fetched" in third.output
    assert server.hits["/good.jpg"] == 2 and server.hits["/lost.jpg"] == 2


def test_index_with_fetching_off_says_so(runner: CliRunner, content_dir: Path) -> None:
    write_picture(content_dir, "remote-picture", url="https://upload.wikimedia.org/wikipedia/commons/a/ab/X.jpg")
    result = runner.invoke(main, ["index"])  # tests/conftest.py sets MARKETPLACE_THUMBNAIL_FETCH=0
    assert result.exit_code == 0, result.output
    assert "0 thumbnails made, 0 unchanged (fetching pictures is off: MARKETPLACE_THUMBNAIL_FETCH=0)." in result.output


def test_index_never_fails_because_of_thumbnails(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_options: object) -> thumbnails.ThumbnailReport:
        raise RuntimeError("the thumbnail store is on fire")

    monkeypatch.setattr(thumbnails, "make_thumbnails", broken)
    result = runner.invoke(main, ["index"])
    assert result.exit_code == 0, result.output
    assert "Thumbnails: not updated (the thumbnail store is on fire)." in result.output
    assert "Index: 5 resources (rebuilt)" in result.output
