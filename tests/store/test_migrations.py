"""Migrations run up on an empty database, and the app refuses an out-of-date schema."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from alembic import command
from marketplace.app import create_app
from marketplace.catalog.records import get_resource
from marketplace.catalog.sync import catalog_fingerprint, load_content
from marketplace.settings import Settings
from marketplace.store.database import (
    SchemaOutOfDateError,
    alembic_config,
    check_schema,
    database_problem,
    head_revision,
    make_engine,
    make_session_factory,
    upgrade_database,
)
from marketplace.store.models import Base, SubjectRow


def test_upgrade_on_an_empty_database(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    assert {"subjects", "resources", "alembic_version", "platforms", "deployments", "tool_keys", "login_states",
            "launches", "portfolio_items"} <= tables
    columns = {column["name"] for column in inspect(engine).get_columns("resources")}
    assert {"content_hash", "created_at", "updated_at", "payload", "grade_levels", "source_path"} <= columns
    with engine.connect() as connection:
        assert len(connection.execute(select(SubjectRow.id)).all()) == 12
    check_schema(engine, database_url)
    upgrade_database(database_url)  # a second run is harmless
    engine.dispose()


def test_app_refuses_to_start_on_an_old_schema(database_url: str, settings: Settings) -> None:
    configured = dataclasses.replace(settings, database_url=database_url)
    with pytest.raises(SchemaOutOfDateError, match="marketplace db upgrade"):
        create_app(configured)
    assert head_revision() == "0013_reindex_run"


def test_the_licence_provenance_migration_makes_the_next_index_read_every_file_again(
    database_url: str, content_dir: Path
) -> None:
    """0007 adds where and when each licence was read; files unchanged since the last index must fill it too."""
    path = content_dir / "resources" / "biology" / "plant-cells.toml"
    path.write_text(path.read_text().replace(
        'attribution = "', 'evidence_url = "https://example.org/terms"\nchecked = 2026-11-30\nattribution = "'))
    upgrade_database(database_url)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        assert load_content(session, content_dir).added > 0
        session.commit()
    command.downgrade(alembic_config(database_url), "0006_thumbnails")  # a database indexed before this release
    columns = {column["name"] for column in inspect(engine).get_columns("resources")}
    assert "license_evidence_url" not in columns
    upgrade_database(database_url)
    with make_session_factory(engine)() as session:
        report = load_content(session, content_dir)  # nothing changed on disk since the last index
        session.commit()
        assert report.updated == report.scanned
        resource = get_resource(session, "plant-cells")
        assert resource is not None
        assert (resource.license_evidence_url, resource.license_checked) == ("https://example.org/terms",
                                                                            date(2026, 11, 30))
        other = get_resource(session, "photosynthesis-basics")
        assert other is not None and other.license_evidence_url is None and other.license_note == ""
    engine.dispose()


def test_the_reindex_lists_are_covered_by_indexes(database_url: str) -> None:
    """0010: the two lists a re-index reads of every resource each have an index holding all their columns."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("resources")}
    assert indexes["ix_resources_source_stamp"] == ["source_path", "source_fingerprint", "id"]
    assert indexes["ix_resources_id_hash"] == ["id", "content_hash"]
    command.downgrade(alembic_config(database_url), "0009_newest_index")
    remaining = {index["name"] for index in inspect(engine).get_indexes("resources")}
    assert not remaining & {"ix_resources_source_stamp", "ix_resources_id_hash"}
    upgrade_database(database_url)
    engine.dispose()


def test_the_migrations_make_exactly_the_schema_the_models_declare(database_url: str) -> None:
    """Every table, column and index of the models comes from a migration, and nothing else does (an index
    declared in a model but never migrated would exist in tests' metadata and be missing in production)."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_the_catalog_fingerprint_is_answered_from_indexes(database_url: str) -> None:
    """0011: the newest change times of resources and of made thumbnails are indexed; on SQLite the fingerprint's
    two statements read those indexes alone, never the tables (the thumbnails table holds the pictures)."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    assert {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("resources")}[
        "ix_resources_updated_at"] == ["updated_at"]
    assert {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("thumbnails")}[
        "ix_thumbnails_made_at"] == ["made_at"]
    if engine.dialect.name == "sqlite":
        statements: list[tuple[str, object]] = []
        with engine.connect() as connection:
            sqlalchemy_event.listen(connection, "before_cursor_execute",
                                    lambda *args: statements.append((args[2], args[3])))
            with Session(bind=connection) as session:
                catalog_fingerprint(session)
            fingerprint_statements = list(statements)
            plans = [" ".join(str(row[-1]) for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}", parameters))
                for sql, parameters in fingerprint_statements]
        counts = [plan for plan in plans if "catalog_generation" not in plan]
        assert len(counts) == 2 and all("USING COVERING INDEX" in plan for plan in counts), plans
        assert any("catalog_generation USING INTEGER PRIMARY KEY" in plan for plan in plans), plans  # one row
    command.downgrade(alembic_config(database_url), "0010_reindex_covering")
    assert "ix_resources_updated_at" not in {index["name"] for index in inspect(engine).get_indexes("resources")}
    assert "ix_thumbnails_made_at" not in {index["name"] for index in inspect(engine).get_indexes("thumbnails")}
    upgrade_database(database_url)
    engine.dispose()


def test_a_database_a_newer_release_migrated_keeps_the_old_release_serving(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """README, Upgrading: `marketplace db upgrade` runs while the old code serves. The old code must neither
    refuse to start nor turn /readyz red on a revision it does not ship; a database behind it still must."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'"))
    with caplog.at_level(logging.WARNING, logger="marketplace.store.database"):
        check_schema(engine, database_url)
        assert database_problem(engine, database_url) is None
        assert database_problem(engine, database_url) is None
    said = [record.getMessage() for record in caplog.records if "0099_from_a_newer_release" in record.getMessage()]
    assert len(said) <= 1 and all("newer than this release" in message for message in said)
    command.stamp(alembic_config(database_url), "0009_newest_index", purge=True)  # behind: refused, and says so
    assert database_problem(engine, database_url) == (
        "The database is at revision 0009_newest_index, not 0013_reindex_run. Run `marketplace db upgrade`.")
    with pytest.raises(SchemaOutOfDateError, match="marketplace db upgrade"):
        check_schema(engine, database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    assert database_problem(engine, database_url) == "The database has no tables yet. Run `marketplace db upgrade`."
    engine.dispose()


def test_the_shipped_revisions_are_the_ones_alembic_reads() -> None:
    """The schema check reads each script's revision ids itself (no Alembic import at start); Alembic's own
    reading of the same folder must agree."""
    from alembic.script import ScriptDirectory

    from marketplace.shipped import migrations_dir
    from marketplace.store.database import _shipped_migrations

    scripts = ScriptDirectory(str(migrations_dir()))
    assert _shipped_migrations() == (
        scripts.get_current_head(), frozenset(script.revision for script in scripts.walk_revisions()))
