"""Thumbnails made when indexing: each resource's raster picture fetched once, scaled to fit 320x180 and
stored in the database as a JPEG, then served from /thumbnails/ (never hot-linked from a third-party site).

Why at index time and in the database: a page that hot-links upload.wikimedia.org leaks every visitor to
that site, breaks when it is slow, and loads a full-size original into a 120-pixel box. Fetching while
indexing costs one request per changed picture; storing the bytes in the database (not on disk) lets every
host serve them, since each host only rebuilds its own Whoosh replica from the shared database.

Nothing here may stop indexing: a source that cannot be fetched or decoded leaves the resource with its
type icon and a recorded reason, and is tried again after RETRY_AFTER (or with --refresh-thumbnails).
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from marketplace.catalog.resource import Resource
from marketplace.catalog.vocabulary import RESOURCE_TYPES
from marketplace.clock import utc_now
from marketplace.store.thumbnails import (
    MadeThumbnail,
    ThumbnailImage,
    delete_thumbnails,
    made_thumbnails,
    picture_inputs,
    record_failure,
    save_thumbnail,
    thumbnail_image,
    thumbnail_states,
)

if TYPE_CHECKING:
    # httpx and Pillow are imported where a picture is fetched or scaled, not here: `marketplace index` and the
    # search only look pictures up, and the two imports were about 0.07 s of every command's start.
    import httpx
    from PIL import Image

BOX: Final = (320, 180)
ICON_SIZE: Final = 48
MEDIA_TYPE: Final = "image/jpeg"
JPEG_QUALITY: Final = 82
MAX_SOURCE_BYTES: Final = 20 * 1024 * 1024
# Decoded size limit, checked from the header before any pixel is decoded: a few kilobytes of PNG can
# claim a 100,000 x 100,000 canvas (a decompression bomb). 40 megapixels covers large scans and photos.
MAX_PIXELS: Final = 40_000_000
MAX_REDIRECTS: Final = 3
CONCURRENCY: Final = 4
TIMEOUT_SECONDS: Final = 10.0  # each read, write and pool wait; a connection gets CONNECT_TIMEOUT_SECONDS
CONNECT_TIMEOUT_SECONDS: Final = 5.0
# A server that drips bytes keeps every read under the read timeout; this bounds one fetch as a whole.
FETCH_DEADLINE_SECONDS: Final = 30.0
RETRY_AFTER_HOURS: Final = 6
RETRY_AFTER: Final = timedelta(hours=RETRY_AFTER_HOURS)
# After this many sources in a row could not even be connected to, the network is taken to be down and
# the rest are left for the next run: indexing without network must not wait on each source in turn.
UNREACHABLE_STREAK: Final = 8
USER_AGENT: Final = "lti-marketplace-thumbnails/0.1 (makes one small thumbnail per catalog picture)"
RASTER_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
VECTOR_SUFFIXES: Final = frozenset({".svg", ".svgz"})
RASTER_FORMATS: Final = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"})
# Bumped when what the index stores for display changes, so every document is rewritten once.
DISPLAY_VERSION: Final = "p1"
_NAME = re.compile(r"^(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)-(?P<digest>[0-9a-f]{12})\.jpg$")


# ---------------------------------------------------------------------------------------------- what pages show


@dataclass(frozen=True, slots=True)
class LocalThumbnail:
    """A made thumbnail as pages refer to it: its public name and size."""

    resource_id: str
    sha256: str
    width: int
    height: int

    @property
    def name(self) -> str:
        """`<resource id>-<first 12 hex of the JPEG's SHA-256>.jpg`: a new picture gets a new URL, so the
        URL can be cached forever."""
        return f"{self.resource_id}-{self.sha256[:12]}.jpg"

    @property
    def path(self) -> str:
        return f"/thumbnails/{self.name}"

    def absolute_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{self.path}"


@dataclass(frozen=True, slots=True)
class PicturedResource(Resource):
    """A resource with its made thumbnail (if any), as handed to the index and to resource_to_json."""

    local_thumbnail: LocalThumbnail | None = None


def local_thumbnail_of(made: MadeThumbnail) -> LocalThumbnail:
    return LocalThumbnail(made.resource_id, made.sha256, made.width, made.height)


def local_thumbnails(session: Session, resource_ids: Sequence[str] | None = None) -> dict[str, LocalThumbnail]:
    """Resource id -> its made thumbnail, for all resources (or `resource_ids`) that have one."""
    return {resource_id: local_thumbnail_of(made)
            for resource_id, made in made_thumbnails(session, resource_ids).items()}


def with_pictures(resources: Iterable[Resource], thumbnails: dict[str, LocalThumbnail]) -> list[PicturedResource]:
    """The resources carrying their thumbnails, and an indexed hash that changes when the thumbnail does."""
    return list(iter_with_pictures(resources, thumbnails))


def iter_with_pictures(resources: Iterable[Resource],
                       thumbnails: dict[str, LocalThumbnail]) -> Iterator[PicturedResource]:
    """`with_pictures` as a stream, for a full index build."""
    for resource in resources:
        local = thumbnails.get(resource.id)
        fields = {name: getattr(resource, name) for name in Resource.__dataclass_fields__}
        fields["content_hash"] = indexed_hash(resource.content_hash, local)
        yield PicturedResource(**fields, local_thumbnail=local)


def pictured(session: Session, resource: Resource) -> PicturedResource:
    """One resource with its thumbnail looked up (for a resource page or resource_to_json)."""
    return with_pictures([resource], local_thumbnails(session, [resource.id]))[0]


def indexed_hash(content_hash: str, local: LocalThumbnail | None) -> str:
    """What the index manifest records for a resource: its content, the display version and its picture,
    so that a thumbnail made or changed since the last build rewrites that document."""
    return f"{content_hash}.{DISPLAY_VERSION}" + (f".{local.sha256[:12]}" if local is not None else "")


def indexed_hashes(content_hashes: Mapping[str, str], thumbnails: Mapping[str, LocalThumbnail]) -> dict[str, str]:
    """`indexed_hash` of every resource (id -> content hash), made in bulk: most resources have no local
    picture, so theirs is the content hash and one shared suffix. For 100,000 resources: 84-128 ms with a
    call per resource, 50-65 ms in bulk."""
    suffix = indexed_hash("", None)
    hashes = {resource_id: digest + suffix for resource_id, digest in content_hashes.items()}
    for resource_id, local in thumbnails.items():
        if resource_id in hashes:
            hashes[resource_id] = indexed_hash(content_hashes[resource_id], local)
    return hashes


def thumbnail_url(session: Session, resource_id: str, base_url: str) -> str | None:
    """The absolute URL of a resource's local thumbnail (e.g. for a deep-linking content item), or None."""
    local = local_thumbnails(session, [resource_id]).get(resource_id)
    return local.absolute_url(base_url) if local is not None else None


