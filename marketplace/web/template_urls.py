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
    """The `url_for` template global: Starlette's, but with route paths cached by name and parameters."""

    def __init__(self) -> None:
        self._paths: dict[tuple[int, str, tuple[tuple[str, Any], ...]], URLPath] = {}

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

    def template_global(self) -> Any:
        @pass_context
        def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
            request: Request = context["request"]
            return self.path(request, name, path_params).make_absolute_url(base_url=request.base_url)

        return url_for
