"""The name of the site a resource comes from ("PhET", "Wikimedia Commons"), shown with its type icon.

Teachers recognise a source by its name long before they read a URL, and a name tells two look-alike
results apart ("OpenStax" or "Khan Academy"). The name comes from the host of the resource's primary URL,
through a table of the hosts the bundled catalog uses most; any other host is shown bare, without `www.`.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from marketplace.catalog.resource import Resource

OWN_NAME: Final = "LTI Marketplace"
"""Resources with no external home: files shipped in content/files, readings and quizzes shown by the tool."""

# Host (or a parent domain of it) -> name. The most specific entry wins: jpl.nasa.gov before nasa.gov.
KNOWN_HOSTS: Final[dict[str, str]] = {
    "phet.colorado.edu": "PhET",
    "openstax.org": "OpenStax",
    "commons.wikimedia.org": "Wikimedia Commons",
    "upload.wikimedia.org": "Wikimedia Commons",
    "wikipedia.org": "Wikipedia",
    "wikibooks.org": "Wikibooks",
    "khanacademy.org": "Khan Academy",
    "ocw.mit.edu": "MIT OpenCourseWare",
    "nasa.gov": "NASA",
    "jpl.nasa.gov": "NASA/JPL",
    "openstreetmap.org": "OpenStreetMap",
    "youtube.com": "YouTube",
    "youtube-nocookie.com": "YouTube",
    "youtu.be": "YouTube",
    "vimeo.com": "Vimeo",
    "gutenberg.org": "Project Gutenberg",
    "librivox.org": "LibriVox",
    "archive.org": "Internet Archive",
    "csfieldguide.org.nz": "CS Field Guide",
    "csunplugged.org": "CS Unplugged",
    "ourworldindata.org": "Our World in Data",
    "gapminder.org": "Gapminder",
    "archives.gov": "U.S. National Archives",
    "loc.gov": "Library of Congress",
    "si.edu": "Smithsonian",
    "metmuseum.org": "The Met",
    "artic.edu": "Art Institute of Chicago",
    "smarthistory.org": "Smarthistory",
    "imslp.org": "IMSLP",
    "musopen.org": "Musopen",
    "usgs.gov": "USGS",
    "noaa.gov": "NOAA",
    "scijinks.gov": "NOAA SciJinks",
    "genome.gov": "NHGRI",
    "cia.gov": "CIA World Factbook",
    "naturalearthdata.com": "Natural Earth",
    "im.kendallhunt.com": "Illustrative Mathematics",
    "cs50.harvard.edu": "Harvard CS50",
    "opentextbc.ca": "BCcampus OpenEd",
    "open.umn.edu": "Open Textbook Library",
    "open.lib.umn.edu": "University of Minnesota Libraries",
    "creativecommons.org": "Creative Commons",
    "ck12.org": "CK-12",
    "geogebra.org": "GeoGebra",
    "desmos.com": "Desmos",
}

_IFRAME_SRC = re.compile(r"<iframe\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def primary_url(resource: Resource) -> str | None:
    """The URL that says where a resource comes from, or None when it lives in the tool itself.

    The page, simulation or picture for those types; the original text of a reading; the video of an
    embed that frames one; else the author's site.
    """
    payload = resource.payload
    if resource.type in ("link", "simulation", "image"):
        url = payload.get("url")
    elif resource.type == "reading":
        # A reading without a source was written for the tool: the author's site is not where it comes from.
        url = payload.get("source_url")
    elif resource.type == "html":
        found = _IFRAME_SRC.search(str(payload.get("html", "")))
        url = found.group(1) if found else resource.author_url
    else:
        url = resource.author_url
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def host_name(host: str) -> str:
    """The name for a host: from the table (the host or its nearest listed parent domain), else the bare host."""
    host = host.lower().rstrip(".")
    bare = host.removeprefix("www.")
    labels = bare.split(".")
    for start in range(len(labels) - 1):
        name = KNOWN_HOSTS.get(".".join(labels[start:]))
        if name is not None:
            return name
    return bare


def source_name(resource: Resource) -> str:
    """The human name of the site a resource comes from; the marketplace's own name when it has none."""
    url = primary_url(resource)
    host = urlsplit(url).hostname if url else None
    return host_name(host) if host else OWN_NAME