def icon_url(resource_type: str) -> str:
    return f"/static/icons/{resource_type if resource_type in RESOURCE_TYPES else 'link'}.svg"


def picture_of(resource_type: str, local: LocalThumbnail | None) -> dict[str, Any]:
    """The `picture` of the JSON shapes: the local thumbnail when one was made, else the type's icon."""
    if local is not None:
        return {"kind": "thumbnail", "url": local.path, "width": local.width, "height": local.height}
    return {"kind": "icon", "url": icon_url(resource_type), "width": ICON_SIZE, "height": ICON_SIZE}


def resource_picture(resource: Resource) -> dict[str, Any]:
    """`picture_of` for a resource, using its thumbnail when it is a PicturedResource."""
    local = resource.local_thumbnail if isinstance(resource, PicturedResource) else None
    return picture_of(resource.type, local)


def parse_thumbnail_name(name: str) -> tuple[str, str] | None:
    """(resource id, 12 hex digits) from a thumbnail file name, or None when it is not one."""
    found = _NAME.match(name)
    return (found.group("id"), found.group("digest")) if found else None


# --------------------------------------------------------------------------------------------- fetching, scaling


class ThumbnailError(Exception):
    """Why a picture could not be made into a thumbnail; `unreachable` when no connection was made."""

    def __init__(self, reason: str, *, unreachable: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable
        self.status = status


@dataclass(frozen=True, slots=True)
class Scaled:
    """A made thumbnail."""

    data: bytes
    width: int
    height: int
    sha256: str
    source_sha256: str


def make_client(*, allow_loopback: bool = False) -> httpx.Client:
    """The client indexing fetches pictures with: public addresses only, the address checked at connect time
    (catalog URLs are reviewed, but a redirect could still point at a cloud metadata service)."""
    import httpx

    from marketplace.outbound import guarded_sync_transport

    return httpx.Client(transport=guarded_sync_transport(allow_loopback=allow_loopback), timeout=_timeout(),
                        follow_redirects=False, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})


