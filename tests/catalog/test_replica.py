"""A host's index as a replica of the database's catalog: it syncs when the catalog changes, only then, and
only one writer per host at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.index_store import read_manifest
from marketplace.catalog.records import content_hashes
from marketplace.catalog.replica import CatalogReplica
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.sync import catalog_fingerprint, index_lock, load_content, sync_index
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from tests.conftest import write_resource


@contextmanager
def one_host(database_url: str, folder: Path) -> Iterator[tuple[sessionmaker[Session], CatalogReplica]]:
    """A migrated database's sessions and one host's replica (its index in `folder`), closed afterwards."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    index_dir = folder / "host" / "index"
    replica = CatalogReplica(make_session_factory(engine), index_dir, CatalogIndex(index_dir))
    try:
        yield replica.sessions, replica
    finally:
        replica.catalog.close()
        engine.dispose()


def test_the_replica_follows_the_database_and_nothing_else(database_url: str, content_dir: Path,
                                                           tmp_path: Path) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    index_dir = tmp_path / "host" / "index"
    catalog = CatalogIndex(index_dir)
    replica = CatalogReplica(sessions, index_dir, catalog)
    try:
        assert not replica.catch_up()  # an empty catalog: nothing to build yet
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
            first = catalog_fingerprint(session)
        assert replica.catch_up() and catalog.document_count() == 5  # built from the database alone
        assert not replica.catch_up()  # nothing changed since

        write_resource(content_dir / "resources" / "biology", "zebrafish", title="Zebrafish fins",
                       subject="biology", description="How zebrafish grow their fins back after an injury.",
                       keywords=("regeneration",), grades=("9-12",))
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
            assert catalog_fingerprint(session) != first
        with index_lock(index_dir, wait=False) as mine:  # another worker of this host is writing
            assert mine and not replica.catch_up()
        assert replica.catch_up()
        hits = catalog.search(SearchRequest(text="zebrafish")).hits
        assert [hit.id for hit in hits] == ["zebrafish"]
        assert replica.syncs == 2

        with sessions() as session:  # `marketplace index` on this host records what it synced, too
            sync_index(session, index_dir)
        assert not replica.catch_up()
    finally:
        catalog.close()
        engine.dispose()


def test_searches_go_on_while_the_replica_syncs_and_rebuilds(database_url: str, content_dir: Path,
                                                              tmp_path: Path) -> None:
    """A sync of every resource and a full rebuild, each with a searcher running beside it: no search fails,
    every one finds the whole catalog (the open generation, then the new one), and searches really ran while
    the index was being written."""
    count = 400
    for number in range(count):
        write_resource(content_dir, f"fin-{number:04d}", title=f"Zebrafish fins {number}", subject="biology",
                       description="How zebrafish grow their fins back after an injury.",
                       keywords=("regeneration",))
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    index_dir = tmp_path / "host" / "index"
    catalog = CatalogIndex(index_dir)
    replica = CatalogReplica(sessions, index_dir, catalog)
    with sessions() as session:
        load_content(session, content_dir)
        session.commit()
    assert replica.catch_up()
    request = SearchRequest(text="zebrafish regeneration", per_page=1)
    assert catalog.search(request).total == count

    searches: list[tuple[float, float, int | str]] = []  # (started, ended, total found or the error)
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                found: int | str = catalog.search(request).total
            except Exception as error:  # noqa: BLE001 - any failure is what the test looks for
                found = repr(error)
            searches.append((started, time.monotonic(), found))

    def during(work: Callable[[], object]) -> list[int | str]:
        searches.clear()
        began = time.monotonic()
        work()
        ended = time.monotonic()
        return [found for started, finished, found in searches if started >= began and finished <= ended]

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        for path in (content_dir / "resources" / "biology").glob("fin-*.toml"):
            path.write_text(path.read_text().replace("Zebrafish fins", "Zebrafish fin rays"))
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
        synced = during(replica.catch_up)

        def rebuild() -> None:
            with sessions() as session:
                sync_index(session, index_dir, rebuild=True)
            catalog.refresh()

        rebuilt = during(rebuild)
    finally:
        stop.set()
        searcher.join()
        catalog.close()
        engine.dispose()
    for results in (synced, rebuilt):
        assert len(results) >= 3, results  # the searcher was answered while the index was written
        assert set(results) == {count}, results


