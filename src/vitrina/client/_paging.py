"""Paging a search, for both clients: where the next page starts, and when to
stop, so that no answer can keep a client paging for ever."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vitrina import wire
from vitrina.client._calls import PAGE, BadResponse, Call, search_params

MAX_ITEMS = 1_000_000  # categories in one search; far beyond any real store
SPARE_PAGES = 2  # beyond those the first total announced: categories added meanwhile


class Pages:
    """The pages of one search. It ends at a short or empty page, or once the
    offset reaches the total. BadResponse ends it when the pages cannot be
    right: a total over ``max_items``, more pages than the first total
    announced (and a few to spare), or a page of nothing but categories
    already seen. A category seen on an earlier page is not given twice."""

    def __init__(self, path: str, params: Mapping[str, Any], max_items: int = MAX_ITEMS) -> None:
        query = search_params(params)
        self.offset = int(query.pop("offset", 0))
        self.limit = max(1, int(query.pop("limit", PAGE)))
        self.path = path
        self.query = query
        self.max_items = max_items
        self.seen: set[int] = set()
        self.pages_left: int | None = None
        self.status = 200
        self.over = False

    def next(self) -> Call | None:
        """The call for the next page, or None when the search is over."""
        if self.over:
            return None
        if self.pages_left == 0:
            raise BadResponse(self.status, "The search's total keeps growing: the pages do not end")
        return Call("GET", self.path, {**self.query, "offset": self.offset, "limit": self.limit})

    def take(self, page: wire.CategorySearch, status: int) -> list[wire.Category]:
        """The categories of ``page`` not given before."""
        if not 0 <= page.total <= self.max_items:
            raise BadResponse(
                status, f"The answer counts {page.total} categories: more than max_items allows"
                f" ({self.max_items})"
            )  # fmt: skip
        if self.pages_left is None:
            announced = math.ceil(max(page.total - self.offset, 0) / self.limit)
            self.pages_left = max(announced, 1) + SPARE_PAGES
        self.pages_left -= 1
        self.status = status
        new = [c for c in page.items if c.id not in self.seen]
        if page.items and not new:
            raise BadResponse(status, "The server sent a page again: the pages do not end")
        self.seen.update(c.id for c in new)
        self.offset += len(page.items)
        if len(page.items) < self.limit or self.offset >= page.total:
            self.over = True
        return new
