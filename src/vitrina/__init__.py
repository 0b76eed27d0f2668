"""vitrina: a self-hosted server that speaks Ecwid's REST API v3 for store
categories and their images.

The public surface, for embedding the server or scripting it:

    create_app(settings, services=None)   the ASGI application
    Settings                              every setting, from VITRINA_* or given
    build_services(settings) / Services   the back ends, composed once
    VitrinaError                          the root of the error tree

They are imported on first use, so ``import vitrina`` stays light (the client
lives beside the server without its dependencies).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "create_app": "vitrina.web.app",
    "Settings": "vitrina.settings",
    "build_services": "vitrina.bootstrap",
    "Services": "vitrina.bootstrap",
    "VitrinaError": "vitrina.domain.errors",
}

__all__ = ["Services", "Settings", "VitrinaError", "__version__", "build_services", "create_app"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'vitrina' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
