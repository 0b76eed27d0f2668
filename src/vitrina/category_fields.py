"""Reading a category from a client's JSON: wire names to our fields, with
checks that name the field that is wrong. Read-only and unknown fields are
ignored, because clients send back whole objects they fetched."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vitrina.errors import BadRequest, ConstraintViolation
from vitrina.numbers import parse_whole

MAX_ID = 2**31 - 1
MAX_NAME = 255
MAX_TEXT = 100_000
MAX_SLUG = 255
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
               "false": False, "no": False, "off": False, "0": False}  # fmt: skip


def read_int(name: str, value: Any, low: int = 0, high: int = MAX_ID) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Field '{name}' must be a whole number, not a boolean")
    if isinstance(value, str):
        parsed = parse_whole(value)
        if parsed is None:
            raise BadRequest(f"Field '{name}' must be a whole number, got {value[:40]!r}")
        value = parsed
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise BadRequest(f"Field '{name}' must be a whole number")
    if not low <= value <= high:
        raise BadRequest(f"Field '{name}' must be between {low} and {high}, got {value}")
    return value


def _text(limit: int) -> Callable[[str, Any], str]:
    def read(name: str, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise BadRequest(f"Field '{name}' must be a string")
        if len(value) > limit:
            raise BadRequest(f"Field '{name}' is longer than {limit} characters")
        return value

    return read


def _translations(name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadRequest(f"Field '{name}' must be an object of language codes to strings")
    if any(len(k) > 16 for k in value):
        raise BadRequest(f"Field '{name}' has a language code longer than 16 characters")
    if sum(len(v) for v in value.values()) > MAX_TEXT:
        raise BadRequest(f"Field '{name}' is longer than {MAX_TEXT} characters in all")
    return dict(value)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    raise BadRequest(f"Field '{name}' must be true or false")


def _product_ids(name: str, value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest(f"Field '{name}' must be a list of product ids")
    if len(value) > 10_000:
        raise BadRequest(f"Field '{name}' has more than 10000 product ids")
    ids = (read_int(name, v, low=1, high=2**53 - 1) for v in value)
    return tuple(dict.fromkeys(ids))


def _parent(name: str, value: Any) -> int | None:
    if value is None:
        return None
    return read_int(name, value) or None


def _order(name: str, value: Any) -> int:
    return read_int(name, value, low=-(2**31), high=MAX_ID)


_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "parentId": ("parent_id", _parent),
    "orderBy": ("order_by", _order),
    "nameTranslated": ("name_translated", _translations),
    "description": ("description", _text(MAX_TEXT)),
    "descriptionTranslated": ("description_translated", _translations),
    "enabled": ("enabled", _bool),
    "productIds": ("product_ids", _product_ids),
    "customSlug": ("custom_slug", _text(MAX_SLUG)),
    "seoTitle": ("seo_title", _text(MAX_TEXT)),
    "seoTitleTranslated": ("seo_title_translated", _translations),
    "seoDescription": ("seo_description", _text(MAX_TEXT)),
    "seoDescriptionTranslated": ("seo_description_translated", _translations),
}


def read_alt(value: Any) -> dict[str, Any]:
    if value is None:
        return {"alt_main": "", "alt_translated": {}}
    if not isinstance(value, dict):
        raise BadRequest("Field 'alt' must be an object with 'main' and 'translated'")
    values: dict[str, Any] = {}
    if "main" in value:
        values["alt_main"] = _text(MAX_TEXT)("alt.main", value["main"])
    if "translated" in value:
        values["alt_translated"] = _translations("alt.translated", value["translated"])
    return values


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("Field 'name' must be a non-empty string")
    if len(value) > MAX_NAME:
        raise ConstraintViolation(
            f"Field 'name' is {len(value)} characters long; the limit is {MAX_NAME}"
        )
    return value


def read_category(body: Mapping[str, Any], creating: bool) -> dict[str, Any]:
    """The writable fields present in ``body``, checked, under our names."""
    values: dict[str, Any] = {}
    if "name" in body or creating:
        if "name" not in body:
            raise BadRequest("Field 'name' is required")
        values["name"] = _name(body["name"])
    for wire, (field, read) in _FIELDS.items():
        if wire in body:
            values[field] = read(wire, body[wire])
    if "alt" in body:
        values.update(read_alt(body["alt"]))
    return values
