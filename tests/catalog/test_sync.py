"""Incremental loading into the database and the index, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy.orm import Session

from marketplace.catalog.index_store import read_manifest
from marketplace.catalog.records import get_resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.sync import load_content, sync_index
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from tests.conftest import write_resource


def sessions(database_url: str) -> tuple[object, object]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    return engine, make_session_factory(engine)


def run(session: Session, content_dir: Path, index_dir: Path) -> tuple[object, object]:
    content = load_content(session, content_dir)
    session.commit()
    return content, sync_index(session, index_dir, workers=1)


def test_second_run_touches_only_what_changed(database_url: str, content_dir: Path, tmp_path: Path) -> None:
    engine, factory = sessions(database_url)
    index_dir = tmp_path / "index"
    catalog = CatalogIndex(index_dir)
    with factory() as session:  # type: ignore[operator]
        content, index = run(session, content_dir, index_dir)
        assert (content.added, content.parsed) == (5, 5)  # type: ignore[attr-defined]
        assert index.rebuilt and index.total == 5  # type: ignore[attr-defined]
        catalog.open()
        assert catalog.search(SearchRequest(text="pizza")).total == 1

        content, index = run(session, content_dir, index_dir)
        assert (content.parsed, content.added, content.updated) == (0, 0, 0)  # type: ignore[attr-defined]
        assert (index.indexed, index.deleted, index.rebuilt) == (0, 0, False)  # type: ignore[attr-defined]

        # Change one file, delete another, add a third.
        changed = write_resource(content_dir, "fractions-pizza", title="Fractions with cake",
                                 subject="mathematics", description="Equal parts of a whole, explained with cake.")
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        (content_dir / "resources/earth-space-science/plate-tectonics.toml").unlink()
        write_resource(content_dir, "new-resource", title="Volcano model", description="Build a baking soda volcano.")
        content, index = run(session, content_dir, index_dir)
        assert (content.parsed, content.added, content.updated, content.removed) == (2, 1, 1, 1)  # type: ignore[attr-defined]
        assert (index.indexed, index.deleted) == (2, 1)  # type: ignore[attr-defined]
        assert get_resource(session, "plate-tectonics") is None
        assert get_resource(session, "fractions-pizza").title == "Fractions with cake"  # type: ignore[union-attr]
        assert set(read_manifest(index_dir)) == {"photosynthesis-basics", "plant-cells", "fractions-pizza",
                                                 "french-revolution", "new-resource"}
        # The open searcher notices the new commit by itself: after its refresh interval a search starts
        # loading the new generation in the background, and answers from the old one meanwhile.
        assert catalog.search(SearchRequest(text="cake")).total == 0
        deadline = time.monotonic() + 10
        while catalog.search(SearchRequest(text="cake")).total == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert catalog.search(SearchRequest(text="cake")).total == 1
        assert catalog.search(SearchRequest(text="pizza")).total == 0
        assert catalog.search(SearchRequest(text="tectonics")).total == 0
    catalog.close()
    engine.dispose()  # type: ignore[attr-defined]


def test_a_broken_file_keeps_its_last_good_version(database_url: str, content_dir: Path, tmp_path: Path) -> None:
    engine, factory = sessions(database_url)
    with factory() as session:  # type: ignore[operator]
        run(session, content_dir, tmp_path / "index")
        path = content_dir / "resources/history/french-revolution.toml"
        path.write_text(path.read_text().replace('subject = "history"', 'subject = "nonsense"'))
        content, index = run(session, content_dir, tmp_path / "index")
        assert len(content.problems) == 1 and "nonsense" in content.problems[0].reason  # type: ignore[attr-defined]
        assert content.problems[0].line == 4  # type: ignore[attr-defined]
        assert get_resource(session, "french-revolution") is not None
        assert "french-revolution" in read_manifest(tmp_path / "index")
    engine.dispose()  # type: ignore[attr-defined]


def test_index_can_be_rebuilt_from_the_database_alone(database_url: str, content_dir: Path, tmp_path: Path) -> None:
    """Another host: same database, no index yet, no content folder needed."""
    engine, factory = sessions(database_url)
    with factory() as session:  # type: ignore[operator]
        load_content(session, content_dir)
        session.commit()
        report = sync_index(session, tmp_path / "replica", workers=1)
        assert report.rebuilt and report.total == 5
    replica = CatalogIndex(tmp_path / "replica")
    replica.open()
    assert replica.search(SearchRequest(text="revolution")).total == 1
    replica.close()
    engine.dispose()  # type: ignore[attr-defined]


def test_an_id_that_moves_to_another_file_is_the_same_resource(database_url: str, content_dir: Path,
                                                               tmp_path: Path) -> None:
    """The files stream into the database in batches: a resource whose file moved (deleted here, written
    there) is updated in place and keeps its age; while the first file is still there, the second is a problem
    and the first keeps the id."""
    from marketplace.store.models import ResourceRow

    engine, factory = sessions(database_url)
    with factory() as session:  # type: ignore[operator]
        run(session, content_dir, tmp_path / "index")
        born = session.get(ResourceRow, "french-revolution").created_at  # type: ignore[union-attr]
        old = content_dir / "resources/history/french-revolution.toml"
        write_resource(content_dir, "french-revolution", title="The French Revolution", subject="geography",
                       description="Causes and consequences of the revolution of 1789 in France, with a map.")
        content, _ = run(session, content_dir, tmp_path / "index")
        assert [problem.reason for problem in content.problems] == [  # type: ignore[attr-defined]
            "id 'french-revolution' is already used by resources/history/french-revolution.toml"]
        old.unlink()
        content, _ = run(session, content_dir, tmp_path / "index")
        assert not content.problems  # type: ignore[attr-defined]
        assert (content.added, content.updated, content.removed) == (0, 1, 0)  # type: ignore[attr-defined]
        session.expire_all()
        moved = session.get(ResourceRow, "french-revolution")
        assert moved is not None and moved.source_path == "resources/geography/french-revolution.toml"
        assert moved.subject_id == "geography" and moved.created_at == born
        assert len(read_manifest(tmp_path / "index")) == 5
    engine.dispose()  # type: ignore[attr-defined]


def test_resources_read_as_rows_equal_the_loaded_ones_and_see_unflushed_changes(
    database_url: str, content_dir: Path
) -> None:
    """get_resources and iter_resources read plain rows, not mapped objects: the same resources as the loader
    made, in the order asked, and (like an ORM query) after the session's own pending changes are flushed."""
    from marketplace.catalog.loader import load_catalog
    from marketplace.catalog.records import get_resources, iter_resources
    from marketplace.store.models import ResourceRow

    engine, factory = sessions(database_url)
    loaded = {resource.id: resource for resource in load_catalog(content_dir, workers=1).resources}
    with factory() as session:  # type: ignore[operator]
        load_content(session, content_dir)
        session.commit()
        wanted = ["plant-cells", "no-such-id", "fractions-pizza"]
        assert get_resources(session, wanted) == [loaded["plant-cells"], loaded["fractions-pizza"]]
        assert list(iter_resources(session, page=2)) == [loaded[key] for key in sorted(loaded)]
        row = session.get(ResourceRow, "plant-cells")
        assert row is not None
        row.title = "Plant cells, renamed"  # not flushed: the read must flush it first
        assert get_resources(session, ["plant-cells"])[0].title == "Plant cells, renamed"
        session.rollback()
    engine.dispose()  # type: ignore[attr-defined]
