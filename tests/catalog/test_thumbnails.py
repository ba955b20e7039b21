"""Thumbnails made when indexing: fetched over real HTTPS from a loopback server, scaled, stored in the
database (SQLite and PostgreSQL), served from /thumbnails/ and shown as each result's picture."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.catalog import thumbnails as thumbnails_module
from marketplace.catalog.records import get_resource
from marketplace.catalog.search import CatalogIndex
from marketplace.catalog.search_types import SearchRequest
from marketplace.catalog.sync import load_content, sync_index
from marketplace.catalog.thumbnails import (
    BOX,
    MAX_PIXELS,
    UNREACHABLE_STREAK,
    ThumbnailError,
    download_candidates,
    fetch_image,
    make_thumbnails,
    scale,
    thumbnail_url,
)
from marketplace.clock import utc_now
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory, upgrade_database
from marketplace.store.thumbnails import thumbnail_states
from marketplace.web.serialize import hit_to_json, resource_to_json
from tests.catalog.image_server import ImageServer, Reply, image_server

IMAGE_TEMPLATE = """\
id = "{id}"
title = "{title}"
description = "A picture used to check that thumbnails are made, stored and served locally."
subject = "arts"
grade_levels = ["6-8"]
type = "image"
language = "en"
keywords = ["{word}"]
thumbnail = "{thumbnail}"

[author]
name = "Pat Painter"

[license]
id = "CC0-1.0"
attribution = "{title} by Pat Painter, images.example, CC0 1.0"

