"""The `marketplace` command for operators: its command names and flags are a contract for people and scripts."""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketplace.clock import aware
from marketplace.metrics import prepare_multiprocess_metrics
from marketplace.settings import Settings, SettingsError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from marketplace.store.models import PlatformRow

console = Console(stderr=True)
Command = TypeVar("Command", bound=Callable[..., Any])


def _collect_for_a_batch() -> None:
    """Tune the cycle collector for a catalog run, once its modules are imported.

    A run makes hundreds of thousands of small objects that live until it ends (stamps, ids, manifest entries).
    CPython started a collection every 700 new objects and walked all of them again, and every module and
    class as well. That was a tenth of re-indexing 100 of 100,000 files. Objects alive now are set aside
    (`gc.freeze`), and a collection starts every 20,000 new objects. Cycles are still collected."""
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def _settings() -> Settings:
    try:
        return Settings.from_environment()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _said_to_operators(error: Exception) -> bool:
    """Whether `error` is one whose message tells an operator what to do. The classes are imported here, not
    before the command runs: the key module alone was a tenth of a second of `marketplace index`'s start, and a
    raised error's module is loaded already."""
    from marketplace.lti.keys import ToolKeyError
    from marketplace.store.database import SchemaOutOfDateError
    from marketplace.store.registrations import RegistrationError

    return isinstance(error, (SchemaOutOfDateError, RegistrationError, ToolKeyError))


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn the errors an operator can act on into a one-line message and exit status 1, never a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (RuntimeError, ValueError) as error:
        if not _said_to_operators(error):
            raise
        raise click.ClickException(str(error)) from None
    except DBAPIError as error:
        # The driver's first line says what is wrong (unreachable server, value too long, conflicting write).
        detail = str(error.orig if error.orig is not None else error).strip().splitlines()
        raise click.ClickException(f"Database error: {detail[0] if detail else type(error).__name__}") from None
    except OSError as error:
        if error.filename is None:
            raise
        # A file or folder the operator can fix (permissions, a full disk): its name and the reason.
        raise click.ClickException(f"{error.filename}: {error.strerror or error}") from None


