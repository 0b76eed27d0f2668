"""A typed client for Ecwid's REST API v3 (categories and their images), for
vitrina and for Ecwid itself. It needs httpx and msgspec only; the server's
dependencies are not imported. See docs/client.md.

    from vitrina.client import Client

    with Client(1, "secret_…", "http://127.0.0.1:8080/api/v3") as api:
        toys = api.categories.create({"name": "Toys"})
        api.images.upload(toys, "toys.jpg")
        for category in api.categories.search(parent=0):
            print(category.id, category.name)
"""

from __future__ import annotations

from vitrina.client._async import AsyncCategories, AsyncClient, AsyncImages
from vitrina.client._calls import (
    ECWID_API,
    ApiError,
    BadResponse,
    Forbidden,
    NotFound,
    RateLimited,
    Retries,
    ServerError,
)
from vitrina.client._sources import Source
from vitrina.client._sync import Categories, Client, Images
from vitrina.wire import (
    Category,
    CategoryInput,
    CategorySearch,
    NewCategory,
    Profile,
)

__all__ = [
    "ECWID_API",
    "ApiError",
    "AsyncCategories",
    "AsyncClient",
    "AsyncImages",
    "BadResponse",
    "Categories",
    "Category",
    "CategoryInput",
    "CategorySearch",
    "Client",
    "Forbidden",
    "Images",
    "NewCategory",
    "NotFound",
    "Profile",
    "RateLimited",
    "Retries",
    "ServerError",
    "Source",
]