[payload]
url = "{url}"
width = 1200
height = 600
alt = "A test picture"
"""


def write_picture(content_dir: Path, resource_id: str, *, url: str, thumbnail: str = "thumbnails/arts.svg",
                  word: str = "painting") -> Path:
    folder = content_dir / "resources" / "arts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{resource_id}.toml"
    path.write_text(IMAGE_TEMPLATE.format(id=resource_id, title=f"Picture {resource_id}", word=word,
                                          thumbnail=thumbnail, url=url), encoding="utf-8")
    # A rewrite within the same mtime tick must still count as a change.
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return path


def jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 40, 40), *,
         orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (width, height), color)
    out = io.BytesIO()
    if orientation is None:
        image.save(out, "JPEG", quality=90)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png(width: int, height: int, mode: str = "RGBA") -> bytes:
    image = Image.new(mode, (width, height), (0, 0, 0, 0) if mode == "RGBA" else 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with image_server() as running:
        yield running


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def database(database_url: str) -> Iterator[tuple[str, Engine]]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        yield database_url, engine
    finally:
        engine.dispose()


def index_run(session: Session, content_dir: Path, client: httpx.Client | None, index_dir: Path,
              **options: object) -> thumbnails_module.ThumbnailReport:
    """What `marketplace index` does: content, thumbnails, then the index."""
    load_content(session, content_dir)
    session.commit()
    report = make_thumbnails(session, content_dir, client, **options)  # type: ignore[arg-type]
    session.commit()
    sync_index(session, index_dir, workers=1)
    return report


def search_hit(index_dir: Path, text: str) -> dict[str, object]:
    catalog = CatalogIndex(index_dir)
    catalog.open()
    try:
        result = catalog.search(SearchRequest(text=text))
        assert result.total == 1, text
        return hit_to_json(result.hits[0])
    finally:
        catalog.close()


# ----------------------------------------------------------------------------------------------------- scaling


def test_scale_fits_the_box_keeping_the_aspect_ratio() -> None:
    wide = scale(jpeg(1200, 600))
    assert (wide.width, wide.height) == (320, 160)
    tall = scale(jpeg(400, 1000))
    assert (tall.width, tall.height) == (72, 180)
    small = scale(jpeg(100, 50))  # never enlarged
    assert (small.width, small.height) == (100, 50)
    with Image.open(io.BytesIO(wide.data)) as decoded:
        assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (320, 160)


def test_scale_turns_the_picture_upright_and_flattens_transparency_on_white() -> None:
    # EXIF orientation 6: stored 400x200, shown rotated a quarter turn, so 200 wide and 400 high.
    upright = scale(jpeg(400, 200, orientation=6))
    assert (upright.width, upright.height) == (90, 180)
    clear = scale(png(200, 100))
    with Image.open(io.BytesIO(clear.data)) as decoded:
        red, green, blue = decoded.convert("RGB").getpixel((50, 50))  # type: ignore[misc]
        assert min(red, green, blue) > 240  # white, not black
    palette = scale(png(64, 64, mode="P"))
    assert (palette.width, palette.height) == (64, 64)


def test_scale_refuses_bombs_and_non_images() -> None:
    side = int(MAX_PIXELS ** 0.5) + 100
    bomb = png(side, side, mode="1")  # a few kilobytes claiming over 40 megapixels
    assert len(bomb) < 200_000
    with pytest.raises(ThumbnailError, match="megapixel limit"):
        scale(bomb)
    with pytest.raises(ThumbnailError, match="not a picture that can be read"):
        scale(b"<!doctype html><title>Not a picture</title>")
    with pytest.raises(ThumbnailError, match="damaged"):
        scale(jpeg(300, 200)[:400])


def test_wikimedia_originals_are_fetched_as_its_640_pixel_copy_first() -> None:
    original = "https://upload.wikimedia.org/wikipedia/commons/0/0f/1665_Girl_with_a_Pearl_Earring.jpg"
    assert download_candidates(original) == [
        "https://upload.wikimedia.org/wikipedia/commons/thumb/0/0f/1665_Girl_with_a_Pearl_Earring.jpg/"
        "640px-1665_Girl_with_a_Pearl_Earring.jpg", original]
    assert download_candidates("https://example.org/a.jpg") == ["https://example.org/a.jpg"]


# ---------------------------------------------------------------------------------------------------- fetching


def test_fetch_streams_under_a_byte_cap_and_follows_only_https_redirects(server: ImageServer) -> None:
    server.routes["/big.jpg"] = Reply(body=b"x" * 50_000, send_length=False)
    server.routes["/declared.jpg"] = Reply(body=b"x" * 50_000)
    server.routes["/hop.jpg"] = Reply(302, headers={"Location": "/picture.jpg"})
    server.routes["/picture.jpg"] = Reply(body=jpeg(10, 10))
    server.routes["/to-http.jpg"] = Reply(302, headers={"Location": "http://127.0.0.1:9/picture.jpg"})
    server.routes["/loop.jpg"] = Reply(302, headers={"Location": "/loop.jpg"})
    with server.client() as client:
        with pytest.raises(ThumbnailError, match="over the 10,000-byte limit"):
            fetch_image(client, server.url("/big.jpg"), max_bytes=10_000)
        with pytest.raises(ThumbnailError, match="50,000 bytes, over the 10,000-byte limit"):
            fetch_image(client, server.url("/declared.jpg"), max_bytes=10_000)
        assert fetch_image(client, server.url("/hop.jpg")) == jpeg(10, 10)
        with pytest.raises(ThumbnailError, match="is not an https:// URL"):
            fetch_image(client, server.url("/to-http.jpg"))
        with pytest.raises(ThumbnailError, match="more than 3 redirects"):
            fetch_image(client, server.url("/loop.jpg"))
        with pytest.raises(ThumbnailError, match="not an https:// URL"):
            fetch_image(client, server.url("/picture.jpg").replace("https://", "http://"))
    assert server.hits["/loop.jpg"] == 4


# ------------------------------------------------------------------------------------- made, stored, served, shown


def test_a_picture_is_made_stored_served_and_shown_instead_of_the_remote_one(
        database: tuple[str, Engine], settings: Settings, content_dir: Path, server: ImageServer) -> None:
    database_url, engine = database
    server.routes["/wide.jpg"] = Reply(body=jpeg(1200, 600))
    server.routes["/tall.png"] = Reply(content_type="image/png", body=png(300, 600))
    write_picture(content_dir, "wide-picture", url=server.url("/wide.jpg"), thumbnail=server.url("/wide.jpg"),
                  word="sunflowers")
    # No https thumbnail: an image resource's own URL is the source.
    write_picture(content_dir, "tall-picture", url=server.url("/tall.png"), word="lighthouse")
    configured = dataclasses.replace(settings, database_url=database_url)
    with make_session_factory(engine)() as session, server.client() as client:
        report = index_run(session, content_dir, client, configured.index_dir)
        assert (report.made, report.failed) == (2, [])
        assert report.summary() == "2 thumbnails made, 0 unchanged"
        absolute = thumbnail_url(session, "wide-picture", "https://tool.example")
        resource = get_resource(session, "wide-picture")
        assert resource is not None
        assert resource_to_json(resource)["picture"]["kind"] == "icon"  # a plain Resource carries none
        pictured = resource_to_json(thumbnails_module.pictured(session, resource))
    hit = search_hit(configured.index_dir, "sunflowers")
    picture = hit["picture"]
    assert isinstance(picture, dict)
    assert picture["kind"] == "thumbnail" and (picture["width"], picture["height"]) == (320, 160)
    assert str(picture["url"]).startswith("/thumbnails/wide-picture-") and str(picture["url"]).endswith(".jpg")
    assert hit["thumbnail_url"] == picture["url"] and hit["source"] == "127.0.0.1"
    assert server.base_url not in json.dumps(hit)  # never the remote picture
    assert absolute == f"https://tool.example{picture['url']}"
    assert pictured["picture"] == picture and pictured["thumbnail_url"] == picture["url"]
    tall = search_hit(configured.index_dir, "lighthouse")["picture"]
    assert isinstance(tall, dict) and (tall["width"], tall["height"]) == (90, 180)
    link = search_hit(configured.index_dir, "pizza")
    assert link["picture"] == {"kind": "icon", "url": "/static/icons/link.svg", "width": 48, "height": 48}
    assert link["thumbnail_url"] == "/static/icons/link.svg" and link["source"] == "example.org"

    with TestClient(create_app(configured), raise_server_exceptions=False) as web:
        body = web.get("/api/catalog/search", params={"q": "sunflowers"}).json()
        (result,) = body["results"]
        assert result["picture"] == picture and server.base_url not in json.dumps(body)
        page = web.get("/", params={"q": "sunflowers"})
        assert server.base_url not in page.text
        served = web.get(str(picture["url"]))
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        etag = served.headers["etag"]
        assert etag.startswith('"') and len(etag) > 10
        with Image.open(io.BytesIO(served.content)) as decoded:
            assert decoded.size == (320, 160) and decoded.size[0] <= BOX[0] and decoded.size[1] <= BOX[1]
        assert web.get(str(picture["url"]), headers={"If-None-Match": etag}).status_code == 304
        for wrong in ("/thumbnails/wide-picture-000000000000.jpg", "/thumbnails/plant-cells-0123456789ab.jpg",
                      "/thumbnails/wide-picture.jpg", "/thumbnails/..%2Fsecret", "/thumbnails/"):
            refused = web.get(wrong, headers={"Accept": "application/json"})
            assert refused.status_code == 404, wrong
            assert refused.json()["error"]["message"].startswith("There is no")
        assert web.get("/static/icons/link.svg").status_code == 200


def test_failures_end_as_the_icon_with_a_reason_and_never_stop_indexing(
        database: tuple[str, Engine], content_dir: Path, server: ImageServer, closed_port: int,
        tmp_path: Path) -> None:
    _url, engine = database
    side = int(MAX_PIXELS ** 0.5) + 100
    server.routes["/page.jpg"] = Reply(content_type="text/html", body=b"<!doctype html><p>Sign in to see this")
    server.routes["/huge.jpg"] = Reply(body=b"\xff" * (thumbnails_module.MAX_SOURCE_BYTES + 1))
    server.routes["/bomb.png"] = Reply(content_type="image/png", body=png(side, side, mode="1"))
    sources = {
        "gone-picture": (server.url("/missing.jpg"), "HTTP 404 from 127.0.0.1"),
        "page-picture": (server.url("/page.jpg"), "not a picture that can be read"),
        "huge-picture": (server.url("/huge.jpg"), "over the 20,971,520-byte limit"),
        "bomb-picture": (server.url("/bomb.png"), "megapixel limit"),
        "down-picture": (f"https://127.0.0.1:{closed_port}/x.jpg", "could not connect to 127.0.0.1"),
    }
    for resource_id, (url, _reason) in sources.items():
        write_picture(content_dir, resource_id, url=url, word=resource_id.split("-")[0])
    with make_session_factory(engine)() as session, server.client() as client:
        report = index_run(session, content_dir, client, tmp_path / "index")
        states = thumbnail_states(session)
    assert report.made == 0 and len(report.failed) == 5
    reasons = dict(report.failed)
    for resource_id, (_url, reason) in sources.items():
        assert reason in reasons[resource_id], (resource_id, reasons[resource_id])
        assert states[resource_id].sha256 is None and reason in (states[resource_id].last_error or "")
        hit = search_hit(tmp_path / "index", resource_id.split("-")[0])
        assert hit["picture"] == {"kind": "icon", "url": "/static/icons/image.svg", "width": 48, "height": 48}
    assert "5 could not be fetched: " in report.summary()


def test_unchanged_sources_are_not_fetched_again_and_a_changed_picture_changes_the_url(
        database: tuple[str, Engine], content_dir: Path, server: ImageServer, tmp_path: Path) -> None:
    _url, engine = database
    index_dir = tmp_path / "index"
    server.routes["/photo.jpg"] = Reply(body=jpeg(640, 360, (10, 120, 200)))
    write_picture(content_dir, "photo", url=server.url("/photo.jpg"), word="harbour")
    write_picture(content_dir, "flaky", url=server.url("/flaky.jpg"), word="meadow")
    with make_session_factory(engine)() as session, server.client() as client:
        first = index_run(session, content_dir, client, index_dir)
        assert (first.made, len(first.failed)) == (1, 1)
        before = search_hit(index_dir, "harbour")["picture"]

        again = index_run(session, content_dir, client, index_dir)
        assert (again.made, again.unchanged, again.waiting, again.failed) == (0, 1, 1, [])
        assert "1 failed earlier (tried again after 6 hours" in again.summary()
        assert server.hits["/photo.jpg"] == 1 and server.hits["/flaky.jpg"] == 1

        # The failed one is tried again once its wait is over, and now it works.
        server.routes["/flaky.jpg"] = Reply(body=jpeg(300, 300))
        later = index_run(session, content_dir, client, index_dir, now=utc_now() + timedelta(hours=7))
        assert (later.made, later.unchanged) == (1, 1) and server.hits["/flaky.jpg"] == 2
        meadow = search_hit(index_dir, "meadow")["picture"]
        assert isinstance(meadow, dict) and meadow["kind"] == "thumbnail"

        # Same URL, new picture: only --refresh-thumbnails notices, and the URL changes with it.
        server.routes["/photo.jpg"] = Reply(body=jpeg(640, 360, (250, 200, 10)))
        refreshed = index_run(session, content_dir, client, index_dir, refresh=True)
        assert refreshed.made == 2 and server.hits["/photo.jpg"] == 2
        after = search_hit(index_dir, "harbour")["picture"]
        assert isinstance(before, dict) and isinstance(after, dict)
        assert after["kind"] == "thumbnail" and after["url"] != before["url"]

        # A new source URL is fetched without asking.
        server.routes["/photo-2.png"] = Reply(content_type="image/png", body=png(100, 100))
        write_picture(content_dir, "photo", url=server.url("/photo-2.png"), word="harbour")
        moved = index_run(session, content_dir, client, index_dir)
        assert moved.made == 1 and server.hits["/photo-2.png"] == 1
        newest = search_hit(index_dir, "harbour")["picture"]
        assert isinstance(newest, dict) and newest["url"] != after["url"] and newest["width"] == 100

        # Back to a drawing: the stored thumbnail goes, the icon comes back.
        write_picture(content_dir, "photo", url=server.url("/photo-2.svg"), word="harbour")
        dropped = index_run(session, content_dir, client, index_dir)
        assert dropped.removed == 1
        assert search_hit(index_dir, "harbour")["picture"]["kind"] == "icon"  # type: ignore[index]


def test_without_network_indexing_fails_fast_and_leaves_the_rest_for_later(
        database: tuple[str, Engine], content_dir: Path, closed_port: int, tmp_path: Path) -> None:
    _url, engine = database
    for number in range(40):
        write_picture(content_dir, f"offline-{number}", url=f"https://127.0.0.1:{closed_port}/{number}.jpg")
    started = time.monotonic()
    with make_session_factory(engine)() as session, httpx.Client(trust_env=False) as client:
        report = index_run(session, content_dir, client, tmp_path / "index")
    assert time.monotonic() - started < 20
    assert report.made == 0 and len(report.failed) >= UNREACHABLE_STREAK
    assert len(report.failed) + report.not_tried == 40 and report.not_tried > 0
    assert "not tried (the network looks unreachable)" in report.summary()


def test_fetching_off_makes_nothing_and_keeps_what_was_made(
        database: tuple[str, Engine], content_dir: Path, server: ImageServer, tmp_path: Path) -> None:
    _url, engine = database
    server.routes["/keep.jpg"] = Reply(body=jpeg(400, 300))
    write_picture(content_dir, "kept", url=server.url("/keep.jpg"), word="orchard")
    with make_session_factory(engine)() as session:
        with server.client() as client:
            assert index_run(session, content_dir, client, tmp_path / "index").made == 1
        offline = index_run(session, content_dir, None, tmp_path / "index")
    assert (offline.made, offline.removed, offline.failed) == (0, 0, [])
    assert search_hit(tmp_path / "index", "orchard")["picture"]["kind"] == "thumbnail"  # type: ignore[index]


def test_the_database_leaves_out_only_resources_without_a_raster_picture(
    database: tuple[str, Engine], content_dir: Path
) -> None:
    """picture_inputs filters in SQL, on SQLite and PostgreSQL; every resource `picture_source` would give a
    picture must still come through, whatever the case, quoting or scheme of its thumbnail."""
    from marketplace.catalog.records import upsert_resources
    from marketplace.catalog.thumbnails import picture_source
    from marketplace.store.thumbnails import picture_inputs

    _, engine = database
    thumbnails = ["", "thumbnails/arts.svg", "THUMBNAILS/ARTS.SVG", "drawing.svgz", "drawing.sv%67",
                  "https://example.org/a.svg", "https://example.org/a.JPG", "HTTPS://example.org/a.svg",
                  "https://example.org/a.png?as=.svg", "https://example.org/a.png#.svg",
                  "files/photo.png", "files/PHOTO.JPEG", "files/photo%2Epng", "files/photo", "http://example.org/a.png"]
    urls = ["https://example.org/b.png", "https://example.org/b.svg", "http://example.org/b.png", ""]
    with make_session_factory(engine)() as session:
        load_content(session, content_dir)
        template = get_resource(session, "plant-cells")
        assert template is not None
        made = []
        for number, thumbnail in enumerate(thumbnails):
            for kind, url in [("link", "https://example.org/page"), *(("image", url) for url in urls)]:
                made.append(dataclasses.replace(template, id=f"picture-{number}-{len(made)}", type=kind,
                                                thumbnail=thumbnail, payload={"url": url},
                                                source_path=f"resources/x/{len(made)}.toml"))
        upsert_resources(session, made)
        session.flush()
        every = {resource.id: resource for resource in made}
        wanted = {resource.id for resource in made
                  if picture_source(resource.type, resource.thumbnail, resource.payload, content_dir) is not None}
        given = {resource_id for resource_id, *_ in picture_inputs(session)}
        assert wanted <= given
        assert wanted  # the cases include resources with a picture ...
        assert {resource_id for resource_id in every if resource_id not in given}  # ... and ones left out
        for resource_id, kind, thumbnail, payload in picture_inputs(session):
            if resource_id in every:
                assert (kind, thumbnail) == (every[resource_id].type, every[resource_id].thumbnail)
                assert payload == ({"url": every[resource_id].payload["url"]} if kind == "image" else None)
