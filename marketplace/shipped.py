"""Where the files that ship with the code are: templates, static files, migrations and the bundled catalog.

The product owner's layout keeps `templates/`, `static/`, `alembic/` and `content/` at the top of the
repository. The wheel maps them into the package (`marketplace/templates`, `marketplace/static`,
`marketplace/migrations`, `marketplace/bundled_content`; see `[tool.setuptools]` in pyproject.toml), so an
installed wheel finds them next to its code through `importlib.resources`; a source checkout or an editable
install finds them at the top of the repository. Nothing is looked up at import time.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

REPOSITORY_DIR: Final = Path(__file__).resolve().parent.parent

# Name inside the installed package -> name at the top of the repository.
_LAYOUT: Final = {"templates": "templates", "static": "static", "migrations": "alembic",
                  "bundled_content": "content"}


def _shipped(name: str) -> Path:
    """The folder as installed with the package, else the repository's own."""
    packaged = Path(str(files("marketplace").joinpath(name)))
    if packaged.is_dir():
        return packaged
    return REPOSITORY_DIR / _LAYOUT[name]


def templates_dir() -> Path:
    return _shipped("templates")


def static_dir() -> Path:
    return _shipped("static")


def migrations_dir() -> Path:
    """Alembic's script location (env.py and versions/)."""
    return _shipped("migrations")


def bundled_content_dir() -> Path:
    """The catalog that ships with the product, for `marketplace index` where no content folder is given."""
    return _shipped("bundled_content")
