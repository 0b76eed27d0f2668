"""Category endpoints (SPEC.md §5) and the store profile."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitrina import categories as category_cases
from vitrina import wire, wire_input
from vitrina.catalog import MAX_PAGE, CategoryQuery, CategoryTree
from vitrina.errors import BadRequest, CategoryNotFound
from vitrina.interfaces import Category
from vitrina.web.auth import Caller
from vitrina.web.context import Context
from vitrina.web.params import path_id, query_bool, query_ids, query_int, query_text, read_json
from vitrina.web.responses import JSON, render_json
from vitrina.web.shapes import View, category_json, parse_response_fields, pick

_ENVELOPE = {"total", "count", "offset", "limit", "items"}


def _view(request: Request, ctx: Context, caller: Caller, product_ids: bool) -> View:
    if request.scope.get("query_string"):
        return _make_view(request, ctx, caller, product_ids)
    # the storefront's usual read asks nothing of the view: one per caller,
    # the same object every time (cheap to hash and compare in a cache key)
    view = caller.views.get(product_ids)
    if view is None:
        view = caller.views[product_ids] = _make_view(request, ctx, caller, product_ids)
    return view


def _make_view(request: Request, ctx: Context, caller: Caller, product_ids: bool) -> View:
    return View(
        files_base=ctx.settings.effective_files_url,
        store_url=query_text(request, "baseUrl") or caller.store.storefront_url,
        # docs.ecwid.com spells it cleanURLs, the API reference cleanUrls
        clean_urls=query_bool(request, "cleanUrls", False)
        or query_bool(request, "cleanURLs", False),
        slugs_without_ids=query_bool(request, "slugsWithoutIds", False),
        lang=(query_text(request, "lang") or "")[:16],
        product_ids=product_ids,
        languages=caller.store.languages,
    )


async def get_category(request: Request) -> Response:
    ctx = Context.of(request)
    store_id, category_id = path_id(request, "storeId"), path_id(request, "categoryId")
    caller = await ctx.auth.require(request, store_id, "read_catalog")
    view = _view(request, ctx, caller, product_ids=True)
    fields = query_text(request, "responseFields")
    wanted = parse_response_fields(fields) if fields else None
    _version, tree = await ctx.catalog.current(store_id)
    category = tree.by_id.get(category_id)
    if category is None or (caller.public and not category.enabled):
        raise CategoryNotFound(category_id)
    # An answer stays right until a write touches the category itself (its
    # version) or what its counts depend on (the tree's shape).
    key = (store_id, category_id, category.version, tree.shape, view, fields)
    body = ctx.rendered.get(key)
    if body is None:
        body = render_json(pick(category_json(category, tree, view), wanted))
        ctx.rendered.put(key, body)
    return Response(body, media_type=JSON.media_type)


async def search_categories(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    caller = await ctx.auth.require(request, store_id, "read_catalog")
    parents: set[int | None] = set()
    parent = query_int(request, "parent", -1, low=0) if "parent" in request.query_params else -1
    if parent >= 0:
        parents.add(parent or None)
    for parent_id in query_ids(request, "parentIds") or ():
        parents.add(parent_id or None)
    category_ids = query_ids(request, "categoryIds")
    offset, limit = _paging(request)
    query = CategoryQuery(
        parents=frozenset(parents),
        with_subcategories=query_bool(request, "withSubcategories", False),
        hidden=query_bool(request, "hidden_categories", False),
        keyword=request.query_params.get("keyword", "").strip(),
        category_ids=frozenset(category_ids) if category_ids is not None else None,
        offset=offset,
        limit=limit,
        enabled_only=caller.public,
    )
    return await _found(request, ctx, caller, store_id, query, "search", lambda t: t.search(query))


def _paging(request: Request) -> tuple[int, int]:
    """offset and limit (at most MAX_PAGE), as search and categoriesByPath read them."""
    limit = query_int(request, "limit", MAX_PAGE, low=1)
    return query_int(request, "offset", 0), min(limit, MAX_PAGE)


async def _found(
    request: Request,
    ctx: Context,
    caller: Caller,
    store_id: int,
    query: CategoryQuery,
    what: object,
    find: Callable[[CategoryTree], tuple[int, list[Category]]],
) -> Response:
    """A search result (the envelope, the page, the view and responseFields),
    rendered once per catalog version: ``what`` and ``query`` say what was
    asked, ``find`` finds it in the tree."""
    view = _view(request, ctx, caller, product_ids=query_bool(request, "productIds", False))
    fields = query_text(request, "responseFields")
    wanted = parse_response_fields(fields) if fields else None
    if wanted is not None and not wanted.keys() & _ENVELOPE:
        wanted = {"total": None, "count": None, "offset": None, "limit": None, "items": wanted}
    version, tree = await ctx.catalog.current(store_id)
    # any write to the store changes its version: an answer kept under the
    # old one is never served again (and ages out of the cache)
    key = (store_id, version, what, query, view, fields)
    body = ctx.rendered.get(key)
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
        ctx.rendered.put(key, body)
    return Response(body, media_type=JSON.media_type)


async def categories_by_path(request: Request) -> Response:
    """GET /categoriesByPath?path=Toys/Cars&delimiter=/ (turn 2; Ecwid's two doc
    sites spell the parameter delimiter and delimeter)."""
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    caller = await ctx.auth.require(request, store_id, "read_catalog")
    path = request.query_params.get("path", "")
    delimiter = request.query_params.get("delimiter") or request.query_params.get("delimeter")
    delimiter = delimiter or "/"
    if wire.blank(path):
        raise BadRequest("Parameter 'path' is required: category names separated by the delimiter")
    # nothing but delimiters names no category: an empty answer, not an error
    names = [part.strip(wire.SPACES) for part in path.split(delimiter) if not wire.blank(part)]
    offset, limit = _paging(request)
    query = CategoryQuery(
        hidden=query_bool(request, "hidden_categories", False),
        offset=offset,
        limit=limit,
        enabled_only=caller.public,
    )
    return await _found(
        request, ctx, caller, store_id, query, tuple(names), lambda t: t.by_path(names, query)
    )


async def create_category(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    await ctx.auth.require(request, store_id, "create_catalog")
    body = wire_input.read(await read_json(request, ctx.settings.max_json_bytes), wire.NewCategory)
    values = wire_input.category_values(body)
    category_id = await run_in_threadpool(category_cases.create, ctx.services, store_id, values)
    await ctx.catalog.refresh(store_id)
    return JSON(wire.Id(id=category_id))


async def update_category(request: Request) -> Response:
    ctx = Context.of(request)
    store_id, category_id = path_id(request, "storeId"), path_id(request, "categoryId")
    await ctx.auth.require(request, store_id, "update_catalog")
    body = wire_input.read(
        await read_json(request, ctx.settings.max_json_bytes), wire.CategoryInput
    )
    values = wire_input.category_values(body)
    await run_in_threadpool(category_cases.update, ctx.services, store_id, category_id, values)
    await ctx.catalog.refresh(store_id)
    return JSON(wire.UpdateCount(updateCount=1))


async def delete_category(request: Request) -> Response:
    ctx = Context.of(request)
    store_id, category_id = path_id(request, "storeId"), path_id(request, "categoryId")
    await ctx.auth.require(request, store_id, "update_catalog")
    await run_in_threadpool(category_cases.delete, ctx.services, store_id, category_id)
    await ctx.catalog.refresh(store_id)
    return JSON(wire.DeleteCount(deleteCount=1))


async def profile(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    caller = await ctx.auth.require(request, store_id, None)
    store = caller.store
    return JSON(
        wire.Profile(
            generalInfo=wire.GeneralInfo(storeId=store.id, storeUrl=store.storefront_url),
            settings=wire.StoreSettings(storeName=store.name),
            languages=wire.Languages(
                enabledLanguages=list(store.languages), defaultLanguage=store.default_language
            ),
        )
    )


async def require_category(ctx: Context, store_id: int, category_id: int) -> Category:
    category = await run_in_threadpool(
        ctx.services.metadata.catalog.get_category, store_id, category_id
    )
    if category is None:
        raise CategoryNotFound(category_id)
    return category
