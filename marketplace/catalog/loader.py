"""Reading `content/`: one TOML file per resource, validated into Resource records.

A bad file becomes a CatalogProblem (file, line, reason) and never stops the others from loading.
Run `python -m marketplace.catalog.loader CONTENT_DIR` to check a catalog without touching any database.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from marketplace.catalog.attribution import check_credit
from marketplace.catalog.licences import LICENCES, LicenceTerms
from marketplace.catalog.payloads import PAYLOAD_VALIDATORS, PayloadError
from marketplace.catalog.resource import Resource
from marketplace.catalog.vocabulary import GRADE_LEVELS, RESOURCE_TYPES, SUBJECTS

RESOURCES_FOLDER = "resources"
FILES_FOLDER = "files"
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
TOP_LEVEL_KEYS = frozenset(
    "id title description subject grade_levels type language keywords thumbnail author license payload".split()
)
LICENSE_KEYS = frozenset("id attribution url work_title evidence_url checked note".split())
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class CatalogProblem:
    """Why one catalog file could not be loaded, and where."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


class CatalogFileError(Exception):
    """Raised by parse_resource_file; carries the problem to report."""

    def __init__(self, problem: CatalogProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(slots=True)
class LoadResult:
    """Everything that loaded, and every problem found on the way."""

    resources: list[Resource] = field(default_factory=list)
    problems: list[CatalogProblem] = field(default_factory=list)


class _Located(Exception):
    """Internal: a reason plus the key path it concerns, turned into a line later."""

    def __init__(self, key: str, reason: str, table: str | None = None) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason
        self.table = table


def _resource_entries(content_dir: Path) -> Iterator[tuple[os.DirEntry[str], str]]:
    """Every `*.toml` entry under content/resources/ with its path relative to content/ (as stored), found as
    os.walk finds them: a symlinked folder is listed but not entered. A folder that cannot be read is an error,
    not an empty folder: skipping it would remove its resources from the database."""
    root = content_dir / RESOURCES_FOLDER
    if not root.is_dir():
        return
    folders = [(str(root), RESOURCES_FOLDER + "/")]
    while folders:
        folder, relative = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    if not entry.is_symlink():
                        folders.append((entry.path, relative + entry.name + "/"))
                elif entry.name.endswith(".toml"):
                    yield entry, relative + entry.name


def _sort_key(relative: str) -> list[str]:
    """Paths sort by their parts, as Paths do ("a/b" before "a-b/c")."""
    return relative.split("/")


def source_files(content_dir: Path) -> list[Path]:
    """Every resource file under content/resources/, in a stable order."""
    # os.scandir over strings, not Path.rglob: a re-index lists 100,000 files to find the few that changed, and
    # rglob with Path comparisons was a seventh of it.
    found = [(relative, entry.path) for entry, relative in _resource_entries(content_dir)]
    found.sort(key=lambda item: _sort_key(item[0]))
    return [Path(path) for _, path in found]


def scan_sources(content_dir: Path) -> dict[str, str]:
    """Source path (relative to content/, as stored) -> the file's stamp (mtime and size), for every resource
    file, read while listing: a re-index of a few changed files must stat all 100,000, and Path objects,
    Path.stat and relative_to per file were most of that. The stamp is `fingerprint(path)` of a file without
    attachment. (The stat calls themselves are most of what is left; threads made them slower, not faster.)"""
    scanned: dict[str, str] = {}
    for entry, relative in _resource_entries(content_dir):
        try:
            stat = entry.stat()
        except OSError:
            scanned[relative] = "missing"
        else:
            scanned[relative] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return scanned


def in_source_order(relatives: Iterable[str]) -> list[str]:
    """Relative source paths in the order source_files lists their files."""
    return sorted(relatives, key=_sort_key)


def fingerprint(path: Path, attachment: Path | None = None) -> str:
    """A cheap change detector (mtime and size of the file and of its attachment) used before hashing."""
    parts = []
    for item in (path, attachment):
        if item is None:
            continue
        try:
            stat = item.stat()
        except OSError:
            parts.append("missing")
        else:
            parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
    return ";".join(parts)


def attachment_path(content_dir: Path, payload: dict[str, Any]) -> Path | None:
    """The shipped file of a `file` resource, if any."""
    relative = payload.get("path")
    return content_dir / FILES_FOLDER / relative if isinstance(relative, str) else None


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """The 1-based line where `key` is set inside `table` (None: top level), best effort."""
    index_match = re.match(r"^(\w+)\[(\d+)\]\.?(\w*)$", key)
    array_table, wanted, inner = (index_match.group(1), int(index_match.group(2)), index_match.group(3)) if (
        index_match
    ) else (None, 0, "")
    current: str | None = None
    occurrence = 0
    key_pattern = re.compile(rf"^\s*\"?{re.escape(inner or key)}\"?\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([\w.\-\"]+)\s*\]\]?", stripped)
        if header:
            current = header.group(1)
            if array_table and current == f"{table}.{array_table}":
                occurrence += 1
                if occurrence == wanted and not inner:
                    return number
            continue
        if array_table:
            if current == f"{table}.{array_table}" and occurrence == wanted and key_pattern.match(line):
                return number
        elif current == table and key_pattern.match(line):
            return number
    if table is not None and not array_table:
        for number, line in enumerate(text.splitlines(), start=1):
            if re.match(rf"^\s*\[\s*{re.escape(table)}\s*\]", line):
                return number
    return None


def _required_text(data: dict[str, Any], key: str, low: int, high: int) -> str:
    value = data.get(key)
    if value is None:
        raise _Located(key, f"{key} is required")
    if not isinstance(value, str):
        raise _Located(key, f"{key} must be text")
    value = value.strip()
    if not low <= len(value) <= high:
        raise _Located(key, f"{key} must be {low} to {high} characters long (it has {len(value)})")
    return value


def _string_list(data: dict[str, Any], key: str, low: int, high: int, item_max: int) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise _Located(key, f"{key} must be a list of non-empty strings")
    items = [item.strip() for item in value]
    if not low <= len(items) <= high:
        raise _Located(key, f"{key} must have {low} to {high} entries (it has {len(items)})")
    if any(len(item) > item_max for item in items):
        raise _Located(key, f"each entry of {key} must be at most {item_max} characters")
    if len({item.casefold() for item in items}) != len(items):
        raise _Located(key, f"{key} lists the same entry twice")
    return items


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _Located(key, f"the [{key}] table is required")
    return value


def _validate(data: dict[str, Any], path: Path, content_dir: Path) -> Resource:
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise _Located(unknown[0], f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    resource_id = _required_text(data, "id", 1, 80)
    if not ID_PATTERN.match(resource_id):
        raise _Located("id", f"id {resource_id!r} must be lower-case letters, digits and single hyphens")
    if resource_id != path.stem:
        raise _Located("id", f"id {resource_id!r} must equal the file name {path.stem!r}")
    title = _required_text(data, "title", 3, 200)
    description = _required_text(data, "description", 20, 2000)
    subject = _required_text(data, "subject", 1, 100)
    if subject not in SUBJECTS:
        raise _Located("subject", f"unknown subject {subject!r} (allowed: {', '.join(SUBJECTS)})")
    grades = _string_list(data, "grade_levels", 1, len(GRADE_LEVELS), 20)
    bad_grades = [grade for grade in grades if grade not in GRADE_LEVELS]
    if bad_grades:
        raise _Located(
            "grade_levels", f"unknown grade level {bad_grades[0]!r} (allowed: {', '.join(GRADE_LEVELS)})"
        )
    resource_type = _required_text(data, "type", 1, 30)
    if resource_type not in RESOURCE_TYPES:
        raise _Located("type", f"unknown type {resource_type!r} (allowed: {', '.join(RESOURCE_TYPES)})")
    language = _required_text(data, "language", 2, 35)
    if not LANGUAGE_PATTERN.match(language):
        raise _Located("language", f"language {language!r} is not a BCP 47 tag such as 'en' or 'pt-BR'")
    keywords = _string_list(data, "keywords", 1, 25, 60)
    thumbnail = _required_text(data, "thumbnail", 1, 2000)
    if not thumbnail.startswith("https://"):
        local = (content_dir / thumbnail).resolve()
        if not local.is_relative_to(content_dir.resolve()) or not local.is_file():
            raise _Located("thumbnail", f"thumbnail {thumbnail!r} is neither an https:// URL nor a file in content/")

    author = _table(data, "author")
    author_name = author.get("name")
    if not isinstance(author_name, str) or not author_name.strip():
        raise _Located("name", "author.name is required", table="author")
    author_url = author.get("url")
    if author_url is not None and (not isinstance(author_url, str) or not author_url.startswith("https://")):
        raise _Located("url", "author.url must be an https:// URL", table="author")

    provenance = _license(_table(data, "license"), title=title, author_name=author_name.strip())

    payload_table = _table(data, "payload")
    files_dir = content_dir / FILES_FOLDER
    try:
        payload = PAYLOAD_VALIDATORS[resource_type](payload_table, files_dir)
    except PayloadError as error:
        raise _Located(error.key, f"{error.reason} (for type {resource_type!r})", table="payload") from None

    return Resource(
        id=resource_id,
        title=title,
        description=description,
        subject=subject,
        grade_levels=tuple(grade for grade in GRADE_LEVELS if grade in grades),
        type=resource_type,
        language=language,
        keywords=tuple(keywords),
        thumbnail=thumbnail,
        author_name=author_name.strip(),
        author_url=author_url,
        license_id=provenance.licence.id,
        license_attribution=provenance.attribution,
        license_url=provenance.url,
        license_evidence_url=provenance.evidence_url,
        license_checked=provenance.checked,
        license_note=provenance.note,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class _Provenance:
    licence: LicenceTerms
    attribution: str
    url: str
    evidence_url: str | None
    checked: date | None
    note: str


def _license(table: dict[str, Any], *, title: str, author_name: str) -> _Provenance:
    """The [license] table: a known id, a TASL credit line, and where and when the licence was read."""
    unknown = sorted(set(table) - LICENSE_KEYS)
    if unknown:
        raise _Located(unknown[0], f"unknown key license.{unknown[0]} (allowed: {', '.join(sorted(LICENSE_KEYS))})",
                       table="license")
    licence_id = table.get("id")
    if not isinstance(licence_id, str) or licence_id not in LICENCES:
        raise _Located("id", f"unknown licence {licence_id!r}: use an SPDX id or one of our LicenseRef- ids "
                             "(listed in content/README.md)", table="license")
    licence = LICENCES[licence_id]
    attribution = table.get("attribution")
    if not isinstance(attribution, str) or not attribution.strip():
        raise _Located("attribution", "license.attribution is required", table="license")
    work_title = table.get("work_title", "")
    if not isinstance(work_title, str) or len(work_title) > 300:
        raise _Located("work_title", "license.work_title must be text of at most 300 characters", table="license")
    credit = check_credit(attribution, titles=(title, work_title.strip()), author=author_name, licence=licence)
    if credit:
        raise _Located("attribution", "; ".join(problem.reason for problem in credit), table="license")
    url = table.get("url") or licence.url
    if not isinstance(url, str) or not url.startswith("https://"):
        raise _Located("url", "license.url must be an https:// URL", table="license")
    evidence_url = table.get("evidence_url")
    if evidence_url is not None and (not isinstance(evidence_url, str) or not evidence_url.startswith("https://")):
        raise _Located("evidence_url", "license.evidence_url must be the https:// page where the licence was read",
                       table="license")
    checked = table.get("checked")
    if checked is not None:
        if not isinstance(checked, date) or isinstance(checked, datetime):
            raise _Located("checked", "license.checked must be a date written as 2026-12-05 (no quotes)",
                           table="license")
        if checked > date.today() + timedelta(days=1):
            raise _Located("checked", f"license.checked ({checked.isoformat()}) is in the future", table="license")
    if (evidence_url is None) != (checked is None):
        raise _Located("evidence_url" if evidence_url is not None else "checked",
                       "license.evidence_url and license.checked go together: where the licence was read, and when",
                       table="license")
    note = table.get("note", "")
    if not isinstance(note, str) or len(note) > 1000:
        raise _Located("note", "license.note must be text of at most 1000 characters", table="license")
    return _Provenance(licence, attribution.strip(), url, evidence_url, checked, note.strip())


def parse_resource_file(path: Path, content_dir: Path) -> Resource:
    """Read and validate one resource file; raises CatalogFileError with file, line and reason."""
    relative = path.relative_to(content_dir).as_posix()

    def problem(line: int | None, reason: str) -> CatalogFileError:
        return CatalogFileError(CatalogProblem(relative, line, reason))

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise problem(None, f"cannot be read: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise problem(None, f"is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise problem(line, "is not valid UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column \d+\)", str(error))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error)) or "is not valid TOML"
        raise problem(int(found.group(1)) if found else None, f"invalid TOML: {reason}") from None
    try:
        resource = _validate(data, path, content_dir)
    except _Located as error:
        raise problem(_line_of(text, error.key, error.table), error.reason) from None

    digest = hashlib.sha256(raw)
    attachment = attachment_path(content_dir, resource.payload) if resource.type == "file" else None
    if attachment is not None:
        digest.update(attachment.read_bytes())
    return replace(
        resource,
        content_hash=digest.hexdigest(),
        source_path=relative,
        source_fingerprint=fingerprint(path, attachment),
    )


PARALLEL_FROM = 2000  # files; below this, starting worker processes costs more than it saves
PARSE_CHUNK = 500


def _parse_or_problem(path: Path, content_dir: Path) -> Resource | CatalogProblem:
    try:
        return parse_resource_file(path, content_dir)
    except CatalogFileError as error:
        return error.problem


def _parse_chunk(paths: list[Path], content_dir: Path) -> list[Resource | CatalogProblem]:
    return [_parse_or_problem(path, content_dir) for path in paths]


def _parsed(content_dir: Path, paths: list[Path], workers: int) -> Iterator[Resource | CatalogProblem]:
    """Each file parsed, in the order given, as a stream (a large catalog is never held whole): in worker
    processes for a large catalog (TOML parsing is most of reading 100,000 files), here for a small one."""
    if len(paths) < PARALLEL_FROM or workers < 2:
        yield from (_parse_or_problem(path, content_dir) for path in paths)
        return
    # forkserver, not fork: the server's re-index runs this in a thread, and forking a threaded process can
    # leave a child holding a lock no thread of its own will release.
    context = multiprocessing.get_context("forkserver")
    done = 0  # files already yielded: a pool that breaks midway leaves the rest to be parsed here
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            # A window of chunks in flight, not all of them: parsed files wait for the caller a few at a time.
            window = workers * 2
            pending: list[Future[list[Resource | CatalogProblem]]] = []
            for start in range(0, len(paths), PARSE_CHUNK):
                pending.append(pool.submit(_parse_chunk, paths[start:start + PARSE_CHUNK], content_dir))
                if len(pending) >= window:
                    outcomes = pending.pop(0).result()
                    yield from outcomes
                    done += len(outcomes)
            for future in pending:
                outcomes = future.result()
                yield from outcomes
                done += len(outcomes)
    except BrokenProcessPool:
        # Workers that cannot start (a parent whose main module cannot be imported again, as from stdin):
        # slower, but the same result.
        yield from (_parse_or_problem(path, content_dir) for path in paths[done:])


def parsed_resources(content_dir: Path, paths: Iterable[Path] | None = None, *,
                     workers: int | None = None) -> Iterator[Resource | CatalogProblem]:
    """Every resource file (or just `paths`) parsed, in order, as a stream of resources and problems; an id
    already used by an earlier file is a problem of the later one."""
    seen: dict[str, str] = {}
    chosen = list(source_files(content_dir) if paths is None else paths)
    for outcome in _parsed(content_dir, chosen, workers if workers is not None else (os.cpu_count() or 1)):
        if isinstance(outcome, Resource) and outcome.id in seen:
            yield CatalogProblem(outcome.source_path, 1, f"id {outcome.id!r} is already used by {seen[outcome.id]}")
            continue
        if isinstance(outcome, Resource):
            seen[outcome.id] = outcome.source_path
        yield outcome


def load_catalog(content_dir: Path, paths: Iterable[Path] | None = None, *,
                 workers: int | None = None) -> LoadResult:
    """Load every resource file (or just `paths`), collecting problems instead of stopping at one."""
    result = LoadResult()
    for outcome in parsed_resources(content_dir, paths, workers=workers):
        if isinstance(outcome, CatalogProblem):
            result.problems.append(outcome)
        else:
            result.resources.append(outcome)
    return result


def main(argv: list[str] | None = None) -> int:
    """Check a catalog folder and print every problem; exit 1 if there is any."""
    args = sys.argv[1:] if argv is None else argv
    content_dir = Path(args[0] if args else "content")
    result = load_catalog(content_dir)
    for problem in result.problems:
        print(problem)
    counts: dict[str, int] = {}
    for resource in result.resources:
        counts[resource.type] = counts.get(resource.type, 0) + 1
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    print(f"{len(result.resources)} resources loaded ({summary}); {len(result.problems)} problems")
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
