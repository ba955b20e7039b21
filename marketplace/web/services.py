"""The app's long-lived objects in one typed, frozen `Services`, built once by `create_app`.

Views read them through `services(request)`, the one place that touches `app.state`; everything else gets
types checked by mypy instead of `Any` from Starlette's untyped state bag.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from marketplace.catalog.replica import CatalogReplica
from marketplace.catalog.search import CatalogIndex
from marketplace.grading.runtime import Grading
from marketplace.lti.keys import SigningKeys
from marketplace.lti.platform_keys import PlatformKeySets
from marketplace.operator import Reindex
from marketplace.portfolio.files import MAX_FILE_BYTES
from marketplace.settings import Settings
from marketplace.web.frame_ancestors import FrameAncestors
from marketplace.web.rate_limit import RegistrationRateLimit

T = TypeVar("T")


@dataclass(slots=True)
class Lazy(Generic[T]):
    """A value made on first use (the sandbox's keys take a moment to generate), once per app."""

    value: T | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    http: httpx.Client  # blocking, for JWKS fetches inside launch validation (a worker thread)
    platform_keys: PlatformKeySets
    signing_keys: SigningKeys
    grading: Grading
    frame_ancestors: FrameAncestors
    catalog: CatalogIndex
    templates: Jinja2Templates
    registration_limit: RegistrationRateLimit = field(default_factory=RegistrationRateLimit)
    portfolio_max_upload_bytes: int = MAX_FILE_BYTES
    sandbox: Lazy[object] = field(default_factory=Lazy)  # the dev sandbox, typed by sandbox/state.py
    replica: CatalogReplica | None = None  # keeps this host's index in step with the database's catalog
    reindex: Reindex = field(default_factory=Reindex)  # the operator's page re-index (its state: the database)


def services(where: HTTPConnection | Starlette) -> Services:
    """The app's services, from a request (or websocket) or from the app itself (tests, the CLI)."""
    app = where.app if isinstance(where, HTTPConnection) else where
    return cast(Services, app.state.services)
