"""create_app(settings): the Starlette application. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from marketplace.catalog.index_store import index_exists
from marketplace.catalog.replica import CatalogReplica
from marketplace.catalog.search import CatalogIndex
from marketplace.errors import MarketplaceError
from marketplace.grading.runtime import build_grading
from marketplace.lti.keys import SigningKeys, ensure_keys
from marketplace.lti.platform_keys import PlatformKeySets
from marketplace.outbound import guarded_sync_transport
from marketplace.sandbox import sandbox_enabled
from marketplace.settings import Settings
from marketplace.shipped import static_dir, templates_dir
from marketplace.store.database import check_schema, make_engine, make_session_factory
from marketplace.web import (
    access_log,
    admin_views,
    grading_views,
    lti_views,
    picker_views,
    portfolio_views,
    registration_views,
    resource_views,
    thumbnail_views,
)
from marketplace.web.catalog_views import browse_page, resource_api, search_api
from marketplace.web.errors import (
    database_error_handler,
    http_error_handler,
    marketplace_error_handler,
    server_error_handler,
)
from marketplace.web.frame_ancestors import FrameAncestors
from marketplace.web.notice_views import receive_notices
from marketplace.web.ops_views import healthz, metrics_page, readyz
from marketplace.web.request_log import RequestLogMiddleware, route_labels
from marketplace.web.security import SecurityHeadersMiddleware
from marketplace.web.services import Services
from marketplace.web.template_text import catalog_facet_boxes, facet_boxes, facet_count_updates, marked
from marketplace.web.template_urls import CachedUrlFor


def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(templates_dir()), autoescape=select_autoescape(default=True), auto_reload=False
    )
    environment.globals["url_for"] = CachedUrlFor().template_global()  # kept by Jinja2Templates (setdefault)
    environment.globals["marked"] = marked
    environment.globals.update(facet_boxes=facet_boxes, catalog_facet_boxes=catalog_facet_boxes,
                               facet_count_updates=facet_count_updates)
    return Jinja2Templates(env=environment)


def create_app(settings: Settings) -> Starlette:
    """Build the app; refuses (SchemaOutOfDateError) when the database needs `marketplace db upgrade`."""
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine, settings.database_url)
    except Exception:
        engine.dispose()  # close pooled connections now, not at garbage collection
        raise
    catalog = CatalogIndex(settings.index_dir)
    sessions = make_session_factory(engine)
    # Blocking client: JWKS fetches happen inside launch validation, which runs in a worker thread.
    http = httpx.Client(follow_redirects=False, headers={"User-Agent": "lti-marketplace"},
                        transport=guarded_sync_transport(allow_loopback=settings.allows_loopback_platforms))
    frame_ancestors = FrameAncestors(sessions)
    replica = CatalogReplica(sessions, settings.index_dir, catalog)
    signing_keys = SigningKeys(settings.secret_key)
    grading = build_grading(sessions, signing_keys, settings.secret_key,
                            allow_loopback=settings.allows_loopback_platforms)

    def prepare_keys() -> None:
        with sessions() as session:
            ensure_keys(session, settings.secret_key)
            session.commit()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        access_log.install()  # after the server configured logging: no secrets in access log lines
        # Publish a key (and the next one) before any platform asks for our JWKS.
        await run_in_threadpool(prepare_keys)
        if index_exists(settings.index_dir):
            catalog.open()
            # The first browse sorts every title; do it now rather than in someone's request.
            threading.Thread(target=catalog.warm, name="catalog-warm", daemon=True).start()
        if settings.grade_worker:
            grading.start_worker()  # scores written before a restart are delivered now
        replica_stop = asyncio.Event()
        replica_task = (asyncio.create_task(replica.run_forever(replica_stop, settings.catalog_check_seconds),
                                            name="catalog-replica")
                        if settings.catalog_check_seconds > 0 else None)
        try:
            yield
        finally:
            replica_stop.set()
            if replica_task is not None:
                await replica_task
            await grading.stop()
            catalog.close()
            http.close()
            engine.dispose()

    routes = [
        Route("/", browse_page, name="browse"),
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Route("/metrics", metrics_page, name="metrics"),
        Route("/api/catalog/search", search_api, name="api_search"),
        Route("/api/catalog/resources/{resource_id:str}", resource_api, name="api_resource"),
        Route("/resources/{resource_id:str}", resource_views.public_resource_page, name="resource_page"),
        Route("/lti/login", lti_views.login, methods=["GET", "POST"], name="lti_login"),
        Route("/lti/launch", lti_views.launch, methods=["POST"], name="lti_launch"),
        Route("/lti/launch/confirm", lti_views.confirm_launch, methods=["POST"], name="lti_confirm"),
        Route("/lti/notices", receive_notices, methods=["POST"], name="lti_notices"),
        Route("/lti/app", lti_views.app_page, name="lti_app"),
        Route("/lti/whoami", lti_views.whoami, name="lti_whoami"),
        Route("/lti/jwks", lti_views.jwks, name="lti_jwks"),
        Route("/.well-known/jwks.json", lti_views.jwks, name="well_known_jwks"),
        Route("/lti/config/canvas.json", lti_views.canvas_config, name="lti_canvas_config"),
        Route("/lti/register", registration_views.register_page, name="lti_register"),
        Route("/lti/picker/results", picker_views.picker_results, name="lti_picker_results"),
        Route("/lti/picker/select", picker_views.select, methods=["POST"], name="lti_picker_select"),
        Route("/lti/picker/favourite", picker_views.favourite, methods=["POST"], name="lti_picker_favourite"),
        Route("/lti/picker/preview/{resource_id:str}", picker_views.preview, name="lti_picker_preview"),
        *portfolio_views.routes(),
        *grading_views.routes(),
        *admin_views.routes(),
        Route("/lti/deep-linking/respond", picker_views.respond, methods=["POST"], name="lti_deep_link_respond"),
        Route("/thumbnails/{name:str}", thumbnail_views.thumbnail, name="thumbnail"),
        Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        Mount("/content/thumbnails", StaticFiles(directory=settings.content_dir / "thumbnails", check_dir=False),
              name="thumbnails"),
        Mount("/content/files", StaticFiles(directory=settings.content_dir / "files", check_dir=False),
              name="files"),
    ]
    if sandbox_enabled(settings):
        # Development only; imported here because it needs lti1p3platform, which production need not load.
        from marketplace.sandbox.views import sandbox_routes

        routes += sandbox_routes()
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestLogMiddleware, route_of=route_labels(routes)),
                    Middleware(SecurityHeadersMiddleware, frame_ancestors=frame_ancestors)],
        exception_handlers={
            MarketplaceError: marketplace_error_handler,
            HTTPException: http_error_handler,
            # Connection-level failures only: a refused write (IntegrityError) is a bug or a race, not an outage.
            OperationalError: database_error_handler,
            InterfaceError: database_error_handler,
            Exception: server_error_handler,
        },
    )
    app.state.services = Services(
        settings=settings, engine=engine, sessions=sessions, http=http, platform_keys=PlatformKeySets(http),
        signing_keys=signing_keys, grading=grading, frame_ancestors=frame_ancestors, catalog=catalog,
        templates=_templates(), replica=replica,
    )
    return app