def _checked_engine(settings: Settings) -> Engine:
    """An engine on the configured database, refused unless it is reachable and at the latest migration."""
    from sqlalchemy.exc import ArgumentError

    from marketplace.store.database import check_schema, make_engine

    try:
        engine = make_engine(settings.database_url)
    except (ArgumentError, ImportError) as error:  # a malformed URL, or a driver that is not installed
        raise click.ClickException(f"MARKETPLACE_DATABASE_URL cannot be used: {error}") from None
    try:
        with _one_line_errors():
            check_schema(engine, settings.database_url)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on a checked database; committed only if the block succeeds, the engine disposed either way."""
    from marketplace.store.database import make_session_factory

    engine = _checked_engine(settings)
    try:
        with _one_line_errors(), make_session_factory(engine)() as session:
            yield session
            session.commit()
    finally:
        engine.dispose()


def _when(moment: datetime | None) -> str:
    """A stored moment for a table: UTC to the second, or '-' if it has not happened."""
    return aware(moment).strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


def _iso(moment: datetime | None) -> str | None:
    """A stored moment for JSON: ISO 8601 with its UTC offset, or null."""
    return aware(moment).isoformat() if moment is not None else None


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; nothing is truncated, so URLs and ids can be copied whole."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    )


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _platform_options(command: Command) -> Command:
    """The --issuer and --client-id options that name one platform registration."""
    command = click.option("--client-id", required=True, help="The client_id the platform issued us.")(command)
    return click.option("--issuer", required=True, help="The platform's issuer (iss) URL.")(command)


def _deployment_option(command: Command) -> Command:
    """The --deployment-id option."""
    return click.option("--deployment-id", required=True, help="The deployment_id sent in launches.")(command)


def _platform(session: Session, issuer: str, client_id: str) -> PlatformRow:
    """The registered platform, or a one-line error saying how to register it."""
    from marketplace.store.registrations import find_platform

    platform = find_platform(session, issuer, client_id, include_pending=True)
    if platform is None:
        raise click.ClickException(
            f"No platform with issuer {issuer} and client_id {client_id} is registered; "
            "see `marketplace platform list`, or add it with `marketplace platform add`."
        )
    return platform


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
    with _one_line_errors():
        upgrade_database(settings.database_url, revision)
    click.echo(f"Database is at {revision}.")


def _make_thumbnails(session: Session, folder: Path, settings: Settings, *, refresh: bool) -> str:
    """Make the catalog's thumbnails and commit them; returns the summary line. Never fails the command:
    a resource without a thumbnail shows its type icon, and the next run tries again."""
    from marketplace.catalog.thumbnails import make_client, make_thumbnails

    try:
        client = make_client() if settings.thumbnail_fetch else None
        try:
            report = make_thumbnails(session, folder, client, refresh=refresh)
        finally:
            if client is not None:
                client.close()
        session.commit()
    except Exception as error:  # noqa: BLE001 - thumbnails are a nicety; the index must still be brought up to date
        session.rollback()
        detail = str(error).strip().splitlines()
        return f"Thumbnails: not updated ({detail[0][:300] if detail else type(error).__name__})."
    summary = report.summary()
    if client is None:
        summary += " (fetching pictures is off: MARKETPLACE_THUMBNAIL_FETCH=0)"
    return summary + "."


@main.command("index")
@click.option("--content-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog folder (default: MARKETPLACE_CONTENT_DIR or ./content).")
@click.option("--full", is_flag=True, help="Re-read every file and rebuild the search index from scratch.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any catalog file has a problem.")
@click.option("--refresh-thumbnails", is_flag=True,
              help="Fetch every picture again, even unchanged ones and those that failed lately.")
@click.option("--compact", is_flag=True,
              help="Then merge the index's small segments now (a running server does it in the background).")
def index_command(content_dir: Path | None, full: bool, strict: bool, refresh_thumbnails: bool,
                  compact: bool) -> None:
    """Load content/ into the database, make thumbnails and bring the search index up to date."""
    from marketplace.catalog.compaction import compact_now
    from marketplace.catalog.index_store import index_exists, segment_sizes
    from marketplace.catalog.sync import load_content, sync_index

    _collect_for_a_batch()
    settings = _settings()
    folder = (content_dir or settings.content_dir).resolve()
    if not folder.is_dir():
        raise click.ClickException(f"The catalog folder {folder} does not exist.")
    with _session(settings) as session, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        phases: dict[str, float] = {}
        started = time.perf_counter()
        reading = progress.add_task("Reading content/", total=None)
        content = load_content(session, folder, full=full)
        session.commit()
        progress.update(reading, total=content.scanned, completed=content.scanned)
        phases["reading and database"], started = time.perf_counter() - started, time.perf_counter()
        picturing = progress.add_task("Making thumbnails", total=None)
        thumbnails = _make_thumbnails(session, folder, settings, refresh=refresh_thumbnails)
        progress.update(picturing, total=1, completed=1)
        phases["thumbnails"], started = time.perf_counter() - started, time.perf_counter()
        indexing = progress.add_task("Indexing", total=None)
        report = sync_index(session, settings.index_dir, rebuild=full,
                            progress=lambda count: progress.advance(indexing, count))
        phases["search index"] = time.perf_counter() - started
        progress.update(indexing, total=max(report.indexed + report.deleted, 1),
                        completed=max(report.indexed + report.deleted, 1))
        if compact:
            started = time.perf_counter()
            compact_now(settings.index_dir, wait=True)
            phases["compaction"] = time.perf_counter() - started
    for problem in content.problems:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False, markup=True)
    click.echo(
        f"{content.scanned} files: {content.added} added, {content.updated} updated, {content.removed} removed, "
        f"{len(content.problems)} with problems. Index: {report.total} resources"
        + (" (rebuilt)" if report.rebuilt else f" ({report.indexed} updated, {report.deleted} removed)")
    )
    click.echo(thumbnails)
    if compact and index_exists(settings.index_dir):
        click.echo(f"Compacted: index segments {len(segment_sizes(settings.index_dir))}.")
    click.echo("Phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()) + ".")
    if content.problems and strict:
        sys.exit(1)


@main.group()
def catalog() -> None:
    """Read the catalog in content/ as its editors need it."""


@catalog.command("publish")
@click.option("--content-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog folder (default: MARKETPLACE_CONTENT_DIR or ./content).")
@click.option("--full", is_flag=True, help="Re-read every file, changed or not.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any catalog file has a problem.")
@click.option("--refresh-thumbnails", is_flag=True, help="Fetch every picture again.")
def publish_command(content_dir: Path | None, full: bool, strict: bool, refresh_thumbnails: bool) -> None:
    """Write content/ into the database (with thumbnails) once, for every host: each server's replica brings
    its own index up to date within MARKETPLACE_CATALOG_CHECK_SECONDS. Builds no index here."""
    from marketplace.catalog.sync import load_content

    _collect_for_a_batch()
    settings = _settings()
    folder = (content_dir or settings.content_dir).resolve()
    if not folder.is_dir():
        raise click.ClickException(f"The catalog folder {folder} does not exist.")
    with _session(settings) as session:
        content = load_content(session, folder, full=full)
        session.commit()
        thumbnails = _make_thumbnails(session, folder, settings, refresh=refresh_thumbnails)
    for problem in content.problems:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False, markup=True)
    click.echo(f"{content.scanned} files: {content.added} added, {content.updated} updated, {content.removed} "
               f"removed, {len(content.problems)} with problems. Every host's index follows within "
               f"{settings.catalog_check_seconds:g} s.")
    click.echo(thumbnails)
    if content.problems and strict:
        sys.exit(1)


@catalog.command("licences")
@click.option("--content-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Catalog folder (default: MARKETPLACE_CONTENT_DIR or ./content).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any entry needs its licence read again.")
def catalog_licences(content_dir: Path | None, as_json: bool, strict: bool) -> None:
    """Count resources per licence and per source, and list external ones whose licence evidence is missing
    or over a year old."""
    from marketplace.catalog.licence_report import licence_report
    from marketplace.catalog.licences import LICENCES

    folder = (content_dir or _settings().content_dir).resolve()
    if not folder.is_dir():
        raise click.ClickException(f"The catalog folder {folder} does not exist.")
    report = licence_report(folder, datetime.now(UTC).date())
    if as_json:
        _echo_json(report.to_dict())
    else:
        click.echo(f"{report.total} resources, {report.external} from outside sources.\n")
        click.echo(_table(("Licence", "Id", "Resources"), [
            (LICENCES[licence_id].label, licence_id, str(count))
            for licence_id, count in report.per_licence.most_common()
        ]))
        click.echo("")
        click.echo(_table(("Source", "Resources", "Licences"), [
            (source, str(sum(licences.values())),
             ", ".join(f"{LICENCES[licence_id].label} ({count})" for licence_id, count in licences.most_common()))
            for source, licences in sorted(report.per_source.items(), key=lambda item: -sum(item[1].values()))
        ]))
        click.echo("")
        if report.to_check:
            click.echo(f"{len(report.to_check)} to read again at their source:")
            click.echo(_table(("File", "Source", "Licence", "Why"), [
                (entry.source_path, entry.source, entry.licence_id, entry.reason) for entry in report.to_check
            ]))
        else:
            click.echo("Every external resource's licence was read at its source within the last year.")
        if report.problems:
            click.echo(f"\n{report.problems} files did not load and are not counted: "
                       "`marketplace index --strict` names their problems.")
    if strict and (report.to_check or report.problems):
        sys.exit(1)


@main.group()
def platform() -> None:
    """LMS platform registrations (issuer + client_id)."""


@platform.command("add")
@_platform_options
@click.option("--auth-login-url", required=True, help="The platform's OIDC login (authorization) endpoint.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token endpoint.")
@click.option("--key-set-url", required=True, help="The platform's public JWKS URL.")
@click.option("--auth-audience", default=None, help="The audience for token requests, if not the token URL.")
@click.option("--name", default=None, help="A label for people (default: the issuer).")
@click.option("--frame-origin", "frame_origins", multiple=True,
              help="An origin whose pages embed the tool, when not the issuer's (repeatable), "
                   "e.g. https://school.example.edu")
def platform_add(issuer: str, client_id: str, auth_login_url: str, auth_token_url: str, key_set_url: str,
                 auth_audience: str | None, name: str | None, frame_origins: tuple[str, ...]) -> None:
    """Register a platform; an issuer may have several client_ids."""
    from marketplace.store.registrations import add_platform

    settings = _settings()
    with _session(settings) as session:
        row = add_platform(session, issuer=issuer, client_id=client_id, auth_login_url=auth_login_url,
                           auth_token_url=auth_token_url, key_set_url=key_set_url, auth_audience=auth_audience,
                           name=name, frame_origins=list(frame_origins), allow_http=not settings.is_production)
        label = row.name
    click.echo(f"Registered platform {label} (issuer {issuer}, client_id {client_id}). "
               "Add its deployments with `marketplace deployment add`.")


@platform.command("approve")
@_platform_options
def platform_approve(issuer: str, client_id: str) -> None:
    """Approve a platform that registered itself (dynamic registration), with the deployment it brought."""
    from marketplace.store.registrations import ACTIVE, approve_platform

    with _session(_settings()) as session:
        row = _platform(session, issuer, client_id)
        if row.status == ACTIVE:
            click.echo(f"The platform {row.name} (issuer {issuer}, client_id {client_id}) is already approved.")
            return
        deployments = [deployment.deployment_id for deployment in approve_platform(session, row)]
        label = row.name
    approved = f" and its deployment{'s' if len(deployments) > 1 else ''} {', '.join(deployments)}" if deployments \
        else ""
    click.echo(f"Approved platform {label} (issuer {issuer}, client_id {client_id}){approved}; its launches "
               "now work.")


@platform.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
def platform_list(as_json: bool) -> None:
    """List registered platforms with their endpoints and deployment counts."""
    from marketplace.store.registrations import list_deployments, list_platforms

    with _session(_settings()) as session:
        platforms = list_platforms(session)
        counts: dict[int, int] = {}
        for owner, _deployment in list_deployments(session):
            counts[owner.id] = counts.get(owner.id, 0) + 1
    if as_json:
        _echo_json([
            {"issuer": row.issuer, "client_id": row.client_id, "name": row.name,
             "auth_login_url": row.auth_login_url, "auth_token_url": row.auth_token_url,
             "key_set_url": row.key_set_url, "auth_audience": row.auth_audience,
             "deployments": counts.get(row.id, 0), "status": row.status, "created_at": _iso(row.created_at)}
            for row in platforms
        ])
        return
    if not platforms:
        click.echo("No platforms are registered; add one with `marketplace platform add`.")
        return
    click.echo(_table(
        ("ISSUER", "CLIENT_ID", "NAME", "STATUS", "DEPLOYMENTS", "LOGIN URL", "TOKEN URL", "JWKS URL"),
        [(row.issuer, row.client_id, row.name, row.status, str(counts.get(row.id, 0)), row.auth_login_url,
          row.auth_token_url, row.key_set_url) for row in platforms],
    ))


@platform.command("remove")
@_platform_options
def platform_remove(issuer: str, client_id: str) -> None:
    """Remove a platform registration and, with it, its deployments."""
    from marketplace.store.registrations import list_deployments, remove_platform

    with _session(_settings()) as session:
        row = _platform(session, issuer, client_id)
        dropped = sum(1 for owner, _deployment in list_deployments(session) if owner.id == row.id)
        remove_platform(session, issuer, client_id)
    click.echo(f"Removed platform {issuer} (client_id {client_id}) and its {dropped} deployment(s).")


@main.group()
def deployment() -> None:
    """Deployments of the tool on registered platforms."""


@deployment.command("add")
@_platform_options
@_deployment_option
def deployment_add(issuer: str, client_id: str, deployment_id: str) -> None:
    """Register a deployment as active; a pending one with this id is approved."""
    from marketplace.store.registrations import PENDING, add_deployment, find_deployment

    with _session(_settings()) as session:
        owner = _platform(session, issuer, client_id)
        existing = find_deployment(session, owner, deployment_id)
        was_pending = existing is not None and existing.status == PENDING
        add_deployment(session, owner, deployment_id)
    verb = "Approved pending" if was_pending else "Added active"
    click.echo(f"{verb} deployment {deployment_id} of {issuer} (client_id {client_id}).")


@deployment.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
def deployment_list(as_json: bool) -> None:
    """List deployments, active and pending."""
    from marketplace.store.registrations import list_deployments

    with _session(_settings()) as session:
        pairs = list_deployments(session)
    if as_json:
        _echo_json([
            {"issuer": owner.issuer, "client_id": owner.client_id, "deployment_id": row.deployment_id,
             "status": row.status, "created_at": _iso(row.created_at), "approved_at": _iso(row.approved_at)}
            for owner, row in pairs
        ])
        return
    if not pairs:
        click.echo("No deployments are registered; add one with `marketplace deployment add`.")
        return
    click.echo(_table(
        ("ISSUER", "CLIENT_ID", "DEPLOYMENT_ID", "STATUS", "CREATED", "APPROVED"),
        [(owner.issuer, owner.client_id, row.deployment_id, row.status, _when(row.created_at),
          _when(row.approved_at)) for owner, row in pairs],
    ))


def _deployment(session: Any, issuer: str, client_id: str, deployment_id: str, hint: str) -> Any:
    """The registered deployment, or a one-line error that ends with `hint`."""
    from marketplace.store.registrations import find_deployment

    row = find_deployment(session, _platform(session, issuer, client_id), deployment_id)
    if row is None:
        raise click.ClickException(
            f"No deployment {deployment_id} of {issuer} (client_id {client_id}) is registered; {hint}."
        )
    return row


@deployment.command("approve")
@_platform_options
@_deployment_option
def deployment_approve(issuer: str, client_id: str, deployment_id: str) -> None:
    """Approve a pending deployment so its launches are accepted."""
    from marketplace.store.registrations import ACTIVE, approve_deployment

    with _session(_settings()) as session:
        row = _deployment(session, issuer, client_id, deployment_id, "add it with `marketplace deployment add`")
        already = row.status == ACTIVE
        if not already:
            approve_deployment(session, row)
    # Approving twice is not an error, so scripts can run it idempotently.
    state = "was already active" if already else "is approved"
    click.echo(f"Deployment {deployment_id} of {issuer} (client_id {client_id}) {state}.")


@deployment.command("remove")
@_platform_options
@_deployment_option
def deployment_remove(issuer: str, client_id: str, deployment_id: str) -> None:
    """Remove a deployment; its launches stop being accepted."""
    from marketplace.store.registrations import remove_deployment

    with _session(_settings()) as session:
        row = _deployment(session, issuer, client_id, deployment_id, "see `marketplace deployment list`")
        remove_deployment(session, row)
    click.echo(f"Removed deployment {deployment_id} of {issuer} (client_id {client_id}).")


@main.group()
def keys() -> None:
    """The tool's signing keys (public parts only are ever shown)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
