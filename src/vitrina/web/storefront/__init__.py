"""The storefront preview: the page a category's ``url`` opens.

A store made by ``vitrina store create`` or ``vitrina demo`` has the URL
``<public URL>/store/<id>``, and a category's ``url`` is that base in one of
Ecwid's three forms (``category_url`` in web/shapes.py, the one home of
them):

    …/store/1/#!/toys/c/1   default: the browser sends only /store/1/; the
                            store page's script (storefront/page.js) opens
                            the category the fragment names
    …/store/1/toys-c1       cleanUrls
    …/store/1/toys          cleanUrls and slugsWithoutIds

Pages are rendered here, on the event loop, from the tree of the read cache
the API uses (web/caches.py), in the store's default language: the name,
the description's text, the image (``srcset`` of its three fitted
variants), the visible subcategories, and links between them in the form
the page was opened with. A disabled category, or one inside a disabled
category, is a 404, as are stores whose URL points elsewhere: their pages
are there. Every text is escaped; the page loads only its own stylesheet
and script, under the console's Content-Security-Policy."""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.tree import CategoryTree
from vitrina.domain.values import Category, Store
from vitrina.web.category_json import View, category_slug, category_url, file_url
from vitrina.web.console import security_headers
from vitrina.web.context import Context

MOST_SHOWN = 200  # categories listed on one page; a real storefront pages them
_STORE_ID = re.compile(r"[1-9][0-9]{0,9}")
_WITH_ID = re.compile(r"(.*)-c([1-9][0-9]{0,9})", re.DOTALL)
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# From a page at /store/<id>/…, where the site's own files are (relative, so
# a proxy that serves vitrina under a path prefix keeps working).
_SITE = "../../"


@dataclass(frozen=True)
class _Shop:
    ctx: Context
    store: Store
    version: int
    tree: CategoryTree


# -- finding ------------------------------------------------------------------


async def _shop(request: Request) -> _Shop | None:
    """The store in the path, with its current tree; None when it has no
    pages here (unknown, or its URL points elsewhere)."""
    ctx = Context.of(request)
    text = request.path_params["store_id"]
    if not _STORE_ID.fullmatch(text) or int(text) > wire.MAX_CATEGORY_ID:
        return None
    store = await run_in_threadpool(ctx.services.metadata.stores.get_store, int(text))
    if store is None or not served_here(store):
        return None
    version, tree = await ctx.catalog.current(store.id)
    return _Shop(ctx, store, version, tree)


def served_here(store: Store) -> bool:
    """Whether the store's URL is vitrina's own ``…/store/<id>`` (the host is
    not compared: the public URL may be a proxy's)."""
    return urlsplit(store.storefront_url).path.rstrip("/").endswith(f"/store/{store.id}")


# The visible categories of a tree (enabled, and so is every one above
# them), found once per tree and catalog version by one walk down from the
# roots: a page's checks then cost a lookup, however deep the tree.
_VISIBLE: weakref.WeakKeyDictionary[CategoryTree, tuple[int, frozenset[int]]] = (
    weakref.WeakKeyDictionary()
)


def visible_ids(tree: CategoryTree, version: int) -> frozenset[int]:
    known = _VISIBLE.get(tree)
    if known is not None and known[0] == version:
        return known[1]
    found: list[int] = []
    queue = [c for c in tree.children.get(None, ()) if tree.by_id[c].enabled]
    while queue:
        category_id = queue.pop()
        found.append(category_id)
        queue.extend(c for c in tree.children.get(category_id, ()) if tree.by_id[c].enabled)
    shown = frozenset(found)
    _VISIBLE[tree] = (version, shown)
    return shown


def visible(shop: _Shop, category: Category) -> bool:
    """Enabled, and so is every category above it."""
    return category.id in visible_ids(shop.tree, shop.version)


def _link(category: Category, with_ids: bool) -> str:
    """The category's address relative to the store page: the ``url`` form
    of web/shapes.py, from the store's own folder."""
    view = View(files_base="", store_url=".", clean_urls=True, slugs_without_ids=not with_ids)
    return category_url(category, view)


# The slug-only form names no id: an index of the visible categories by slug,
# built once per tree and catalog version (the first in the store's order
# wins where two share a slug).
_SLUGS: weakref.WeakKeyDictionary[CategoryTree, tuple[int, dict[str, Category]]] = (
    weakref.WeakKeyDictionary()
)


def _by_slug(shop: _Shop) -> dict[str, Category]:
    known = _SLUGS.get(shop.tree)
    if known is not None and known[0] == shop.version:
        return known[1]
    index: dict[str, Category] = {}
    for category in shop.tree.ordered:
        if visible(shop, category):
            index.setdefault(category_slug(category), category)
    _SLUGS[shop.tree] = (shop.version, index)
    return index


