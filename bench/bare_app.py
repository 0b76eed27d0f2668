"""The baseline for bench/serve.py: a bare Starlette app on the same server,
returning constant JSON bodies (a category's, a search result's) and serving
a folder with StaticFiles.

    BARE_JSON=file.json BARE_SEARCH_JSON=file.json BARE_STATIC=folder \
        uvicorn bench.bare_app:app
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

_BODY = json.loads(Path(os.environ["BARE_JSON"]).read_text())
_SEARCH = json.loads(Path(os.environ["BARE_SEARCH_JSON"]).read_text())


async def constant(_request: Request) -> Response:
    return JSONResponse(_BODY)


async def constant_search(_request: Request) -> Response:
    return JSONResponse(_SEARCH)


app = Starlette(
    routes=[
        Route("/const", constant),
        Route("/const-search", constant_search),
        Mount("/static", StaticFiles(directory=os.environ["BARE_STATIC"])),
    ]
)