def keys_list(as_json: bool) -> None:
    """List signing keys and their roles; creates the active and next keys if missing."""
    from marketplace.lti.keys import ensure_keys, key_statuses

    settings = _settings()
    with _session(settings) as session:
        # So an operator always sees the keys the JWKS will publish, even before the first launch.
        ensure_keys(session, settings.secret_key)
        statuses = key_statuses(session)
    if as_json:
        _echo_json([
            {"kid": status.kid, "role": status.role, "created_at": _iso(status.created_at),
             "activated_at": _iso(status.activated_at), "retired_at": _iso(status.retired_at)}
            for status in statuses
        ])
        return
    click.echo(_table(
        ("KID", "ROLE", "CREATED", "ACTIVATED", "RETIRED"),
        [(status.kid, status.role, _when(status.created_at), _when(status.activated_at), _when(status.retired_at))
         for status in statuses],
    ))


@keys.command("rotate")
def keys_rotate() -> None:
    """Retire the active key, activate the next one and create a new next key."""
    from marketplace.lti.keys import ensure_keys, key_statuses, rotate

    settings = _settings()
    with _session(settings) as session:
        ensure_keys(session, settings.secret_key)
        retired, active = rotate(session, settings.secret_key)
        upcoming = next(status.kid for status in key_statuses(session) if status.role == "next")
    click.echo(f"Retired key {retired}; key {active} is now active and key {upcoming} is next.")


