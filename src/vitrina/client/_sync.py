"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import msgspec

from vitrina import wire
from vitrina.client._answers import MAX_RESPONSE_BYTES, decode, read, refuse_redirect
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
from vitrina.client._transport import Deadline, DeadlineTransport, deadline

Fields = msgspec.Struct | Mapping[str, Any]


class Client:
    """Ecwid's REST API v3 for categories and their images, on vitrina or on
    Ecwid itself (``base_url``, Ecwid's by default)::

        with Client(store_id=1, token="secret_…", base_url="http://127.0.0.1:8080/api/v3") as api:
            toys = api.categories.create({"name": "Toys"})
            api.images.upload(toys, "toys.jpg")
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store_id = store_id
        self.retries = retries or Retries()
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self.max_items = max_items
        self._http = httpx.Client(
            **http_options(store_id, token, base_url, connect_timeout, read_timeout),
            event_hooks={"response": [refuse_redirect]},
            transport=transport or DeadlineTransport(),
        )
        self.categories = Categories(self)
        self.images = Images(self)

    def profile(self) -> wire.Profile:
        return decode(self.send(Call("GET", "/profile")), wire.Profile)

    def send(self, call: Call, upload: Upload | None = None) -> Answer:
        """The answer to ``call``, retried by ``self.retries``, all within
        ``total_timeout``; an error answer raises ApiError (BadResponse for one
        that cannot be used), a connection that keeps failing or a call over
        its time httpx.TransportError."""
        limit = Deadline.after(self.total_timeout)
        for attempt in range(self.retries.attempts):
            answer, error = None, None
            try:
                with deadline(limit):
                    answer = self._exchange(call, upload, limit)
            except httpx.TransportError as exc:
                error = exc
            if answer is not None and answer.status_code < 400:
                return answer
            wait = self.retries.next_wait(call, attempt, upload, answer, error, limit.left())
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    def _exchange(self, call: Call, upload: Upload | None, limit: Deadline) -> Answer:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.params or None,
            json=call.json,
            content=upload.chunks() if upload else None,
            headers=upload.headers() if upload else None,
        )
        return read(self._http.send(request, stream=True), self.max_response_bytes, limit)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Categories:
    def __init__(self, client: Client) -> None:
        self._client = client

    def search(self, **params: Any) -> Iterator[wire.Category]:
        """Every category matching Ecwid's search ``params`` (``parent``,
        ``keyword``, ``hidden_categories``, …), fetching pages as it goes."""
        return self._pages("/categories", params)

    def by_path(self, path: str, delimiter: str = "/", **params: Any) -> list[wire.Category]:
        """Categories whose names from the root down are ``path``."""
        return list(
            self._pages("/categoriesByPath", {**params, "path": path, "delimiter": delimiter})
        )

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[wire.Category]:
        pages = Pages(path, params, self._client.max_items)
        while (call := pages.next()) is not None:
            answer = self._client.send(call)
            yield from pages.take(decode(answer, wire.CategorySearch), answer.status_code)

    def get(self, category_id: int, **params: Any) -> wire.Category:
        call = Call("GET", f"/categories/{category_id}", search_params(params))
        return decode(self._client.send(call), wire.Category)

    def create(self, fields: Fields) -> int:
        return decode(self._client.send(Call("POST", "/categories", json=body(fields))), wire.Id).id

    def update(self, category_id: int, fields: Fields) -> int:
        call = Call("PUT", f"/categories/{category_id}", json=body(fields))
        return decode(self._client.send(call), wire.UpdateCount).updateCount

    def delete(self, category_id: int) -> int:
        call = Call("DELETE", f"/categories/{category_id}")
        return decode(self._client.send(call), wire.DeleteCount).deleteCount


class Images:
    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, category_id: int, source: Source, content_type: str | None = None) -> int:
        """Upload ``source`` (a path, bytes or a binary file), streamed."""
        call = Call("POST", f"/categories/{category_id}/image")
        return decode(self._client.send(call, Upload(source, content_type)), wire.Id).id

    def upload_from_url(self, category_id: int, url: str) -> int:
        call = Call("POST", f"/categories/{category_id}/image", {"externalUrl": url})
        return decode(self._client.send(call), wire.Id).id

    def upload_async(
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
        return decode(self._client.send(call), wire.Id).id

    def delete(self, category_id: int) -> int:
        call = Call("DELETE", f"/categories/{category_id}/image")
        return decode(self._client.send(call), wire.DeleteCount).deleteCount