def test_the_fingerprint_moves_when_a_thumbnail_is_made_replaced_or_dropped(database_url: str,
                                                                          content_dir: Path) -> None:
    """Hosts see a thumbnail change by the fingerprint alone (the index's documents carry the pictures): it
    counts made thumbnails by their making time, which a failure from another source clears with the bytes."""
    from datetime import timedelta

    from marketplace.clock import utc_now
    from marketplace.store.thumbnails import record_failure, save_thumbnail

    upgrade_database(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = utc_now()
    picture = {"source_sha256": "a" * 64, "media_type": "image/jpeg", "width": 2, "height": 2}
    with sessions() as session:
        load_content(session, content_dir)
        session.commit()
        seen = [catalog_fingerprint(session)]
        save_thumbnail(session, "plant-cells", source_url="https://example.org/a.png", sha256="b" * 64, data=b"x",
                       now=now, **picture)
        session.commit()
        seen.append(catalog_fingerprint(session))
        save_thumbnail(session, "plant-cells", source_url="https://example.org/a.png", sha256="c" * 64, data=b"y",
                       now=now + timedelta(seconds=1), **picture)
        session.commit()
        seen.append(catalog_fingerprint(session))
        record_failure(session, "plant-cells", source_url="https://example.org/a.png", reason="HTTP 503",
                       now=now + timedelta(seconds=2))  # the same source: the picture is kept
        session.commit()
        assert catalog_fingerprint(session) == seen[-1]
        record_failure(session, "plant-cells", source_url="https://example.org/b.png", reason="HTTP 404",
                       now=now + timedelta(seconds=3))  # another source: the picture is dropped
        session.commit()
        seen.append(catalog_fingerprint(session))
    # Made, replaced, dropped: each moves it (dropped, the counts are back where they started, but the
    # generation is not: a host that never saw the picture compares its manifest and finds nothing to do).
    assert len(set(seen)) == 4, seen
    engine.dispose()


def test_a_change_stamped_behind_the_newest_still_reaches_every_replica(
    database_url: str, content_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`marketplace index` on a host whose clock is an hour behind removes one resource, adds one and changes one:
    the count and the newest change time are what they were, and only the catalog generation moves. Every
    other host's replica must still see it (with counts and times alone it never did, until the next change)."""
    from datetime import timedelta

    from marketplace.catalog import records
    from marketplace.clock import utc_now
    from marketplace.store.catalog_generation import catalog_generation

    with one_host(database_url, tmp_path) as (sessions, replica):
        catalog, index_dir = replica.catalog, replica.index_dir
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
            before = catalog_generation(session)
        assert replica.catch_up() and catalog.document_count() == 5
        resources = content_dir / "resources"
        removed, changed = sorted(resources.rglob("*.toml"))[:2]
        removed.unlink()
        write_resource(resources / "biology", "axolotl-gills", title="Axolotl gills", subject="biology",
                       description="Why an axolotl keeps its gills all its life.", keywords=("neoteny",))
        changed.write_text(changed.read_text().replace('description = "', 'description = "Axolotl limbs. ', 1))
        behind = utc_now() - timedelta(hours=1)
        monkeypatch.setattr(records, "utc_now", lambda: behind)  # the other host's clock
        with sessions() as session:
            counts = catalog_fingerprint(session).split("|")
            load_content(session, content_dir)
            session.commit()
            after = catalog_fingerprint(session).split("|")
            assert catalog_generation(session) == before + 1  # one transaction, one step, however many batches
        assert counts[0] == after[0] and counts[2:] == after[2:]  # what the old fingerprint read did not move
        assert replica.catch_up()
        assert catalog.document_count() == 5
        found = {hit.id for hit in catalog.search(SearchRequest(text="axolotl")).hits}
        assert found == {changed.stem, "axolotl-gills"}
        with sessions() as session:
            assert set(read_manifest(index_dir)) == set(content_hashes(session))  # the removed one is gone
        assert not replica.catch_up()


def test_a_catalog_generation_row_gone_is_made_again_by_the_next_change(database_url: str, content_dir: Path,
                                                                        tmp_path: Path) -> None:
    """The migration makes the counter's one row; a schema without it (made by create_all, or the row deleted by
    hand) gets it back from the next catalog change rather than losing every bump."""
    from sqlalchemy import delete

    from marketplace.store.catalog_generation import catalog_generation
    from marketplace.store.models import CatalogGenerationRow

    with one_host(database_url, tmp_path) as (sessions, _replica):
        with sessions() as session:
            session.execute(delete(CatalogGenerationRow))
            session.commit()
            assert catalog_generation(session) == 0
            load_content(session, content_dir)
            session.commit()
            assert catalog_generation(session) == 1


def test_the_replica_loop_compacts_what_its_syncs_left(database_url: str, content_dir: Path, tmp_path: Path) -> None:
    """Each sync of one changed file commits a segment of its own and merges none; the replica's loop then
    compacts them in a child process, searches going on throughout."""
    import asyncio

    from marketplace.catalog.index_store import segment_sizes

    with one_host(database_url, tmp_path) as (sessions, replica):
        with sessions() as session:
            load_content(session, content_dir)
            session.commit()
        assert replica.catch_up()
        for number in range(10):
            write_resource(content_dir, f"added-{number}", title=f"Added squid {number}",
                           description="A description long enough for the catalog to take it.")
            with sessions() as session:
                load_content(session, content_dir)
                session.commit()
            assert replica.catch_up()
        assert len(segment_sizes(replica.index_dir)) == 11
        failures: list[BaseException] = []
        searched = threading.Event()

        def search_meanwhile(stop: threading.Event) -> None:
            while not stop.is_set():
                try:
                    assert replica.catalog.search(SearchRequest(text="squid")).total == 10
                    searched.set()
                except BaseException as error:  # noqa: BLE001 - reported below
                    failures.append(error)
                    return

        async def loop_until_compacted() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(replica.run_forever(stop, interval=0.05))
            deadline = time.monotonic() + 60
            while replica.compactions == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await task

        halt = threading.Event()
        searcher = threading.Thread(target=search_meanwhile, args=(halt,))
        searcher.start()
        try:
            asyncio.run(loop_until_compacted())
        finally:
            halt.set()
            searcher.join()
        assert not failures and searched.is_set()
        assert replica.compactions == 1 and len(segment_sizes(replica.index_dir)) == 2  # ten merged, the first kept
        assert replica.catalog.search(SearchRequest(text="squid")).total == 10
