"""Cards (resources with their pictures) kept per process: read once, then from memory until the replica sees
the catalog change or CARD_SECONDS pass; a missing resource is remembered as missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from marketplace.catalog import cards as cards_module
from marketplace.catalog.sync import load_content
from tests.catalog.test_replica import one_host


def test_cards_are_read_once_and_again_after_a_catalog_change(database_url: str, content_dir: Path,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []
    cache = cards_module.cards  # the process's cache, which the replica forgets (keyed by this test's engine)
    with one_host(database_url, tmp_path) as (sessions, replica):
        event.listen(sessions.kw["bind"], "before_cursor_execute", lambda *args: statements.append(args[2]))
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
        assert replica.catch_up()
        with sessions() as session:
            statements.clear()
            first = cache.get(session, ["plant-cells", "no-such-resource", "plant-cells"])
            assert list(first) == ["plant-cells"] and first["plant-cells"].title == "Plant cells under the microscope"
            assert statements  # read from the database
            statements.clear()
            assert cache.get(session, ["no-such-resource", "plant-cells"]) == first
            assert statements == []  # both from memory, the missing one too

        path = next(content_dir.rglob("plant-cells.toml"))
        path.write_text(path.read_text().replace("Plant cells under the microscope", "Plant cells, drawn"))
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
            kept = cache.get(session, ["plant-cells"])["plant-cells"]
            assert kept.title == "Plant cells under the microscope"  # until the replica sees the change
        assert replica.catch_up()
        with sessions() as session:
            assert cache.get(session, ["plant-cells"])["plant-cells"].title == "Plant cells, drawn"
            monkeypatch.setattr(cards_module, "CARD_SECONDS", 0.0)  # and each card expires on its own
            statements.clear()
            cache.get(session, ["plant-cells"])
            assert statements
