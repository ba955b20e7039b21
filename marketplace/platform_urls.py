"""The one check every URL a platform hands us passes before it is stored or used (issuer, login, token and
key set URLs, frame origins).

A platform's URLs end up in security headers (frame-ancestors, form-action), in redirects from our own
address and in outbound requests. `urlsplit` accepts almost anything, so a `user@` part with non-Latin
characters, a `*` host or `;` in the authority once went straight into every page's Content-Security-Policy.
Here a URL is parsed strictly and stored normalised: scheme and host lower-cased, international host names
IDNA-encoded, default ports dropped; nothing that could break or extend a header survives.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

MAX_URL = 2_000
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f\"'<>\\^`{|}]")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class PlatformUrlError(ValueError):
    """The URL cannot be used; the message is a sentence for the administrator."""


def normalise_url(url: str, *, what: str = "URL", allow_http: bool = False, origin_only: bool = False) -> str:
    """The URL in normal form, or PlatformUrlError saying why it is refused.

    https only unless `allow_http` (development and tests); no credentials, wildcards, whitespace, control
    or non-ASCII characters outside the host name; a real host (DNS name or IP literal) and an optional port.
    With `origin_only`, a path other than "/" or any query or fragment is refused too.
    """
    if not isinstance(url, str) or not url:
        raise PlatformUrlError(f"The {what} is empty.")
    if len(url) > MAX_URL:
        raise PlatformUrlError(f"The {what} is longer than {MAX_URL} characters.")
    if _FORBIDDEN.search(url):
        raise PlatformUrlError(f"The {what} contains spaces, quotes or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise PlatformUrlError(f"The {what} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_http else ("https",)
    if scheme not in allowed:
        raise PlatformUrlError(f"The {what} must start with {' or '.join(s + '://' for s in allowed)}.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise PlatformUrlError(f"The {what} must not carry a user name or password.")
    host = _checked_host(parts.hostname or "", what, parts.netloc)
    if origin_only and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise PlatformUrlError(f"The {what} must be a scheme and host such as https://school.example.edu.")
    rest = parts.path + ("?" + parts.query if parts.query else "") + ("#" + parts.fragment if parts.fragment else "")
    if not rest.isascii():
        raise PlatformUrlError(f"The {what} contains characters that are not allowed in a URL.")
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if origin_only:
        return f"{scheme}://{netloc}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL that passed normalise_url."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def safe_origin(url: str) -> str | None:
    """The normalised scheme://host[:port] of `url` (safe inside a header), or None when the URL is refused.

    For URLs that come from stored rows or signed launches rather than from the registration door: http is
    accepted here because the door already decided whether it is allowed.
    """
    try:
        return origin_of(normalise_url(url, allow_http=True))
    except PlatformUrlError:
        return None


def _checked_host(host: str, what: str, netloc: str) -> str:
    if not host:
        raise PlatformUrlError(f"The {what} has no host name.")
    if netloc.startswith("[") or ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            raise PlatformUrlError(f"The {what} has an invalid IPv6 address.") from None
        return f"[{address.compressed}]"
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise PlatformUrlError(f"The {what} has a host name that is not a valid domain name.") from None
    host = host.lower().rstrip(".")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise PlatformUrlError(f"The {what} has a host name that is not a valid domain name (wildcards and "
                               "symbols are not allowed).")
    return host