@main.group()
def grades() -> None:
    """Scores on their way to the platforms' gradebooks (the grade outbox)."""


@grades.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
def grades_status(as_json: bool) -> None:
    """Grade jobs by state, per platform."""
    from marketplace.grading.outbox import STATES, status

    with _session(_settings()) as session:
        counts = status(session)
    if as_json:
        _echo_json([{"platform": entry.platform, **entry.counts, "oldest_pending": _iso(entry.oldest_pending)}
                    for entry in counts])
        return
    if not counts:
        click.echo("No grades yet.")
        return
    click.echo(_table(("PLATFORM", *(state.upper() for state in STATES), "OLDEST PENDING"),
                      [(entry.platform, *(str(entry.counts[state]) for state in STATES), _when(entry.oldest_pending))
                       for entry in counts]))


@grades.command("retry")
@click.option("--failed", is_flag=True, help="Queue every failed grade again.")
@click.option("--job", "job_ids", multiple=True, type=int, help="Queue this failed grade job again (repeatable).")
def grades_retry(failed: bool, job_ids: tuple[int, ...]) -> None:
    """Queue failed grades again; they are delivered by the worker or `marketplace grades sync`."""
    from marketplace.clock import utc_now
    from marketplace.grading.outbox import retry

    if not failed and not job_ids:
        raise click.UsageError("Say what to retry: --failed for every failed grade, or --job ID.")
    with _session(_settings()) as session:
        count = retry(session, utc_now(), job_ids=list(job_ids) if job_ids else None, failed=failed)
    click.echo(f"Queued {count} failed grade{'s' if count != 1 else ''} again.")


