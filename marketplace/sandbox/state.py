"""The sandbox of one app (its platform side and course store, built on first use), shared by the pages
(`views`) and the services the tool calls (`services`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from marketplace.lti.keys import public_key_set
from marketplace.sandbox.course import CourseStore
from marketplace.sandbox.keys import load_or_create_key
from marketplace.sandbox.lms import SandboxPlatform
from marketplace.sandbox.registration import SandboxUrls, ensure_sandbox_registration
from marketplace.settings import Settings
from marketplace.web.services import services


@dataclass(frozen=True, slots=True)
class Sandbox:
    """The sandbox's platform side and course store, built once per app."""

    platform: SandboxPlatform
    store: CourseStore


def _build(settings: Settings) -> Sandbox:
    folder = settings.data_dir / "sandbox"
    platform = SandboxPlatform(SandboxUrls(settings.base_url), load_or_create_key(settings.data_dir),
                               settings.secret_key)
    return Sandbox(platform, CourseStore(folder))


async def sandbox_of(request: Request) -> Sandbox:
    """The app's sandbox, made on first use (key generation takes a moment, so not in the event loop)."""
    app = services(request)
    slot = app.sandbox
    if slot.value is None:
        def build() -> None:
            with slot.lock:
                if slot.value is None:
                    slot.value = _build(app.settings)

        await run_in_threadpool(build)
    return cast(Sandbox, slot.value)


def register(request: Request) -> None:
    """Make sure the tool knows the sandbox (blocking)."""
    with services(request).sessions() as session:
        ensure_sandbox_registration(session, services(request).settings)
        session.commit()


def tool_jwks(request: Request) -> dict[str, Any]:
    """The tool's published keys, read in-process (an HTTP call from the server to itself adds nothing)."""
    return public_key_set(services(request).sessions, services(request).settings.secret_key)
