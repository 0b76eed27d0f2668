"""Category operations and the store profile (declared in web/api.py)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.errors import CategoryNotFound
from vitrina.domain.tree import CategoryQuery, CategoryTree
from vitrina.domain.values import Category
from vitrina.usecases import categories as category_cases
from vitrina.web.category_json import View, category_json
from vitrina.web.operation import Call
from vitrina.web.response_fields import pick
from vitrina.web.responses import JSON, render_json
from vitrina.wire import reading as wire_input

_ENVELOPE = {"total", "count", "offset", "limit", "items"}


def _view(call: Call, product_ids: bool) -> View:
    caller = call.who
    if call.request.scope.get("query_string"):
        return _make_view(call, product_ids)
    # the storefront's usual read asks nothing of the view: one per caller,
    # the same object every time (cheap to hash and compare in a cache key)
    view = caller.views.get(product_ids)
    if view is None:
        view = caller.views[product_ids] = _make_view(call, product_ids)
    return view


def _make_view(call: Call, product_ids: bool) -> View:
    args = call.args
    return View(
        files_base=call.ctx.settings.effective_files_url,
        stored_once_base=call.ctx.settings.stored_once_files_url,
        store_url=args["baseUrl"] or call.who.store.storefront_url,
        # docs.ecwid.com spells it cleanURLs, the API reference cleanUrls
        clean_urls=bool(args["cleanUrls"] or args["cleanURLs"]),
        slugs_without_ids=bool(args["slugsWithoutIds"]),
        lang=(args["lang"] or "")[:16],
        product_ids=product_ids,
        languages=call.who.store.languages,
    )


async def get_category(call: Call) -> Response:
    store_id, category_id = call.store_id, call.args["categoryId"]
    view = _view(call, product_ids=True)
    fields, wanted = call.args["responseFields"] or (None, None)
    _version, tree = await call.ctx.catalog.current(store_id)
    category = tree.by_id.get(category_id)
    if category is None or (call.who.public and not category.enabled):
        raise CategoryNotFound(category_id)
    # An answer stays right until a write touches the category itself (its
    # version) or what its counts depend on (the tree's shape).
    key = (store_id, category_id, category.version, tree.shape, view, fields)
    body = call.ctx.rendered.get(key)
    if body is None:
        body = render_json(pick(category_json(category, tree, view), wanted))
        call.ctx.rendered.put(key, body)
    return Response(body, media_type=JSON.media_type)


async def search_categories(call: Call) -> Response:
    args = call.args
    parents: set[int | None] = set()
    if args["parent"] is not None:
        parents.add(args["parent"] or None)
    for parent_id in args["parentIds"] or ():
        parents.add(parent_id or None)
    category_ids = args["categoryIds"]
    query = CategoryQuery(
        parents=frozenset(parents),
        with_subcategories=args["withSubcategories"],
        hidden=args["hidden_categories"],
        keyword=args["keyword"].strip(),
        category_ids=frozenset(category_ids) if category_ids is not None else None,
        offset=args["offset"],
        limit=min(args["limit"], wire.MAX_PAGE),
        enabled_only=call.who.public,
    )
    return await _found(call, query, "search", lambda t: t.search(query))


async def _found(
    call: Call,
    query: CategoryQuery,
    what: object,
    find: Callable[[CategoryTree], tuple[int, list[Category]]],
) -> Response:
    """A search result (the envelope, the page, the view and responseFields),
    rendered once per catalog version: ``what`` and ``query`` say what was
    asked, ``find`` finds it in the tree."""
    view = _view(call, product_ids=call.args["productIds"])
    fields, wanted = call.args["responseFields"] or (None, None)
    if wanted is not None and not wanted.keys() & _ENVELOPE:
        wanted = {"total": None, "count": None, "offset": None, "limit": None, "items": wanted}
    store_id = call.store_id
    version, tree = await call.ctx.catalog.current(store_id)
    # any write to the store changes its version: an answer kept under the
    # old one is never served again (and ages out of the cache)
    key = (store_id, version, what, query, view, fields)
    body = call.ctx.rendered.get(key)
    if body is None:
        total, page = find(tree)
        result = wire.CategorySearch(
            total=total,
            count=len(page),
            offset=query.offset,
            limit=query.limit,
            items=[category_json(c, tree, view) for c in page],
        )
        body = render_json(pick(result, wanted))
        call.ctx.rendered.put(key, body)
    return Response(body, media_type=JSON.media_type)


async def categories_by_path(call: Call) -> Response:
    """GET /categoriesByPath?path=Toys/Cars&delimiter=/ (Ecwid's two doc
    sites spell the parameter delimiter and delimeter)."""
    args = call.args
    delimiter = args["delimiter"] or args["delimeter"] or "/"
    # nothing but delimiters names no category: an empty answer, not an error
    names = [
        part.strip(wire.SPACES) for part in args["path"].split(delimiter) if not wire.blank(part)
    ]
    query = CategoryQuery(
        hidden=args["hidden_categories"],
        offset=args["offset"],
        limit=min(args["limit"], wire.MAX_PAGE),
        enabled_only=call.who.public,
    )
    return await _found(call, query, tuple(names), lambda t: t.by_path(names, query))


async def create_category(call: Call) -> Response:
    changes = wire_input.category_changes(call.args["body"])
    category_id, done = await run_in_threadpool(
        category_cases.create, call.ctx.services, call.store_id, changes
    )
    await call.settle(done)
    return JSON(wire.Id(id=category_id))


async def update_category(call: Call) -> Response:
    changes = wire_input.category_changes(call.args["body"])
    done = await run_in_threadpool(
        category_cases.update, call.ctx.services, call.store_id, call.args["categoryId"], changes
    )
    await call.settle(done)
    return JSON(wire.UpdateCount(updateCount=1))


async def delete_category(call: Call) -> Response:
    done = await run_in_threadpool(
        category_cases.delete, call.ctx.services, call.store_id, call.args["categoryId"]
    )
    await call.settle(done)
    return JSON(wire.DeleteCount(deleteCount=1))


async def profile(call: Call) -> Response:
    store = call.who.store
    return JSON(
        wire.Profile(
            generalInfo=wire.GeneralInfo(storeId=store.id, storeUrl=store.storefront_url),
            settings=wire.StoreSettings(storeName=store.name),
            languages=wire.Languages(
                enabledLanguages=list(store.languages), defaultLanguage=store.default_language
            ),
        )
    )