@grades.command("sync")
def grades_sync() -> None:
    """Deliver every grade that is due now, then exit (for cron, or an operator after an outage)."""
    import asyncio

    from sqlalchemy import func, select

    from marketplace.grading.outbox import PENDING
    from marketplace.grading.runtime import build_grading
    from marketplace.lti.keys import SigningKeys
    from marketplace.store.database import make_session_factory
    from marketplace.store.models import GradeJobRow

    settings = _settings()
    engine = _checked_engine(settings)
    sessions = make_session_factory(engine)

    async def run() -> dict[str, int]:
        grading = build_grading(sessions, SigningKeys(settings.secret_key), settings.secret_key,
                                allow_loopback=settings.allows_loopback_platforms)
        try:
            with sessions() as session:
                due = session.scalar(select(func.count()).select_from(GradeJobRow)
                                     .where(GradeJobRow.state == PENDING)) or 0
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=False, disable=due == 0) as progress:
                task = progress.add_task("Delivering grades", total=due)
                report = await grading.delivery.drain(
                    progress=lambda batch: progress.advance(task, batch.claimed - batch.states[PENDING]))
            return report.states
        finally:
            await grading.stop()

    try:
        with _one_line_errors():
            states = asyncio.run(run())
    finally:
        engine.dispose()
    click.echo("Delivered: " + ", ".join(f"{count} {state}" for state, count in states.items()) + ".")


