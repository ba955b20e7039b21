"""Calls to a platform's services, and how their answers are read: done, retry later, or failed with the
platform's own sentence (which the instructor sees)."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from marketplace.metrics import count_platform_call
from marketplace.outbound import DestinationRefused

MAX_MESSAGE = 500
MAX_RETRY_AFTER = 3600.0


@dataclass
class ServiceFailure(Exception):
    """A service call that did not succeed; `retryable` says whether the same call may work later."""

    status: int | None
    message: str
    retryable: bool = False
    retry_after: float | None = None
    unauthorized: bool = False
    not_found: bool = False
    superseded: bool = False

    def __str__(self) -> str:
        return self.message


def platform_message(response: httpx.Response) -> str:
    """The platform's own explanation: Canvas's `errors.message`, OAuth's `error_description`, or the text."""
    text = response.text[:4000]
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    found: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict) and errors.get("message"):
            found.append(str(errors["message"]))
        elif isinstance(errors, list):
            found.extend(str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in errors)
        for name in ("error_description", "message", "error", "reason"):
            if isinstance(body.get(name), str) and body[name] not in found:
                found.append(body[name])
    message = "; ".join(found) if found else " ".join(text.split())
    return (message or response.reason_phrase or f"HTTP {response.status_code}")[:MAX_MESSAGE]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at an hour."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, moment.timestamp() - time.time()), MAX_RETRY_AFTER)


def failure_of(response: httpx.Response, what: str) -> ServiceFailure:
    """Read a non-2xx answer to `what` (for example "posting the score")."""
    status = response.status_code
    message = platform_message(response)
    said = f"The platform answered {status} when {what}: {message}"
    if status == 429 or status >= 500:
        return ServiceFailure(status, said, retryable=True, retry_after=retry_after(response))
    if status == 403 and "rate limit exceeded" in message.lower():
        return ServiceFailure(status, said, retryable=True, retry_after=retry_after(response))
    if status == 401:
        return ServiceFailure(status, said, unauthorized=True)
    if status == 400 and "before last updated" in message.lower():
        return ServiceFailure(status, said, superseded=True)
    return ServiceFailure(status, said, not_found=status == 404)


async def call(client: httpx.AsyncClient, method: str, url: str, *, what: str, service: str = "ags",
               **kwargs: Any) -> httpx.Response:
    """One request; a 2xx answer is returned, anything else raises ServiceFailure. `service` labels the call
    in the metrics (ags, nrps, token)."""
    try:
        response = await client.request(method, url, **kwargs)
    except DestinationRefused as error:
        count_platform_call(service, None)
        raise ServiceFailure(None, f"This tool does not connect to {url} when {what}: {error}") from None
    except httpx.TimeoutException:
        count_platform_call(service, None)
        raise ServiceFailure(None, f"The platform did not answer in time when {what}.", retryable=True) from None
    except httpx.TransportError as error:
        count_platform_call(service, None)
        raise ServiceFailure(None, f"The platform could not be reached when {what} ({type(error).__name__}).",
                             retryable=True) from None
    count_platform_call(service, response.status_code)
    if not 200 <= response.status_code < 300:
        raise failure_of(response, what)
    return response


def json_body(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServiceFailure(response.status_code, f"The platform's answer to {what} is not JSON.",
                             retryable=True) from None
