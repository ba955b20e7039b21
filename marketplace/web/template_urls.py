"""`url_for` for templates, with each route's path worked out once per process.

Starlette's own `url_for` global walks every route (and Mount) on each call to build a path; a picker page
calls it for every card (select and preview buttons), which made it about a twelfth of the tool's CPU under
load. A route's path depends only on its name and parameters, so it is cached here; the absolute URL is still
made per request, from that request's own base URL (host, scheme and root path can differ between requests).
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from starlette.datastructures import URL, URLPath
from starlette.requests import Request

MAX_CACHED_PATHS = 20_000  # far above the routes x parameters a page uses; cleared whole if ever reached


class CachedUrlFor:
    """The `url_for` template global: Starlette's, but with route paths cached by name and parameters, and the
    absolute URLs made from them cached by the request's base URL too."""

    def __init__(self) -> None:
        self._paths: dict[tuple[int, str, tuple[tuple[str, Any], ...]], URLPath] = {}
        self._absolute: dict[tuple[str, str, str, str], str] = {}

    def path(self, request: Request, name: str, path_params: dict[str, Any]) -> URLPath:
        provider = request.scope.get("router") or request.scope.get("app")
        if provider is None:
            raise RuntimeError("url_for is only available inside a Starlette application.")
        try:
            key = (id(provider), name, tuple(sorted(path_params.items())))
            cached = self._paths.get(key)
        except TypeError:  # an unhashable parameter: not cached
            return provider.url_path_for(name, **path_params)  # type: ignore[no-any-return]
        if cached is None:
            cached = provider.url_path_for(name, **path_params)
            if len(self._paths) >= MAX_CACHED_PATHS:
                self._paths.clear()
            self._paths[key] = cached
        return cached

    def absolute(self, request: Request, path: URLPath) -> str:
        """`path` as an absolute URL on the request's own base URL (scheme, host and root path). Making a URL
        object per link was still about 3% of a round trip's profile (picker pages); a host has few base URLs."""
        base = str(request.base_url)
        key = (base, str(path), path.protocol, path.host)  # a URLPath equals its string alone
        made = self._absolute.get(key)
        if made is None:
            made = str(path.make_absolute_url(base_url=URL(base)))
            if len(self._absolute) >= MAX_CACHED_PATHS:
                self._absolute.clear()
            self._absolute[key] = made
        return made

    def template_global(self) -> Any:
        @pass_context
        def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
            request: Request = context["request"]
            return self.absolute(request, self.path(request, name, path_params))

        return url_for
