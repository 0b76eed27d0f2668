"""The asynchronous client: the same surface as Client, awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import httpx
import msgspec

from vitrina import wire
from vitrina.client._answers import MAX_RESPONSE_BYTES, aread, arefuse_redirect, decode
from vitrina.client._calls import (
    ECWID_API,
    Answer,
    Call,
    Retries,
    body,
    http_options,
    search_params,
)
from vitrina.client._paging import MAX_ITEMS, Pages
from vitrina.client._sources import Source, Upload
from vitrina.client._transport import Deadline

Fields = msgspec.Struct | Mapping[str, Any]


class AsyncClient:
    """Client's asynchronous twin::

    async with AsyncClient(1, "secret_…", "http://127.0.0.1:8080/api/v3") as api:
        async for category in api.categories.search(parent=0):
            print(category.name)
    """

    def __init__(
        self,
        store_id: int,
        token: str,
        base_url: str = ECWID_API,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        total_timeout: float = 300.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_items: int = MAX_ITEMS,
        retries: Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store_id = store_id
        self.retries = retries or Retries()
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self.max_items = max_items
        self._http = httpx.AsyncClient(
            **http_options(store_id, token, base_url, connect_timeout, read_timeout),
            event_hooks={"response": [arefuse_redirect]},
            transport=transport,
        )
        self.categories = AsyncCategories(self)
        self.images = AsyncImages(self)

    async def profile(self) -> wire.Profile:
        return decode(await self.send(Call("GET", "/profile")), wire.Profile)

    async def send(self, call: Call, upload: Upload | None = None) -> Answer:
        limit = Deadline.after(self.total_timeout)
        for attempt in range(self.retries.attempts):
            answer: Answer | None = None
            error: httpx.TransportError | None = None
            try:
                with anyio.fail_after(max(limit.left(), 0)):
                    answer = await self._exchange(call, upload, limit)
            except httpx.TransportError as exc:
                error = exc
            except TimeoutError:
                error = limit.passed(httpx.ReadTimeout)
            if answer is not None and answer.status_code < 400:
                return answer
            wait = self.retries.next_wait(call, attempt, upload, answer, error, limit.left())
            await anyio.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    async def _exchange(self, call: Call, upload: Upload | None, limit: Deadline) -> Answer:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.params or None,
            json=call.json,
            content=upload.achunks() if upload else None,
            headers=upload.headers() if upload else None,
        )
        response = await self._http.send(request, stream=True)
        return await aread(response, self.max_response_bytes, limit)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class AsyncCategories:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def search(self, **params: Any) -> AsyncIterator[wire.Category]:
        return self._pages("/categories", params)

    async def by_path(self, path: str, delimiter: str = "/", **params: Any) -> list[wire.Category]:
        query = {**params, "path": path, "delimiter": delimiter}
        return [category async for category in self._pages("/categoriesByPath", query)]

    async def _pages(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[wire.Category]:
        pages = Pages(path, params, self._client.max_items)
        while (call := pages.next()) is not None:
            answer = await self._client.send(call)
            for item in pages.take(decode(answer, wire.CategorySearch), answer.status_code):
                yield item

    async def get(self, category_id: int, **params: Any) -> wire.Category:
        call = Call("GET", f"/categories/{category_id}", search_params(params))
        return decode(await self._client.send(call), wire.Category)

    async def create(self, fields: Fields) -> int:
        response = await self._client.send(Call("POST", "/categories", json=body(fields)))
        return decode(response, wire.Id).id

    async def update(self, category_id: int, fields: Fields) -> int:
        call = Call("PUT", f"/categories/{category_id}", json=body(fields))
        return decode(await self._client.send(call), wire.UpdateCount).updateCount

    async def delete(self, category_id: int) -> int:
        call = Call("DELETE", f"/categories/{category_id}")
        return decode(await self._client.send(call), wire.DeleteCount).deleteCount


class AsyncImages:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(
        self, category_id: int, source: Source, content_type: str | None = None
    ) -> int:
        call = Call("POST", f"/categories/{category_id}/image")
        return decode(await self._client.send(call, Upload(source, content_type)), wire.Id).id

    async def upload_from_url(self, category_id: int, url: str) -> int:
        call = Call("POST", f"/categories/{category_id}/image", {"externalUrl": url})
        return decode(await self._client.send(call), wire.Id).id

    async def upload_async(
        self,
        category_id: int,
        url: str,
        width: int,
        height: int,
        external_id: str | None = None,
    ) -> int:
        fields: dict[str, Any] = {"url": url, "width": width, "height": height}
        if external_id is not None:
            fields["externalId"] = external_id
        call = Call("POST", f"/categories/{category_id}/image/async", json=fields)
        return decode(await self._client.send(call), wire.Id).id

    async def delete(self, category_id: int) -> int:
        call = Call("DELETE", f"/categories/{category_id}/image")
        return decode(await self._client.send(call), wire.DeleteCount).deleteCount
