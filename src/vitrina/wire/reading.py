"""Reading what clients send into the request structs of vitrina.wire.

The structs are the rules (types, ranges, lengths); this module adds only
what Ecwid's clients rely on and a schema cannot say:

- numbers and booleans may come as text (``"12"``, ``"yes"``, ``"off"``, in
  vitrina.domain.numbers' grammar), and integral floats as whole numbers (``3.0``);
- a msgspec error becomes a sentence naming the field (``Field 'orderBy'
  must be at most 2147483647``);
- a name over 255 characters is a 409, as Ecwid answers, not a 400;
- the sum of a field's translations has the same limit as one text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType
from msgspec import inspect as mi

from vitrina import wire
from vitrina.domain.errors import BadRequest, ConstraintViolation, VitrinaError
from vitrina.domain.numbers import Whole, read_bool
from vitrina.domain.values import KEEP, CategoryChanges, Keep

T = TypeVar("T", bound=msgspec.Struct)
# a number written as text, in the usual way (vitrina.domain.numbers); msgspec then
# checks the field's own range, which the OpenAPI document spells for text too
_ANY_WHOLE = Whole(-(2**63), 2**63 - 1)


def read(body: dict[str, Any], kind: type[T]) -> T:
    """``body`` (a decoded JSON object) as a ``kind``, or a 400 that says what
    was wrong."""
    try:
        return msgspec.convert(_lenient(body, _info(kind)), kind, strict=True)
    except msgspec.ValidationError as exc:
        raise _refusal(str(exc)) from None


def read_exact(body: Any, kind: type[T]) -> T:
    """``body`` as a ``kind`` as it is, without the leniencies of ``read``
    (where a text must stay text: a batch request's ``id``), or a 400 that
    says what was wrong."""
    try:
        return msgspec.convert(body, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise _refusal(str(exc)) from None


@cache
def _info(kind: type) -> mi.Type:
    return mi.type_info(kind)


def _lenient(value: Any, info: mi.Type) -> Any:
    """``value`` with text spellings of numbers and booleans, wherever ``info``
    expects one, turned into the number or boolean. What cannot be read is left
    as it is, for msgspec to refuse with the field's path."""
    if isinstance(info, mi.Metadata):
        return _lenient(value, info.type)
    if isinstance(info, mi.UnionType):
        for option in info.types:
            if not isinstance(option, mi.NoneType):
                value = _lenient(value, option)
        return value
    if isinstance(info, mi.IntType):
        if isinstance(value, str):
            number = _ANY_WHOLE.read(value)
            return value if number is None else number
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(info, mi.BoolType):
        if isinstance(value, str):
            flag = read_bool(value)
            return value if flag is None else flag
    elif isinstance(info, mi.ListType) and isinstance(value, list):
        return [_lenient(item, info.item_type) for item in value]
    elif isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        return {k: _lenient(v, fields[k]) if k in fields else v for k, v in value.items()}
    return value


_KINDS = {"int": "a whole number", "str": "a string", "bool": "true or false",
          "object": "an object", "array": "a list", "null": "null",
          "float": "a fractional number"}  # fmt: skip
_GOT = {**_KINDS, "bool": "a boolean"}
_PHRASES = {
    repr(wire.NOT_BLANK)[1:-1]: "must have a character other than spaces",
    "^/": "must start with / (a path below /api/v3/{storeId})",
}
_ERROR = re.compile(
    r"(?P<what>.*?)(?: - at `(?P<key>key)` in `\$(?P<keypath>.*)`| - at `\$(?P<path>.*)`)?$"
)
_TYPE = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_BOUND = re.compile(r"Expected `\w+` (?P<op>[<>]=?) (?P<limit>-?\d+)")
_LENGTH = re.compile(r"Expected `(?P<kind>\w+)` of length (?P<op>[<>]=?) (?P<limit>\d+)")
_PATTERN = re.compile(r"Expected `str` matching regex '(?P<regex>.*)'")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_OPS = {"<=": "at most", ">=": "at least", "<": "less than", ">": "more than"}


def _field(path: str) -> str:
    """``.alt.main`` → ``'alt.main'``, ``.productIds[3]`` → ``'productIds' item 3``."""
    name, _, index = path.lstrip(".").partition("[")
    if index == "...]":  # a value in an object of translations
        return f"'{name}' value"
    return f"'{name}'" + (f" item {index.rstrip(']')}" if index else "")


def _kind(names: str, words: dict[str, str] = _KINDS) -> str:
    return " or ".join(words.get(n, n) for n in names.split(" | "))


def _refusal(message: str) -> VitrinaError:
    parts = _ERROR.match(message)
    assert parts is not None  # the pattern matches any text
    what, path = parts["what"], parts["path"] or parts["keypath"] or ""
    field = f"Field {_field(path)}" if path else "The body"
    if missing := _MISSING.match(what):
        name = f"{path.lstrip('.')}.{missing['field']}" if path else missing["field"]
        return BadRequest(f"Field '{name}' is required")
    if parts["key"]:
        if length := _LENGTH.match(what):
            return BadRequest(
                f"{field} has a key (a language code) longer than {length['limit']} characters"
            )
        return BadRequest(f"{field} must have text keys (language codes)")
    if kind := _TYPE.match(what):
        return BadRequest(f"{field} must be {_kind(kind['want'])}, got {_kind(kind['got'], _GOT)}")
    if length := _LENGTH.match(what):
        if path == ".name":
            return ConstraintViolation(f"Field 'name' is longer than {length['limit']} characters")
        unit = "characters long" if length["kind"] == "str" else "items"
        return BadRequest(f"{field} must be {_OPS[length['op']]} {length['limit']} {unit}")
    if bound := _BOUND.match(what):
        return BadRequest(f"{field} must be {_OPS[bound['op']]} {bound['limit']}")
    if pattern := _PATTERN.match(what):
        return BadRequest(f"{field} {_PHRASES.get(pattern['regex'], 'has the wrong form')}")
    return BadRequest(f"{field} is not valid: {what}")


# -- to the use cases' values -------------------------------------------------


def _translations(field: str, value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if sum(len(text) for text in value.values()) > wire.MAX_TEXT:
        raise BadRequest(f"Field '{field}' is longer than {wire.MAX_TEXT} characters in all")
    return dict(value)


def _text(value: str | None) -> str:
    return value or ""


def alt_changes(alt: wire.AltInput | None) -> CategoryChanges:
    """What an ``alt`` object sets (null clears both texts)."""
    if alt is None:
        return CategoryChanges(alt_main="", alt_translated={})
    return CategoryChanges(
        alt_main=KEEP if alt.main is UNSET else _text(alt.main),
        alt_translated=(
            KEEP if alt.translated is UNSET else _translations("alt.translated", alt.translated)
        ),
    )


def category_changes(data: wire.CategoryInput) -> CategoryChanges:
    """What a category body sets, field by field (absent: kept; null clears)."""

    def text(value: str | UnsetType | None) -> str | Keep:
        return KEEP if value is UNSET else _text(value)

    def texts(name: str, value: dict[str, str] | UnsetType | None) -> dict[str, str] | Keep:
        return KEEP if value is UNSET else _translations(name, value)

    alt = CategoryChanges() if data.alt is UNSET else alt_changes(data.alt)
    return CategoryChanges(
        name=text(data.name),
        parent_id=KEEP if data.parentId is UNSET else (data.parentId or None),
        order_by=KEEP if data.orderBy is UNSET else data.orderBy,
        name_translated=texts("nameTranslated", data.nameTranslated),
        description=text(data.description),
        description_translated=texts("descriptionTranslated", data.descriptionTranslated),
        enabled=KEEP if data.enabled is UNSET else data.enabled,
        product_ids=(
            KEEP if data.productIds is UNSET else tuple(dict.fromkeys(data.productIds or ()))
        ),
        custom_slug=text(data.customSlug),
        seo_title=text(data.seoTitle),
        seo_title_translated=texts("seoTitleTranslated", data.seoTitleTranslated),
        seo_description=text(data.seoDescription),
        seo_description_translated=texts("seoDescriptionTranslated", data.seoDescriptionTranslated),
        alt_main=alt.alt_main,
        alt_translated=alt.alt_translated,
    )
