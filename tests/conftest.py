"""Shared fixtures: settings under tmp_path, a database on SQLite and (when available) PostgreSQL, a small
catalog folder, an index, and the app with a client."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from marketplace.catalog.licences import LICENCES
from marketplace.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("MARKETPLACE_REQUIRE_ALL") == "1"
POSTGRES_URL = os.environ.get("MARKETPLACE_TEST_POSTGRES_URL", "")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the part; in CI (MARKETPLACE_REQUIRE_ALL=1) a missing part is a failure."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (MARKETPLACE_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    if not POSTGRES_URL:
        skip_or_fail("PostgreSQL is not available: set MARKETPLACE_TEST_POSTGRES_URL")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


RESOURCE_TEMPLATE = """\
id = "{id}"
title = "{title}"
description = "{description}"
subject = "{subject}"
grade_levels = {grades}
type = "link"
language = "en"
keywords = {keywords}
thumbnail = "thumbnails/biology.svg"

[author]
name = "{author}"

[license]
id = "{license}"
attribution = "{title} by {author}, https://example.org/{id}, licensed {label}"

[payload]
url = "https://example.org/{id}"
"""


def write_resource(content_dir: Path, resource_id: str, *, title: str, description: str, subject: str = "biology",
                   grades: tuple[str, ...] = ("6-8",), keywords: tuple[str, ...] = ("science",),
                   author: str = "Ada Author", license_id: str = "CC-BY-4.0") -> Path:
    """Write one link resource file and return its path."""
    folder = content_dir / "resources" / subject
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{resource_id}.toml"
    path.write_text(RESOURCE_TEMPLATE.format(
        id=resource_id, title=title, description=description, subject=subject, grades=list(grades),
        keywords=list(keywords), author=author, license=license_id, label=LICENCES[license_id].label,
    ).replace("'", '"'), encoding="utf-8")
    return path


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A small catalog folder with the thumbnails and a handful of resources."""
    folder = tmp_path / "content"
    (folder / "resources").mkdir(parents=True)
    (folder / "files").mkdir()
    shutil.copytree(PROJECT_DIR / "content" / "thumbnails", folder / "thumbnails")
    write_resource(folder, "photosynthesis-basics", title="Photosynthesis basics",
                   description="How green plants turn light, water and carbon dioxide into sugar.",
                   keywords=("photosynthesis", "plants", "chlorophyll"), grades=("6-8", "9-12"))
    write_resource(folder, "plant-cells", title="Plant cells under the microscope",
                   description="A look at chloroplasts, where photosynthesis happens, and cell walls.",
                   keywords=("cells", "microscope"), grades=("9-12",))
    write_resource(folder, "fractions-pizza", title="Fractions with pizza", subject="mathematics",
                   description="Equal parts of a whole, explained with slices of pizza for young learners.",
                   keywords=("fractions", "halves", "quarters"), grades=("k-2", "3-5"), license_id="CC0-1.0")
    write_resource(folder, "french-revolution", title="The French Revolution", subject="history",
                   description="Causes and consequences of the revolution of 1789 in France, with a timeline.",
                   keywords=("revolution", "france", "1789"), grades=("9-12", "higher-ed"),
                   license_id="CC-BY-SA-4.0", author="Marie Historienne")
    write_resource(folder, "plate-tectonics", title="Plate tectonics and earthquakes",
                   subject="earth-space-science",
                   description="Why continents drift and how moving plates cause earthquakes and volcanoes.",
                   keywords=("earthquakes", "volcanoes", "plates"), grades=("6-8",), license_id="CC-BY-NC-4.0")
    return folder


@pytest.fixture
def settings(tmp_path: Path, content_dir: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    # thumbnail_fetch off: the suite never reaches past loopback (thumbnail tests inject their own client).
    return Settings(data_dir=tmp_path / "var", content_dir=content_dir, database_url=url,
                    base_url="http://127.0.0.1:8000", secret_key="x" * 40, environment="test",
                    thumbnail_fetch=False)


@pytest.fixture(autouse=True)
def _no_picture_fetching(monkeypatch: pytest.MonkeyPatch) -> None:
    """`marketplace index` run by a test (in process or as a subprocess) fetches no catalog pictures from
    the internet unless the test turns it back on for a loopback server of its own."""
    monkeypatch.setenv("MARKETPLACE_THUMBNAIL_FETCH", "0")


def prepare_app_data(settings: Settings) -> None:
    """Migrate the database and load and index the settings' catalog folder (what `make run` does first)."""
    from marketplace.catalog.sync import load_content, sync_index
    from marketplace.store.database import make_engine, make_session_factory, upgrade_database

    upgrade_database(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            load_content(session, settings.content_dir)
            session.commit()
            sync_index(session, settings.index_dir, workers=1)
    finally:
        engine.dispose()
