"""The portfolio store on SQLite and PostgreSQL: owners see only their items; failed adds leave nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from alembic import command
from marketplace.portfolio import adding, store
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.store import Owner
from marketplace.store.database import alembic_config, upgrade_database
from marketplace.store.models import Base, PortfolioItemRow
from tests.portfolio import samples
from tests.portfolio.conftest import Database, leftover_files


def all_rows(database: Database) -> list[PortfolioItemRow]:
    with database.sessions() as session:
        return list(session.scalars(select(PortfolioItemRow)))


def test_each_owner_sees_only_their_items(database: Database, tmp_path: Path) -> None:
    first, second = database.platform_ids
    ada, bob, ada_elsewhere = Owner(first, "ada"), Owner(first, "bob"), Owner(second, "ada")
    with database.sessions() as session:
        link = adding.add_link(session, ada, title="Ada's link", url="https://example.org/ada")
        note = adding.add_note(session, bob, title="Bob's note", note="Bob wrote this.")
        upload = adding.add_file(session, ada_elsewhere, title="Same sub, other LMS", filename="a.png",
                                stream=io.BytesIO(samples.PNG), data_dir=tmp_path)
    with database.sessions() as session:
        assert [item.id for item in store.list_items(session, ada)] == [link.id]
        assert [item.id for item in store.list_items(session, bob)] == [note.id]
        assert [item.id for item in store.list_items(session, ada_elsewhere)] == [upload.id]
        assert store.get_item(session, ada, link.id) is not None
        for owner, item in ((bob, link), (ada, note), (ada, upload), (ada_elsewhere, link)):
            assert store.get_item(session, owner, item.id) is None
        assert store.get_file_item(session, upload.id) is not None and store.get_file_item(session, link.id) is None


def test_a_file_is_stored_under_its_hash_and_shared_when_identical(database: Database, tmp_path: Path) -> None:
    owner = Owner(database.platform_ids[0], "ada")
    with database.sessions() as session:
        first = adding.add_file(session, owner, title="  Chart \n one ", filename="C:\\tmp\\Chart.PNG",
                               stream=io.BytesIO(samples.PNG), data_dir=tmp_path)
        second = adding.add_file(session, owner, title="Chart again", filename="chart.png",
                                stream=io.BytesIO(samples.PNG), data_dir=tmp_path)
    assert (first.title, first.file_name, first.media_type, first.file_size) == (
        "Chart one", "Chart.png", "image/png", len(samples.PNG))
    assert first.file_sha256 == second.file_sha256
    assert leftover_files(tmp_path) == [tmp_path / "uploads" / str(first.file_sha256)]
    assert (tmp_path / "uploads" / str(first.file_sha256)).read_bytes() == samples.PNG


@pytest.mark.parametrize(("title", "filename", "content", "status", "message"), [
    ("Virus", "setup.exe", samples.EXE, 400, "cannot be added"),
    ("Fake", "photo.png", samples.PDF, 400, "does not look like a PNG"),
    ("Empty", "empty.txt", b"", 400, "is empty"),
    ("", "a.png", samples.PNG, 400, "Give the item a title"),
    ("Big", "big.txt", b"x" * 2001, 413, "larger than"),
    ("T" * 201, "a.png", samples.PNG, 400, "keep it to 200"),
])
def test_a_refused_upload_leaves_nothing(database: Database, tmp_path: Path, title: str, filename: str,
                                         content: bytes, status: int, message: str) -> None:
    owner = Owner(database.platform_ids[0], "ada")
    with database.sessions() as session, pytest.raises(PortfolioError, match=message) as refused:
        adding.add_file(session, owner, title=title, filename=filename, stream=io.BytesIO(content),
                       data_dir=tmp_path, max_bytes=2000)
    assert refused.value.status == status
    assert all_rows(database) == [] and leftover_files(tmp_path) == []


def test_a_failed_insert_removes_the_stored_file(database: Database, tmp_path: Path) -> None:
    nobody = Owner(987654, "ada")  # no such platform: the foreign key fails at commit
    with database.sessions() as session, pytest.raises(IntegrityError):
        adding.add_file(session, nobody, title="Orphan", filename="a.pdf", stream=io.BytesIO(samples.PDF),
                       data_dir=tmp_path)
    assert all_rows(database) == [] and leftover_files(tmp_path) == []


def test_a_failed_insert_keeps_a_file_other_items_use(database: Database, tmp_path: Path) -> None:
    owner = Owner(database.platform_ids[0], "ada")
    with database.sessions() as session:
        kept = adding.add_file(session, owner, title="Kept", filename="a.pdf", stream=io.BytesIO(samples.PDF),
                              data_dir=tmp_path)
    with database.sessions() as session, pytest.raises(IntegrityError):
        adding.add_file(session, Owner(987654, "x"), title="Orphan", filename="b.pdf",
                       stream=io.BytesIO(samples.PDF), data_dir=tmp_path)
    assert leftover_files(tmp_path) == [tmp_path / "uploads" / str(kept.file_sha256)]


@pytest.mark.parametrize(("url", "message"), [
    ("javascript:alert(1)", "full web address"),
    ("data:text/html,<script>alert(1)</script>", "full web address"),
    ("/relative/path", "full web address"),
    ("https://", "full web address"),
    ("https://exa mple.org", "spaces"),
    ("https://example.org/" + "a" * 2000, "at most 2,000"),
])
def test_links_must_be_web_addresses(database: Database, url: str, message: str) -> None:
    with database.sessions() as session, pytest.raises(PortfolioError, match=message):
        adding.add_link(session, Owner(database.platform_ids[0], "ada"), title="Link", url=url)
    assert all_rows(database) == []


def test_notes_are_cleaned_and_bounded(database: Database) -> None:
    owner = Owner(database.platform_ids[0], "ada")
    with database.sessions() as session:
        item = adding.add_note(session, owner, title="Note\x00", note=" line one\r\nline\x00 two\x07 ")
        assert (item.title, item.note) == ("Note", "line one\nline two")
        with pytest.raises(PortfolioError, match="at most 10,000"):
            adding.add_note(session, owner, title="Long", note="x" * 10_001)
        with pytest.raises(PortfolioError, match="empty"):
            adding.add_note(session, owner, title="Blank", note=" \n ")
    assert len(all_rows(database)) == 1


def test_a_portfolio_has_a_size_limit(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_ITEMS", 2)
    owner = Owner(database.platform_ids[0], "ada")
    with database.sessions() as session:
        adding.add_note(session, owner, title="1", note="one")
        adding.add_note(session, owner, title="2", note="two")
        with pytest.raises(PortfolioError, match="already holds 2 items") as refused:
            adding.add_note(session, owner, title="3", note="three")
        assert refused.value.status == 409
        adding.add_note(session, Owner(owner.platform_id, "bob"), title="Bob's", note="own limit")


def test_the_migration_matches_the_model_and_goes_both_ways(database: Database, database_url: str) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "portfolio_items" in repr(d)] == []
    found = inspect(database.engine).get_indexes("portfolio_items")
    indexes = {index["name"]: index["column_names"] for index in found}
    assert indexes["ix_portfolio_items_owner"] == ["platform_id", "owner_sub"]
    command.downgrade(alembic_config(database_url), "0002_lti_core")
    assert "portfolio_items" not in inspect(database.engine).get_table_names()
    upgrade_database(database_url)
    assert "portfolio_items" in inspect(database.engine).get_table_names()