@main.group()
def notices() -> None:
    """The platform notices this tool receives (Platform Notification Service)."""


@notices.command("subscribe")
@_platform_options
@click.option("--deployment-id", default=None, help="The deployment to subscribe (default: the most recently "
              "launched one).")
@click.option("--type", "types", multiple=True, help="A notice type (repeatable; default: LtiContextCopyNotice "
              "and LtiHelloWorldNotice, as far as the platform supports them).")
@click.option("--handler", default=None, help="The handler URL (default: <MARKETPLACE_BASE_URL>/lti/notices).")
def notices_subscribe(issuer: str, client_id: str, deployment_id: str | None, types: tuple[str, ...],
                      handler: str | None) -> None:
    """Register this tool's notice handler with the platform's notice handler service."""
    import asyncio

    from marketplace.grading.runtime import build_grading
    from marketplace.grading.service_http import ServiceFailure
    from marketplace.lti.keys import SigningKeys
    from marketplace.lti.notice_subscriptions import DEFAULT_TYPES, SubscriptionError, notice_service, subscribe
    from marketplace.store.database import make_session_factory

    settings = _settings()
    engine = _checked_engine(settings)
    sessions = make_session_factory(engine)
    target = handler or settings.base_url + "/lti/notices"

    async def run() -> list[dict[str, Any]]:
        with sessions() as session:
            service = notice_service(session, _platform(session, issuer, client_id), deployment_id)
        grading = build_grading(sessions, SigningKeys(settings.secret_key), settings.secret_key,
                                allow_loopback=settings.allows_loopback_platforms)
        try:
            return await subscribe(grading.client, grading.tokens.get, service, target, types or DEFAULT_TYPES)
        finally:
            await grading.stop()

    try:
        with _one_line_errors():
            handlers = asyncio.run(run())
    except SubscriptionError as error:
        raise click.ClickException(str(error)) from None
    except ServiceFailure as failure:
        raise click.ClickException(f"The platform's token service refused: {failure.message}") from None
    finally:
        engine.dispose()
    for entry in handlers:
        click.echo(f"{entry.get('notice_type')}: {entry.get('handler') or '(none)'}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (uvicorn's supervisor restarts any that dies).")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app with uvicorn."""
    import uvicorn

    from marketplace.logs import logging_config

    settings = _settings()  # refuse a bad configuration before uvicorn starts
    _checked_engine(settings).dispose()
    if workers > 1:
        prepare_multiprocess_metrics(settings.data_dir)
    json_lines = settings.log_format == "json"
    uvicorn.run("marketplace.asgi:app", host=host, port=port, workers=workers, proxy_headers=True,
                log_config=logging_config(settings.log_level, json_lines=json_lines), access_log=not json_lines)


if __name__ == "__main__":
    main()
