"""The JSON shape of a category, as Ecwid draws it (docs/differences.md)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from vitrina import wire
from vitrina.domain.naming import public_path
from vitrina.domain.tree import CategoryTree
from vitrina.domain.values import Category, Image, StoredFile


@dataclass(frozen=True)
class View:
    """How the caller asked to see categories."""

    files_base: str
    store_url: str
    # where a file stored once (its bytes are another file's) is served:
    # vitrina, which resolves it, even where files_base is a CDN or a bucket
    # that would look for it under its own name; "" is files_base
    stored_once_base: str = ""
    clean_urls: bool = False
    slugs_without_ids: bool = False
    lang: str = ""
    product_ids: bool = True
    languages: tuple[str, ...] = ("en",)  # the store's; the first is the default


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower()
    return slug[:100] or "category"


def category_slug(category: Category) -> str:
    """The slug a category's URL carries: its ``customSlug``, else one made
    of its name; never ``.`` or ``..``, which a browser would read as this
    folder or the one above."""
    if category.custom_slug in ("", ".", ".."):
        return slugify(category.name)
    return category.custom_slug


def category_url(category: Category, view: View) -> str:
    """The category's page in the store, in the form ``view`` asks for; the
    slug is percent-encoded, one segment of the path (a ``customSlug`` of
    ``../admin`` or ``a?b#c`` stays inside the store's URL)."""
    slug = quote(category_slug(category), safe="-_.~")
    base = view.store_url.rstrip("/")
    if not view.clean_urls:
        return f"{base}/#!/{slug}/c/{category.id}"
    if view.slugs_without_ids:
        return f"{base}/{slug}"
    return f"{base}/{slug}-c{category.id}"


def file_url(view: View, store_id: int, file: StoredFile) -> str:
    base = view.files_base
    if file.blob_id is not None and view.stored_once_base:
        base = view.stored_once_base
    return base + public_path(store_id, file.id, file.ext)


def _image_fields(image: Image, view: View) -> dict[str, Any]:
    if image.pending_url is not None:
        url = image.pending_url
        size = wire.Size(url=url, width=image.pending_width, height=image.pending_height)
        return {
            "thumbnailUrl": url,
            "thumbnail": size,
            "hdThumbnailUrl": url,
            "imageUrl": url,
            "originalImageUrl": url,
            "originalImage": size,
        }
    urls = {f.role: file_url(view, image.store_id, f) for f in image.files}
    thumbnail, original = image.file("thumbnail"), image.file("original")
    fields: dict[str, Any] = {
        "thumbnailUrl": urls["thumbnail"],
        "thumbnail": wire.Size(
            url=urls["thumbnail"], width=thumbnail.width, height=thumbnail.height
        ),
        "hdThumbnailUrl": urls["hd"],
        "imageUrl": urls["image"],
        "originalImageUrl": urls["original"],
        "originalImage": wire.Size(
            url=urls["original"], width=original.width, height=original.height
        ),
    }
    if image.border is not None:
        fields["borderInfo"] = wire.BorderInfo(
            dominatingColor=wire.Colour(**image.border["dominatingColor"]),
            homogeneity=image.border["homogeneity"],
        )
    return fields


def _translated(text: str, translations: Any, lang: str) -> str:
    if lang and isinstance(translations, dict) and translations.get(lang):
        return str(translations[lang])
    return text


def _every_language(main: str, translations: Any, languages: tuple[str, ...]) -> dict[str, str]:
    """A key for each enabled language (missing ones ""), the default
    language's holding the main value; other stored languages follow."""
    shown = {lang: str(translations.get(lang, "")) for lang in languages}
    shown[languages[0]] = main
    for lang, text in translations.items():
        shown.setdefault(lang, text)
    return shown


def category_json(category: Category, tree: CategoryTree, view: View) -> wire.Category:
    lang, languages = view.lang, view.languages
    count = (
        tree.product_count(category.id) if category.id in tree.by_id else len(category.product_ids)
    )
    optional: dict[str, Any] = {}
    if category.parent_id is not None:
        optional["parentId"] = category.parent_id
    if category.image is not None:
        optional.update(_image_fields(category.image, view))
    if view.product_ids:  # Ecwid documents both only with productIds=true
        optional["enabledProductCount"] = count
        optional["productIds"] = list(category.product_ids)
    if category.image_external_id is not None:
        optional["imageExternalId"] = category.image_external_id
    alt_main = _translated(category.alt_main, category.alt_translated, lang)
    return wire.Category(
        id=category.id,
        orderBy=category.order_by,
        name=_translated(category.name, category.name_translated, lang),
        nameTranslated=_every_language(category.name, category.name_translated, languages),
        url=category_url(category, view),
        productCount=count,
        productCountWithoutSubcategories=len(category.product_ids),
        description=_translated(category.description, category.description_translated, lang),
        descriptionTranslated=_every_language(
            category.description, category.description_translated, languages
        ),
        enabled=category.enabled,
        seoTitle=_translated(category.seo_title, category.seo_title_translated, lang),
        seoTitleTranslated=_every_language(
            category.seo_title, category.seo_title_translated, languages
        ),
        seoDescription=_translated(
            category.seo_description, category.seo_description_translated, lang
        ),
        seoDescriptionTranslated=_every_language(
            category.seo_description, category.seo_description_translated, languages
        ),
        alt=wire.Alt(main=alt_main or wire.UNSET, translated=dict(category.alt_translated)),
        autogeneratedSlug=slugify(category.name),
        customSlug=category.custom_slug,
        isSampleCategory=False,
        **optional,
    )