def _find(shop: _Shop, slug: str) -> tuple[Category, bool] | None:
    """The category a clean URL's last part names, and whether its links
    carry ids: ``toys-c1`` (the id form, when the slug is the category's),
    else ``toys`` (the slug form), else ``old-name-c1`` (the id form after
    a rename)."""
    with_id = _WITH_ID.fullmatch(slug)
    by_id = shop.tree.by_id.get(int(with_id[2])) if with_id else None
    if by_id is not None and with_id is not None and category_slug(by_id) == with_id[1]:
        return by_id, True
    named = _by_slug(shop).get(slug)
    if named is not None:
        return named, False
    return (by_id, True) if by_id is not None else None


# -- rendering ----------------------------------------------------------------


class _Text(HTMLParser):
    """A description's paragraphs as text: Ecwid's descriptions are HTML,
    shown here without their markup (block tags make paragraphs; scripts
    and styles are dropped)."""

    _BLOCKS = frozenset(("p", "div", "br", "li", "ul", "ol", "tr", "blockquote", "section", "hr"))
    _BLOCKS |= {f"h{level}" for level in range(1, 7)}
    _DROPPED = frozenset(("script", "style", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = [""]
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._DROPPED:
            self._dropping += 1
        elif tag in self._BLOCKS:
            self.paragraphs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._DROPPED:
            self._dropping = max(0, self._dropping - 1)
        elif tag in self._BLOCKS:
            self.paragraphs.append("")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.paragraphs[-1] += data


def description_paragraphs(description: str) -> list[str]:
    parser = _Text()
    parser.feed(description)
    parser.close()
    found = [" ".join(p.split()) for p in parser.paragraphs]
    return [p for p in found if p]


def _image(shop: _Shop, category: Category, main: bool) -> str:
    """An ``<img>`` of the category's image, sized: the 1200 px fit with the
    other two fits in ``srcset`` (main), or the thumbnail (a card). None
    while an async upload waits: its URL is the caller's, off this site."""
    image = category.image
    if image is None or image.pending_url is not None or not image.files:
        return "<span class=no-image></span>" if not main else ""
    settings = shop.ctx.settings
    view = View(settings.effective_files_url, "", stored_once_base=settings.stored_once_files_url)
    alt = escape(category.alt_main or category.name)
    if not main:
        thumb = image.file("thumbnail")
        return (
            f'<img src="{escape(file_url(view, shop.store.id, thumb))}" '
            f'width={thumb.width} height={thumb.height} alt="" loading=lazy>'
        )
    fitted = [image.file(role) for role in ("thumbnail", "hd", "image")]
    srcset = ", ".join(f"{escape(file_url(view, shop.store.id, f))} {f.width}w" for f in fitted)
    largest = fitted[-1]
    return (
        f'<figure><img src="{escape(file_url(view, shop.store.id, largest))}" '
        f'srcset="{srcset}" sizes="(min-width: 48rem) 28rem, 100vw" '
        f'width={largest.width} height={largest.height} alt="{alt}"></figure>'
    )


def _cards(shop: _Shop, categories: Iterable[Category], with_ids: bool, heading: str) -> str:
    shown = [c for c in categories if visible(shop, c)]
    if not shown:
        return ""
    items = "".join(
        f'<li><a href="{escape(_link(c, with_ids))}">{_image(shop, c, main=False)}'
        f"<span>{escape(c.name)}</span></a></li>"
        for c in shown[:MOST_SHOWN]
    )
    more = (
        f"<p class=more>And {len(shown) - MOST_SHOWN:,} more: the preview lists the first "
        f"{MOST_SHOWN}.</p>"
        if len(shown) > MOST_SHOWN
        else ""
    )
    return f"<h2>{heading}</h2><ul class=cards>{items}</ul>{more}"


def _children(tree: CategoryTree, parent: int | None) -> list[Category]:
    found = [tree.by_id[c] for c in tree.children.get(parent, ())]
    return sorted(found, key=lambda c: (c.order_by, c.id))


def _page(shop: _Shop | None, title: str, main: str, script: bool = False, depth: int = 0) -> str:
    """The page around ``main``, whose links are relative to the store's
    folder (``./toys-c1``). ``depth``: how many folders below it the page is
    (a ``customSlug`` may hold ``/``: …/store/1/toys/kites-c2 is one down)."""
    store = shop.store if shop is not None else None
    up = "../" * depth
    site = up + _SITE
    head = (
        "<!doctype html><html lang="
        f'"{escape(store.default_language if store else "en")}"><head><meta charset=utf-8>'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel=stylesheet href="{site}storefront/page.css">'
        f'<link rel=icon href="{site}console/favicon.svg" type="image/svg+xml">'
        + (f'<script src="{site}storefront/page.js" defer></script>' if script else "")
        + "</head><body>"
    )
    bar = (
        f'<header><a class=store href="./">{escape(store.name)}</a>'
        "<span class=badge>storefront preview</span></header>"
        if store is not None
        else "<header><span class=badge>storefront preview</span></header>"
    )
    foot = (
        "<footer>A preview of the storefront, served by vitrina from the catalog its API "
        "holds. On Ecwid, this URL is the shop's real storefront.</footer>"
    )
    body = f"{bar}<main>{main}</main>"
    if depth:  # every text is escaped: href=" begins only the page's own links
        body = body.replace('href="./', f'href="{up}')
    return f"{head}{body}{foot}</body></html>"


def _answer(html: str, ctx: Context | None, status: int = 200) -> Response:
    headers = security_headers(ctx.settings) if ctx is not None else {}
    return Response(html, status, headers=headers, media_type="text/html; charset=utf-8")


def _not_found(request: Request, shop: _Shop | None) -> Response:
    back = '<p><a href="./">The store\'s categories</a></p>' if shop is not None else ""
    main = f"<h1>Not found</h1><p>No such category in this store's storefront.</p>{back}"
    page = _page(shop, "Not found", main, depth=_depth(request))
    return _answer(page, Context.of(request), 404)


def _depth(request: Request) -> int:
    """How many folders below the store's the page at ``request`` is, as the
    browser sees it: a slug's ``/`` is ``%2F`` in the URLs vitrina gives out
    (one folder, the store's), a ``/`` typed as such is a folder more."""
    slug: str = request.path_params.get("slug", "")
    if "/" not in slug:
        return 0
    raw = bytes(request.scope.get("raw_path", b"")).decode("latin-1")
    start = raw.find(f"/store/{request.path_params['store_id']}/")
    if start < 0:
        return slug.count("/")
    return raw.count("/", start) - 3


MOST_CRUMBS = 20  # ancestors a trail shows


def _crumbs(shop: _Shop, category: Category, with_ids: bool) -> str:
    above: list[Category] = []
    parent = category.parent_id
    while parent is not None and parent in shop.tree.by_id and len(above) < MOST_CRUMBS:
        above.append(shop.tree.by_id[parent])
        parent = shop.tree.by_id[parent].parent_id
    links = [f'<a href="./">{escape(shop.store.name)}</a>']
    if parent is not None:  # deeper than a trail shows: the nearest ones only
        links.append("&hellip;")
    links += [f'<a href="{escape(_link(c, with_ids))}">{escape(c.name)}</a>' for c in above[::-1]]
    links.append(f"<span aria-current=page>{escape(category.name)}</span>")
    return f"<nav aria-label=Breadcrumb>{' &rsaquo; '.join(links)}</nav>"


# -- handlers -----------------------------------------------------------------


async def store_redirect(request: Request) -> Response:
    """``…/store/1`` (the store's URL as stored) → ``…/store/1/``: relative,
    nothing taken from the Host header."""
    text = request.path_params["store_id"]
    if not _STORE_ID.fullmatch(text):
        return _not_found(request, None)
    return Response(status_code=308, headers={"Location": f"{text}/"})


async def store_page(request: Request) -> Response:
    """The store's root categories; its script opens a ``#!/…/c/<id>`` fragment."""
    shop = await _shop(request)
    if shop is None:
        return _not_found(request, None)
    main = f"<h1>{escape(shop.store.name)}</h1>" + (
        _cards(shop, _children(shop.tree, None), True, "Categories")
        or "<p class=empty>No categories yet.</p>"
    )
    return _answer(_page(shop, shop.store.name, main, script=True), shop.ctx)


async def category_page(request: Request) -> Response:
    """A category by the last part of a clean URL (``toys-c1`` or ``toys``)."""
    shop = await _shop(request)
    if shop is None:
        return _not_found(request, None)
    found = _find(shop, request.path_params["slug"])
    if found is None or not visible(shop, found[0]):
        return _not_found(request, shop)
    category, with_ids = found
    text = "".join(f"<p>{escape(p)}</p>" for p in description_paragraphs(category.description))
    main = (
        _crumbs(shop, category, with_ids)
        + f"<h1>{escape(category.name)}</h1>"
        + f"<div class=about>{_image(shop, category, main=True)}"
        + (f"<div class=description>{text}</div>" if text else "")
        + "</div>"
        + _cards(shop, _children(shop.tree, category.id), with_ids, "Subcategories")
    )
    page = _page(shop, f"{category.name} · {shop.store.name}", main, depth=_depth(request))
    return _answer(page, shop.ctx)


@cache
def _asset(name: str) -> tuple[bytes, str] | None:
    """(bytes, ETag) of a file of web/storefront, or None."""
    if "/" in name or name.startswith(".") or not any(name.endswith(t) for t in _TYPES):
        return None
    path = resources.files("vitrina.web").joinpath("storefront", name)
    if not path.is_file():
        return None
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    found = _asset(name)
    ctx = Context.of(request)
    if found is None:
        return _answer(_page(None, "Not found", "<h1>Not found</h1>"), ctx, 404)
    body, etag = found
    headers = {**security_headers(ctx.settings), "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_TYPES[name[name.rindex(".") :]], headers=headers)
