"""What every handler needs, built once per app."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request

from vitrina.bootstrap import Services
from vitrina.logs import AccessLines
from vitrina.settings import Settings
from vitrina.usecases.batches import BatchWorker
from vitrina.usecases.renditions import Renditions
from vitrina.usecases.upload_jobs import JobWorker
from vitrina.web.auth import Authenticator
from vitrina.web.caches import BytesCache, CatalogCache
from vitrina.web.request_log import RequestRecorder


@dataclass
class Context:
    services: Services
    auth: Authenticator
    catalog: CatalogCache
    rendered: BytesCache
    files: BytesCache  # image files' bytes, when they are streamed from a bucket
    worker: JobWorker | None = field(default=None)
    batches: BatchWorker | None = field(default=None)  # runs batch tickets
    recorder: RequestRecorder | None = field(default=None)
    access: AccessLines | None = field(default=None)
    draining: threading.Event = field(default_factory=threading.Event)
    renditions: Renditions = field(default_factory=Renditions)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @staticmethod
    def of(request: Request) -> Context:
        ctx: Context = request.app.state.ctx
        return ctx

    @staticmethod
    def of_app(app: Starlette) -> Context:
        ctx: Context = app.state.ctx
        return ctx
