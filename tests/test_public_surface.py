"""The package's public surface is what __all__ says, and each name works."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vitrina


def test_all_names_the_curated_surface() -> None:
    assert sorted(vitrina.__all__) == [
        "Services",
        "Settings",
        "VitrinaError",
        "__version__",
        "build_services",
        "create_app",
    ]
    assert dir(vitrina) == sorted(vitrina.__all__)
    for name in vitrina.__all__:
        assert getattr(vitrina, name) is not None
    assert issubclass(vitrina.VitrinaError, Exception)
    assert callable(vitrina.create_app) and callable(vitrina.build_services)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        _ = vitrina.SqlMetadataStore


def test_importing_the_package_loads_no_server_dependency() -> None:
    code = (
        "import sys, vitrina; "
        "print(sorted(m for m in ('pyvips', 'sqlalchemy', 'starlette') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_client_surface() -> None:
    import vitrina.client as client

    assert {"Client", "AsyncClient", "ApiError", "NotFound", "Retries", "Category"} <= set(
        client.__all__
    )
    for name in client.__all__:
        assert getattr(client, name) is not None, name
    assert issubclass(client.NotFound, client.ApiError)
    assert client.Client.__init__.__annotations__["base_url"] == "str"
    assert client.ECWID_API == "https://app.ecwid.com/api/v3"
