"""Migrations run up on an empty database, and the app refuses an out-of-date schema."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import inspect, select

from marketplace.app import create_app
from marketplace.settings import Settings
from marketplace.store.database import (
    SchemaOutOfDateError,
    check_schema,
    head_revision,
    make_engine,
    upgrade_database,
)
from marketplace.store.models import SubjectRow


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
    assert head_revision(database_url) == "0006_thumbnails"
