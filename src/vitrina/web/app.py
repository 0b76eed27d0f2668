"""The Starlette application: routes, error handlers, the request log, the job
worker's life."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitrina.bootstrap import Services, build_services, build_version_check
from vitrina.domain.errors import VitrinaError
from vitrina.logs import AccessLines
from vitrina.logs import configure as configure_logs
from vitrina.settings import Settings
from vitrina.usecases.batches import BatchWorker
from vitrina.usecases.upload_jobs import JobWorker
from vitrina.web import console, oauth, site, storefront
from vitrina.web.api import OPERATIONS
from vitrina.web.auth import Authenticator
from vitrina.web.batch_calls import TableCalls, on_loop
from vitrina.web.caches import BytesCache, CatalogCache
from vitrina.web.context import Context
from vitrina.web.files import CACHED_LARGEST
from vitrina.web.observe import Activity, Observer
from vitrina.web.operation import endpoint
from vitrina.web.request_log import RequestRecorder
from vitrina.web.responses import on_http_exception, on_unexpected, on_vitrina_error

Endpoint = Callable[[Request], Awaitable[Response]]

# The site around the API: pages and probes, not operations of the API
# (they are not in the OpenAPI document). Every other route is an operation
# of web/api.py.
SITE: dict[str, dict[str, Endpoint]] = {
    "/console": {"GET": console.console_redirect},
    "/console/": {"GET": console.console},
    "/console/session": {"POST": console.session},
    # a native app's page, in a frame of its own (the app's origin may be framed there)
    "/console/app-page.html": {"GET": console.app_page},
    "/console/{name}": {"GET": console.console},
    # app install by OAuth (web/oauth.py): Ecwid's paths, answered in OAuth's words
    "/api/oauth/authorize": {"GET": oauth.authorize, "POST": oauth.install},
    "/api/oauth/token": {"GET": oauth.token, "POST": oauth.token},
    "/api/v3/openapi.json": {"GET": site.openapi},
    "/docs": {"GET": site.docs},
    "/healthz": {"GET": site.healthz},
    "/metrics": {"GET": site.metrics},
    "/readyz": {"GET": site.readyz},
    # the storefront preview: what a category's url opens (web/storefront.py)
    "/store/{store_id}": {"GET": storefront.store_redirect},
    "/store/{store_id}/": {"GET": storefront.store_page},
    "/store/{store_id}/{slug:path}": {"GET": storefront.category_page},
    "/storefront/{name}": {"GET": storefront.asset},
}


def _by_method(handlers: dict[str, Endpoint]) -> Endpoint:
    """One route per path, so a 405 names every method the path has."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method) or handlers["GET"]  # HEAD is answered as GET
        return await handler(request)

    return endpoint


def routes() -> list[Route]:
    table: dict[str, dict[str, Endpoint]] = {}
    for operation in OPERATIONS:
        table.setdefault(operation.path, {})[operation.method] = endpoint(operation)
    table.update(SITE)
    return [
        Route(
            path,
            handlers["GET"] if list(handlers) == ["GET"] else _by_method(handlers),
            methods=list(handlers),
        )
        for path, handlers in table.items()
    ]


def _access_lines(settings: Settings) -> bool:
    """Access lines are info lines: written at the info and debug levels."""
    return settings.access_log and settings.log_level in ("debug", "info")


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    owned = services is None
    services = services or build_services(settings)
    ctx = Context(
        services=services,
        auth=Authenticator(services.metadata, settings),
        catalog=CatalogCache(services.metadata, build_version_check(services)),
        rendered=BytesCache(settings.render_cache_bytes, settings.render_cache_largest),
        files=BytesCache(settings.files_cache_bytes, CACHED_LARGEST),
        recorder=RequestRecorder(services.metadata.requests) if settings.request_log else None,
        access=AccessLines(settings.log_format) if _access_lines(settings) else None,
    )

    activity = Activity()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.run_jobs:
            ctx.worker = JobWorker(services, beside_requests=activity.answering)
            ctx.worker.start()
            # batch tickets: their requests run on this event loop (web/batch_calls.py)
            calls = TableCalls(_app, on_loop(asyncio.get_running_loop()))
            ctx.batches = BatchWorker(services, calls)
            ctx.batches.start()
        try:
            yield
        finally:
            if ctx.batches is not None:
                # in a thread: the requests it waits for run on this loop
                await run_in_threadpool(ctx.batches.stop, settings.shutdown_grace_seconds)
                ctx.batches = None
            if ctx.worker is not None:
                ctx.worker.stop(settings.shutdown_grace_seconds)
                ctx.worker = None
            if ctx.recorder is not None:
                ctx.recorder.close()
            if ctx.access is not None:
                ctx.access.close()
            await ctx.catalog.versions.aclose()
            if owned:
                services.close()

    app = Starlette(
        routes=routes(),
        exception_handlers={
            VitrinaError: on_vitrina_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    # No trailing-slash redirects: a redirect built from the Host header would
    # send a ?token= to whatever host the caller named. /path/ is a 404.
    app.router.redirect_slashes = False
    app.add_middleware(Observer, recorder=ctx.recorder, access=ctx.access, activity=activity)
    app.state.ctx = ctx
    return app


def factory() -> Starlette:
    """For ``uvicorn --factory`` in each server process: settings from the environment."""
    from vitrina.web.server import DeadlineProtocol

    settings = Settings.from_env()
    configure_logs(settings.log_level, settings.log_format)
    DeadlineProtocol.configure(settings)
    return create_app(settings)
