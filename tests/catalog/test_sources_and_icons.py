"""Source names for the catalog's main hosts, and one accessible icon per resource type."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from marketplace.catalog.loader import load_catalog
from marketplace.catalog.resource import Resource
from marketplace.catalog.sources import OWN_NAME, host_name, source_name
from marketplace.catalog.vocabulary import RESOURCE_TYPES

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
SVG = "{http://www.w3.org/2000/svg}"

BASE = Resource(id="x", title="A resource", description="A resource used to name its source.", subject="physics",
                grade_levels=("6-8",), type="link", language="en", keywords=("x",), thumbnail="thumbnails/physics.svg",
                author_name="Someone", author_url=None, license_id="CC-BY-4.0", license_attribution="Someone",
                license_url="https://creativecommons.org/licenses/by/4.0/", payload={})


@pytest.mark.parametrize(("host", "name"), [
    ("phet.colorado.edu", "PhET"), ("openstax.org", "OpenStax"), ("upload.wikimedia.org", "Wikimedia Commons"),
    ("commons.wikimedia.org", "Wikimedia Commons"), ("www.khanacademy.org", "Khan Academy"),
    ("ocw.mit.edu", "MIT OpenCourseWare"), ("climatekids.nasa.gov", "NASA"), ("spaceplace.nasa.gov", "NASA"),
    ("www.jpl.nasa.gov", "NASA/JPL"), ("www.openstreetmap.org", "OpenStreetMap"), ("www.youtube.com", "YouTube"),
    ("www.youtube-nocookie.com", "YouTube"), ("en.wikipedia.org", "Wikipedia"), ("www.gutenberg.org",
                                                                                   "Project Gutenberg"),
    ("earthquake.usgs.gov", "USGS"), ("WWW.Example.ORG.", "example.org"), ("ncase.me", "ncase.me"),
])
def test_known_hosts_have_names_and_others_show_bare(host: str, name: str) -> None:
    assert host_name(host) == name


def test_the_primary_url_depends_on_the_type() -> None:
    link = dataclasses.replace(BASE, payload={"url": "https://phet.colorado.edu/en/simulations/x"})
    assert source_name(link) == "PhET"
    image = dataclasses.replace(BASE, type="image", payload={"url": "https://upload.wikimedia.org/a.jpg"},
                                author_url="https://example.org")
    assert source_name(image) == "Wikimedia Commons"
    reading = dataclasses.replace(BASE, type="reading", payload={"source_url": "https://openstax.org/books/x"})
    assert source_name(reading) == "OpenStax"
    own_reading = dataclasses.replace(BASE, type="reading", payload={}, author_url="https://example.org")
    assert source_name(own_reading) == OWN_NAME  # written for the tool, read in the tool
    quiz = dataclasses.replace(BASE, type="quiz", payload={})
    assert source_name(quiz) == OWN_NAME
    file = dataclasses.replace(BASE, type="file", payload={"path": "x.pdf"}, author_url="https://www.ck12.org/x")
    assert source_name(file) == "CK-12"
    video = dataclasses.replace(BASE, type="html", payload={
        "html": '<p>Watch:</p><iframe src="https://www.youtube-nocookie.com/embed/abc"></iframe>'})
    assert source_name(video) == "YouTube"
    assert source_name(dataclasses.replace(BASE, type="html", payload={"html": "<p>Text</p>"})) == OWN_NAME


def test_the_bundled_catalog_names_its_frequent_sources() -> None:
    resources = load_catalog(PROJECT_DIR / "content").resources
    names = {source_name(resource) for resource in resources}
    assert {"PhET", "OpenStax", "Wikimedia Commons", "Khan Academy", "MIT OpenCourseWare", "NASA",
            "OpenStreetMap", OWN_NAME} <= names


@pytest.mark.parametrize("resource_type", sorted(RESOURCE_TYPES))
def test_every_type_has_an_accessible_icon(resource_type: str) -> None:
    path = PROJECT_DIR / "static" / "icons" / f"{resource_type}.svg"
    root = ElementTree.parse(path).getroot()  # noqa: S314 - our own file
    assert root.tag == f"{SVG}svg" and root.get("viewBox") == "0 0 24 24"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == RESOURCE_TYPES[resource_type]
    assert path.stat().st_size < 2000
