"""url_for in templates: route paths cached per process, absolute URLs still made from each request."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from marketplace.web.template_urls import CachedUrlFor


def test_paths_are_cached_but_each_request_gets_its_own_host_and_parameters() -> None:
    url_for = CachedUrlFor()
    calls: list[str] = []

    def page(request: Request) -> PlainTextResponse:
        made = [str(url_for.path(request, "item", {"slug": slug}).make_absolute_url(request.base_url))
                for slug in ("a", "b", "a")]
        return PlainTextResponse(" ".join(made))

    def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    app = Starlette(routes=[Route("/page", page), Route("/items/{slug}", item, name="item")])
    original = app.router.url_path_for

    def counting(name: str, /, **params: str) -> object:
        calls.append(name)
        return original(name, **params)

    app.router.url_path_for = counting  # type: ignore[method-assign]
    with TestClient(app, base_url="http://one.example") as client:
        assert client.get("/page").text == ("http://one.example/items/a http://one.example/items/b "
                                            "http://one.example/items/a")
        assert client.get("/page", headers={"host": "two.example"}).text.startswith("http://two.example/items/a")
    assert calls == ["item", "item"]  # a and b once each, across both requests


def test_absolute_urls_are_cached_per_base_url() -> None:
    """The absolute URL is remembered per base URL (scheme, host and root path), never shared across them."""
    url_for = CachedUrlFor()

    def page(request: Request) -> PlainTextResponse:
        path = url_for.path(request, "item", {"slug": "a"})
        first, again = url_for.absolute(request, path), url_for.absolute(request, path)
        assert first is again  # made once
        return PlainTextResponse(first)

    def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("")

    app = Starlette(routes=[Route("/page", page), Route("/items/{slug}", item, name="item")])
    with TestClient(app, base_url="http://one.example") as client:
        assert client.get("/page").text == "http://one.example/items/a"
        assert client.get("/page", headers={"host": "two.example"}).text == "http://two.example/items/a"
        assert client.get("/page", headers={"x-forwarded-proto": "https"}).text == "http://one.example/items/a"
    with TestClient(app, base_url="https://one.example", root_path="/tool") as client:
        assert client.get("/page").text == "https://one.example/tool/items/a"
