"""The sandbox of one app (its platform side and course store, built on first use), shared by the pages
(`views`) and the services the tool calls (`services`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from marketplace.lti.keys import ensure_keys, published_jwks
from marketplace.sandbox.course import CourseStore
from marketplace.sandbox.keys import load_or_create_key
from marketplace.sandbox.lms import SandboxPlatform
from marketplace.sandbox.registration import SandboxUrls, ensure_sandbox_registration
from marketplace.settings import Settings

_build_lock = threading.Lock()


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
    state = request.app.state
    found: Sandbox | None = getattr(state, "sandbox", None)
    if found is None:
        def build() -> Sandbox:
            with _build_lock:
                existing: Sandbox | None = getattr(state, "sandbox", None)
                if existing is None:
                    existing = _build(state.settings)
                    state.sandbox = existing
                return existing

        found = await run_in_threadpool(build)
    return found


def register(request: Request) -> None:
    """Make sure the tool knows the sandbox (blocking)."""
    with request.app.state.sessions() as session:
        ensure_sandbox_registration(session, request.app.state.settings)
        session.commit()


def tool_jwks(request: Request) -> dict[str, Any]:
    """The tool's published keys, read in-process (an HTTP call from the server to itself adds nothing)."""
    with request.app.state.sessions() as session:
        ensure_keys(session, request.app.state.settings.secret_key)
        session.commit()
        return published_jwks(session)
