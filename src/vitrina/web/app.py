"""The Starlette application: routes, error handlers, the job worker's life."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from vitrina.bootstrap import Services, build_services
from vitrina.errors import VitrinaError
from vitrina.jobs import JobWorker
from vitrina.settings import Settings
from vitrina.web import categories, files, images, meta
from vitrina.web.auth import Authenticator
from vitrina.web.context import Context
from vitrina.web.responses import on_http_exception, on_unexpected, on_vitrina_error

API = "/api/v3/{storeId}"


def routes() -> list[Route]:
    return [
        Route(f"{API}/categories", categories.search_categories, methods=["GET"]),
        Route(f"{API}/categories", categories.create_category, methods=["POST"]),
        Route(f"{API}/categories/{{categoryId}}", categories.get_category, methods=["GET"]),
        Route(f"{API}/categories/{{categoryId}}", categories.update_category, methods=["PUT"]),
        Route(f"{API}/categories/{{categoryId}}", categories.delete_category, methods=["DELETE"]),
        Route(f"{API}/categories/{{categoryId}}/image", images.upload_image, methods=["POST"]),
        Route(f"{API}/categories/{{categoryId}}/image", images.delete_image, methods=["DELETE"]),
        Route(
            f"{API}/categories/{{categoryId}}/image/async",
            images.upload_image_async,
            methods=["POST"],
        ),
        Route(f"{API}/profile", categories.profile, methods=["GET"]),
        Route("/images/{storeId}/{fileName}", files.serve_file, methods=["GET", "HEAD"]),
        Route("/api/v3/openapi.json", meta.openapi, methods=["GET"]),
        Route("/docs", meta.docs, methods=["GET"]),
        Route("/healthz", meta.healthz, methods=["GET"]),
        Route("/readyz", meta.readyz, methods=["GET"]),
    ]


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    owned = services is None
    services = services or build_services(settings)
    ctx = Context(services=services, auth=Authenticator(services.metadata, settings))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.run_jobs:
            ctx.worker = JobWorker(services)
            ctx.worker.start()
        try:
            yield
        finally:
            if ctx.worker is not None:
                ctx.worker.stop()
                ctx.worker = None
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
    app.state.ctx = ctx
    return app


def factory() -> Starlette:
    """For ``uvicorn --factory`` in each server process: settings from the environment."""
    return create_app(Settings.from_env())
