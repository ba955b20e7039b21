"""The `marketplace` command: serve, db upgrade, index. Names and flags are a contract for operators."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketplace.settings import Settings, SettingsError

console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings.from_environment()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """LTI Marketplace: open educational resources for your LMS course."""


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migration to upgrade to.")
def db_upgrade(revision: str) -> None:
    """Apply database migrations."""
    from marketplace.store.database import upgrade_database

    settings = _settings()
    upgrade_database(settings.database_url, revision)
    click.echo(f"Database is at {revision}.")


@main.command("index")
@click.option("--content-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog folder (default: MARKETPLACE_CONTENT_DIR or ./content).")
@click.option("--full", is_flag=True, help="Re-read every file and rebuild the search index from scratch.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any catalog file has a problem.")
def index_command(content_dir: Path | None, full: bool, strict: bool) -> None:
    """Load content/ into the database and bring the search index up to date."""
    from marketplace.catalog.sync import load_content, sync_index
    from marketplace.store.database import SchemaOutOfDateError, check_schema, make_engine, make_session_factory

    settings = _settings()
    folder = (content_dir or settings.content_dir).resolve()
    if not folder.is_dir():
        raise click.ClickException(f"The catalog folder {folder} does not exist.")
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine, settings.database_url)
    except SchemaOutOfDateError as error:
        raise click.ClickException(str(error)) from None
    sessions = make_session_factory(engine)
    with sessions() as session, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        reading = progress.add_task("Reading content/", total=None)
        content = load_content(session, folder, full=full)
        session.commit()
        progress.update(reading, total=content.scanned, completed=content.scanned)
        indexing = progress.add_task("Indexing", total=None)
        report = sync_index(session, settings.index_dir, rebuild=full,
                            progress=lambda count: progress.advance(indexing, count))
        progress.update(indexing, total=max(report.indexed + report.deleted, 1),
                        completed=max(report.indexed + report.deleted, 1))
    engine.dispose()
    for problem in content.problems:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False, markup=True)
    click.echo(
        f"{content.scanned} files: {content.added} added, {content.updated} updated, {content.removed} removed, "
        f"{len(content.problems)} with problems. Index: {report.total} resources"
        + (" (rebuilt)" if report.rebuilt else f" ({report.indexed} updated, {report.deleted} removed)")
    )
    if content.problems and strict:
        sys.exit(1)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Serve the web app with uvicorn."""
    import uvicorn

    from marketplace.store.database import SchemaOutOfDateError, check_schema, make_engine

    settings = _settings()  # refuse a bad configuration before uvicorn starts
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine, settings.database_url)
    except SchemaOutOfDateError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    uvicorn.run("marketplace.asgi:app", host=host, port=port, proxy_headers=True, log_level="info")


if __name__ == "__main__":
    main()