def _timeout() -> httpx.Timeout:
    import httpx

    return httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def fetch_image(client: httpx.Client, url: str, *, max_bytes: int = MAX_SOURCE_BYTES,
                deadline_seconds: float = FETCH_DEADLINE_SECONDS) -> bytes:
    """The body at `url`, over https only, following at most MAX_REDIRECTS redirects (each to https),
    streamed and refused past `max_bytes`; raises ThumbnailError with a reason people can read."""
    import httpx

    deadline = time.monotonic() + deadline_seconds
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if urlsplit(current).scheme != "https":
            raise ThumbnailError(f"{current[:200]} is not an https:// URL")
        try:
            with client.stream("GET", current, follow_redirects=False, timeout=_timeout()) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise ThumbnailError(f"HTTP {response.status_code} without a Location from {_host(current)}")
                    current = str(response.url.join(location))
                    continue
                if response.status_code != 200:
                    raise ThumbnailError(f"HTTP {response.status_code} from {_host(current)}",
                                         status=response.status_code)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ThumbnailError(f"the picture is {int(declared):,} bytes, over the {max_bytes:,}-byte limit")
                body = bytearray()
                # iter_bytes decodes any Content-Encoding, so the limit applies to what we keep in memory.
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise ThumbnailError(f"the picture is over the {max_bytes:,}-byte limit")
                    if time.monotonic() > deadline:
                        raise ThumbnailError(f"{_host(current)} took over {deadline_seconds:.0f} s to send it")
                return bytes(body)
        except httpx.TimeoutException:
            raise ThumbnailError(f"{_host(current)} did not answer in time", unreachable=True) from None
        except (httpx.ConnectError, OSError) as error:
            # OSError: the name did not resolve (no network) before a connection was even tried.
            raise ThumbnailError(f"could not connect to {_host(current)} ({_first_line(error)})",
                                 unreachable=True) from None
        except httpx.HTTPError as error:
            raise ThumbnailError(f"the download from {_host(current)} failed ({_first_line(error)})") from None
    raise ThumbnailError(f"more than {MAX_REDIRECTS} redirects from {_host(url)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def scale(data: bytes) -> Scaled:
    """Decode a raster picture, turn it upright, flatten it onto white, fit it in BOX (never enlarged) and
    encode it as a JPEG; raises ThumbnailError for anything that is not a safe, readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    source_sha256 = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; any such warning means a refused picture.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format not in RASTER_FORMATS:
                    raise ThumbnailError(f"{opened.format or 'this'} pictures are not supported")
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise ThumbnailError(f"the picture claims {width}x{height} pixels, over the "
                                         f"{MAX_PIXELS // 1_000_000}-megapixel limit (a decompression bomb?)")
                if opened.format == "JPEG":
                    # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT: a fraction of the memory and time.
                    opened.draft("RGB", (BOX[0] * 2, BOX[1] * 2))
                image = ImageOps.exif_transpose(opened)
                if image.mode in ("P", "1", "I;16", "I", "F"):
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                image.thumbnail(BOX, Image.Resampling.LANCZOS)
                image = _flatten(image)
                out = io.BytesIO()
                image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    except ThumbnailError:
        raise
    except UnidentifiedImageError:
        raise ThumbnailError("the source is not a picture that can be read (JPEG, PNG, GIF, WebP, BMP or TIFF)") \
            from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ThumbnailError(f"refused as a decompression bomb ({_first_line(error)})") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        raise ThumbnailError(f"the picture is damaged or unsupported ({_first_line(error)})") from None
    encoded = out.getvalue()
    return Scaled(encoded, image.width, image.height, hashlib.sha256(encoded).hexdigest(), source_sha256)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency shown over white (JPEG has no alpha; black would hide dark drawings)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


# ------------------------------------------------------------------------------------------------ the index step


@dataclass(frozen=True, slots=True)
class PictureSource:
    """Where a resource's picture comes from: an https URL, or a raster file shipped in content/."""

    key: str  # the URL, or "content:<path>"; a different key means a different picture
    url: str | None = None
    path: Path | None = None


def _suffix(path: str) -> str:
    name = unquote(path).rsplit("/", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def picture_source(resource_type: str, thumbnail: str, payload: dict[str, Any],
                   content_dir: Path) -> PictureSource | None:
    """The raster picture to make a thumbnail from, or None (a drawing such as a subject SVG, or nothing)."""
    if thumbnail.startswith("https://"):
        if _suffix(urlsplit(thumbnail).path) not in VECTOR_SUFFIXES:
            return PictureSource(thumbnail, url=thumbnail)
    elif _suffix(thumbnail) in RASTER_SUFFIXES:
        local = (content_dir / thumbnail).resolve()
        if local.is_relative_to(content_dir.resolve()):
            return PictureSource(f"content:{thumbnail}", path=local)
    url = payload.get("url")
    if (resource_type == "image" and isinstance(url, str) and url.startswith("https://")
            and _suffix(urlsplit(url).path) not in VECTOR_SUFFIXES):
        return PictureSource(url, url=url)
    return None


def download_candidates(url: str) -> list[str]:
    """The URLs to try for a picture, best first.

    Wikimedia Commons originals run to tens of megabytes; its own scaler serves a 640-pixel-wide copy of
    the same file, which is all a 320x180 box needs. If that copy is refused (the original is narrower),
    the original is tried.
    """
    parts = urlsplit(url)
    found = re.fullmatch(r"/wikipedia/commons/([0-9a-f])/([0-9a-f]{2})/([^/]+)", parts.path)
    if parts.hostname == "upload.wikimedia.org" and found and _suffix(found.group(3)) in {
            ".jpg", ".jpeg", ".png", ".gif"}:
        first, second, name = found.groups()
        return [f"https://upload.wikimedia.org/wikipedia/commons/thumb/{first}/{second}/{name}/640px-{name}", url]
    return [url]


@dataclass(slots=True)
class _Job:
    resource_id: str
    source: PictureSource
    local_bytes: bytes | None = None


@dataclass(slots=True)
class ThumbnailReport:
    """What making thumbnails did, for the one-line summary of `marketplace index`."""

    made: int = 0
    unchanged: int = 0
    removed: int = 0
    waiting: int = 0  # failed earlier, tried again after RETRY_AFTER
    not_tried: int = 0  # left for the next run because the network looked unreachable
    failed: list[tuple[str, str]] = field(default_factory=list)  # (resource id, reason)
    skipped_reason: str | None = None

    def summary(self) -> str:
        if self.skipped_reason is not None:
            return f"Thumbnails: {self.skipped_reason}"
        parts = [f"{self.made} thumbnail{'s' if self.made != 1 else ''} made", f"{self.unchanged} unchanged"]
        if self.waiting:
            parts.append(f"{self.waiting} failed earlier (tried again after {RETRY_AFTER_HOURS} "
                         "hours, or now with --refresh-thumbnails)")
        if self.not_tried:
            parts.append(f"{self.not_tried} not tried (the network looks unreachable)")
        line = ", ".join(parts)
        if self.failed:
            resource_id, reason = self.failed[0]
            line += f", {len(self.failed)} could not be fetched: {resource_id}: {reason}"
        return line


def _make(client: httpx.Client | None, job: _Job) -> Scaled | ThumbnailError:
    """Fetch (or read) and scale one picture; every failure becomes a ThumbnailError, never an exception."""
    try:
        if job.local_bytes is not None:
            return scale(job.local_bytes)
        if client is None or job.source.url is None:
            return ThumbnailError("fetching pictures is turned off")
        error: ThumbnailError | None = None
        for candidate in download_candidates(job.source.url):
            try:
                return scale(fetch_image(client, candidate))
            except ThumbnailError as failed:
                error = failed
                if failed.unreachable or failed.status is None:
                    break  # the same host is down, or the picture itself is bad: another copy will not help
        assert error is not None  # noqa: S101 - the loop ran at least once
        return error
    except Exception as unexpected:  # noqa: BLE001 - one bad picture must never stop indexing
        return ThumbnailError(f"unexpected {type(unexpected).__name__}: {_first_line(unexpected)}")


def _run(jobs: Sequence[_Job], client: httpx.Client | None,
         concurrency: int) -> Iterator[tuple[_Job, Scaled | ThumbnailError | None]]:
    """Make the jobs a few at a time; yields (job, outcome), outcome None for jobs never tried because too
    many sources in a row could not be reached."""
    queue = iter(jobs)
    streak = 0
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="thumbnail") as pool:
        running: dict[Future[Scaled | ThumbnailError], _Job] = {}

        def submit() -> None:
            job = next(queue, None)
            if job is not None:
                running[pool.submit(_make, client, job)] = job

        for _slot in range(max(1, concurrency)):
            submit()
        while running:
            done, _pending = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                outcome = future.result()
                streak = streak + 1 if isinstance(outcome, ThumbnailError) and outcome.unreachable else 0
                yield job, outcome
                if streak < UNREACHABLE_STREAK:
                    submit()
    for job in queue:
        yield job, None


def make_thumbnails(session: Session, content_dir: Path, client: httpx.Client | None, *, refresh: bool = False,
                    now: datetime | None = None, concurrency: int = CONCURRENCY,
                    retry_after: timedelta = RETRY_AFTER) -> ThumbnailReport:
    """Bring the stored thumbnails up to date with the resources in the database (the caller commits).

    A source whose URL (or local file) is unchanged and was made is not fetched again; one that failed is
    tried again after `retry_after`; `refresh` fetches every source again. Thumbnails of resources that
    no longer name a raster picture are dropped. `client` None: only pictures shipped in content/ are made.
    """
    now = now or utc_now()
    report = ThumbnailReport()
    states = thumbnail_states(session)
    wanted: set[str] = set()
    jobs: list[_Job] = []
    for resource_id, resource_type, thumbnail, payload in picture_inputs(session):
        source = picture_source(resource_type, thumbnail, payload or {}, content_dir)
        if source is None:
            continue
        wanted.add(resource_id)
        job = _Job(resource_id, source)
        local_sha: str | None = None
        if source.path is not None:
            try:
                job.local_bytes = _read_local(source.path)
            except ThumbnailError as error:
                record_failure(session, resource_id, source_url=source.key, reason=error.reason, now=now)
                report.failed.append((resource_id, error.reason))
                continue
            local_sha = hashlib.sha256(job.local_bytes).hexdigest()
        elif client is None:
            continue  # fetching is off: keep whatever was made before, try nothing
        state = states.get(resource_id)
        if not refresh and state is not None and state.source_url == source.key:
            if state.sha256 is not None and (local_sha is None or local_sha == state.source_sha256):
                report.unchanged += 1
                continue
            if state.sha256 is None and now - state.last_tried_at < retry_after:
                report.waiting += 1
                continue
        jobs.append(job)
    report.removed = delete_thumbnails(session, [resource_id for resource_id in states if resource_id not in wanted])
    # Pictures shipped in content/ first: they need no network, so the unreachable-streak rule never skips them.
    jobs.sort(key=lambda job: job.local_bytes is None)
    for job, outcome in _run(jobs, client, concurrency):
        if outcome is None:
            report.not_tried += 1
        elif isinstance(outcome, ThumbnailError):
            record_failure(session, job.resource_id, source_url=job.source.key, reason=outcome.reason, now=now)
            report.failed.append((job.resource_id, outcome.reason))
        else:
            save_thumbnail(session, job.resource_id, source_url=job.source.key, source_sha256=outcome.source_sha256,
                           sha256=outcome.sha256, media_type=MEDIA_TYPE, width=outcome.width,
                           height=outcome.height, data=outcome.data, now=now)
            report.made += 1
    session.flush()
    return report


def _read_local(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        raise ThumbnailError(f"cannot read {path.name} ({error.strerror})") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise ThumbnailError(f"{path.name} is over the {MAX_SOURCE_BYTES:,}-byte limit")
    return data





def stored_thumbnail(sessions: sessionmaker[Session], resource_id: str) -> ThumbnailImage | None:
    """A resource's stored thumbnail, in a read-only session of its own (for the thumbnail route)."""
    with sessions() as session:
        return thumbnail_image(session, resource_id)
