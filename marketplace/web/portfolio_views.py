"""Portfolio pages of a homework_submission launch, and the signed file downloads platforms fetch.

The portfolio partial and the add form carry the launch token like the picker does (htmx header, or a
form field for a plain form post). Downloads carry no session at all: a signed, expiring URL is the
permission, because the platform's servers fetch the file without any cookie or header of ours.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive

from marketplace.errors import RequestError
from marketplace.lti import launch_token
from marketplace.lti.context import LaunchContext
from marketplace.portfolio import files, rendering, signing
from marketplace.portfolio.adding import Upload, add_one
from marketplace.portfolio.errors import PortfolioError
from marketplace.portfolio.service import signed_item
from marketplace.portfolio.store import Owner
from marketplace.store.models import PortfolioItemRow
from marketplace.web.portfolio_pages import max_upload_bytes, portfolio_launch, portfolio_page_context
from marketplace.web.services import services

# Room for the text fields and multipart framing around the largest allowed file.
FORM_OVERHEAD = 256 * 1024
# Text fields are small (a 10,000-character note is at most 40 KB of UTF-8).
MAX_FIELD_BYTES = 64 * 1024
# An oversized body is read and dropped up to this much more, so the browser gets our sentence rather than a
# reset connection; beyond it we stop reading and let the server close the connection.
DRAIN_LIMIT = 64 * 1024 * 1024
logger = logging.getLogger("marketplace.portfolio")


class _BodyTooLarge(Exception):
    """The request body passed the upload limit."""


class _LimitedReceive:
    """An ASGI receive that counts body bytes and stops the upload once it passes `limit`."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0
        self.done = False

    def _count(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:
            self.done = True  # disconnected

    async def __call__(self) -> Message:
        message = await self.receive()
        self._count(message)
        if self.received > self.limit:
            raise _BodyTooLarge
        return message

    async def drain(self) -> None:
        """Read and drop the rest of the body, up to DRAIN_LIMIT."""
        while not self.done and self.received <= self.limit + DRAIN_LIMIT:
            self._count(await self.receive())


async def _render(request: Request, launch: tuple[LaunchContext, Owner], token: str, status: int = 200,
                  **extra: Any) -> Response:
    """The partial for htmx; for a plain form post, a whole page that can also submit the chosen item."""
    full_page = not request.headers.get("HX-Request")
    page = await run_in_threadpool(portfolio_page_context, request, launch[1], token, launch[0], **extra)
    template = "portfolio_page.html" if full_page else "_portfolio.html"
    response: Response = services(request).templates.TemplateResponse(request, template, page, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # personal data and the launch token
    return response


async def portfolio(request: Request) -> Response:
    """GET /lti/portfolio: the student's items as radios, and the add form."""
    token = request.headers.get(launch_token.HEADER)
    launch = await portfolio_launch(request, token)
    return await _render(request, launch, str(token))


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _add(request: Request, owner: Owner, values: dict[str, str], upload: UploadFile | None,
         max_bytes: int) -> PortfolioItemRow:
    """Add exactly one item from the form's values (blocking)."""
    sent = Upload(upload.filename or "", upload.file) if upload is not None else None
    return add_one(services(request).sessions, owner, title=values["title"], url=values["url"], note=values["note"],
                   upload=sent, data_dir=services(request).settings.data_dir, max_bytes=max_bytes)


async def add_item(request: Request) -> Response:
    """POST /lti/portfolio/items: add one file, link or note; the refreshed portfolio, or it with the error."""
    header_token = request.headers.get(launch_token.HEADER)
    # With the token in the header, refuse a stranger before reading a possibly large body.
    launch = await portfolio_launch(request, header_token) if header_token else None
    max_bytes = max_upload_bytes(request)
    limited = _LimitedReceive(request.receive, max_bytes + FORM_OVERHEAD)
    token = header_token or ""
    values = {"title": "", "url": "", "note": ""}
    try:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limited.limit:
            raise _BodyTooLarge
        async with Request(request.scope, limited).form(max_files=1, max_fields=8,
                                                        max_part_size=MAX_FIELD_BYTES) as form:
            if launch is None:
                token = _field(form, "launch_token")
                launch = await portfolio_launch(request, token)
            values = {name: _field(form, name) for name in values}
            file = form.get("file")
            upload = file if isinstance(file, UploadFile) and (file.filename or file.size) else None
            try:
                item = await run_in_threadpool(_add, request, launch[1], values, upload, max_bytes)
            except PortfolioError as error:
                return await _render(request, launch, token, error.status, portfolio_error=error.message,
                                     portfolio_values=values)
    except _BodyTooLarge:
        await limited.drain()
        message = (f"The upload is larger than {files.human_size(max_bytes)}, the largest file a portfolio accepts. "
                   "Nothing was added.")
        if launch is None:
            raise RequestError(413, message) from None
        return await _render(request, launch, token, 413, portfolio_error=message)
    return await _render(request, launch, token, portfolio_status=f"Added “{item.title}” to your portfolio.",
                         portfolio_selected=item.id)


# Item ids are UUIDs; anything longer or odder never reaches the database (PostgreSQL refuses NUL in a string).
MAX_ITEM_ID = 36


def _refusal(status: int, message: str) -> Response:
    """A download refusal: one plain sentence. Platforms fetch with no cookies and show nothing of ours, but a
    person who opens the link sees why; never cached, so a fresh link is not shadowed by this answer."""
    response = PlainTextResponse(message + "\n", status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _expired_message(refusal: signing.SignatureRefused) -> str:
    at = refusal.expires_at
    when = f"on {at.day} {at:%B %Y at %H:%M} UTC" if at else "already"
    return (f"This download link expired {when}. Links to submitted work last "
            f"{signing.URL_LIFETIME.days} days. To hand the work in, the student should submit it again from the "
            "course, which makes a fresh link; a teacher can open the submission again from the course.")


INVALID_LINK = ("This download link is not valid: it was altered, or the portfolio item it points to has changed or "
                "is gone since the link was made. Submit the item again from the course to make a fresh link.")


async def download(request: Request) -> Response:
    """GET /portfolio/files/{item_id}?expires=…&signature=…: the file (or a note's or link's web page), for
    whoever holds a valid signed URL. 410 once it has expired, 403 when it is not one we signed for the item's
    current content, each with a sentence: Canvas fetches only after the student presses Submit, maybe days
    later, and a refusal must read as one, never as a broken file or a server error."""
    item_id = str(request.path_params["item_id"])
    expires, given = request.query_params.get("expires", ""), request.query_params.get("signature", "")
    settings = services(request).settings
    if not signing.well_formed(expires):
        return _refusal(403, INVALID_LINK)

    def run() -> PortfolioItemRow | None:
        if len(item_id) > MAX_ITEM_ID or not item_id.isascii() or not item_id.isprintable():
            return None
        return signed_item(services(request).sessions, item_id)

    try:
        item = await run_in_threadpool(run)
    except Exception:
        # The query string (the signature) is not logged; the access log redacts it too.
        logger.exception("portfolio download: the item could not be read")
        return _refusal(503, "The submitted work cannot be read right now. Try again in a few minutes.")
    try:
        signing.verify(item_id, signing.content_sha256(item) if item else None, expires, given, settings.secret_key)
    except signing.SignatureRefused as refusal:
        if refusal.expired:
            return _refusal(410, _expired_message(refusal))
        return _refusal(403, INVALID_LINK)
    assert item is not None  # noqa: S101 - verify refuses a missing item
    response: Response
    if item.kind == "file":
        path = files.stored_path(settings.data_dir, item.file_sha256) if item.file_sha256 else None
        if path is None or not path.is_file():
            return _refusal(404, "This file is no longer in the portfolio it was submitted from.")
        name = str(item.file_name or "download")
        response = FileResponse(path, media_type=item.media_type,
                                headers={"Content-Disposition": rendering.content_disposition(name)})
        # Should a browser render it anyway, it gets no scripts, no origin and nothing to load.
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    else:
        response = Response(rendering.render(item), media_type=rendering.MEDIA_TYPE,
                            headers={"Content-Disposition": rendering.content_disposition(rendering.file_name(item))})
        # The page's inline style may apply; nothing else may load or run.
        response.headers["Content-Security-Policy"] = f"{rendering.PAGE_POLICY}; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def routes() -> list[Route]:
    """The portfolio routes, for `create_app`."""
    return [
        Route("/lti/portfolio", portfolio, name="lti_portfolio"),
        Route("/lti/portfolio/items", add_item, methods=["POST"], name="lti_portfolio_add"),
        Route("/portfolio/files/{item_id:str}", download, name="portfolio_file"),
    ]
