"""Reading what clients send into the request structs of vitrina.wire.

The structs are the rules (types, ranges, lengths); this module adds only
what Ecwid's clients rely on and a schema cannot say:

- numbers and booleans may come as text (``"12"``, ``"yes"``, ``"off"``, in
  vitrina.numbers' grammar), and integral floats as whole numbers (``3.0``);
- a msgspec error becomes a sentence naming the field (``Field 'orderBy'
  must be at most 2147483647``);
- a name over 255 characters is a 409 (SPEC.md §3), not a 400;
- the sum of a field's translations has the same limit as one text.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET
from msgspec import inspect as mi

from vitrina import wire
from vitrina.errors import BadRequest, ConstraintViolation, VitrinaError
from vitrina.numbers import Whole, read_bool

T = TypeVar("T", bound=msgspec.Struct)
# a number written as text, in the usual way (vitrina.numbers); msgspec then
# checks the field's own range, which the OpenAPI document spells for text too
_ANY_WHOLE = Whole(-(2**63), 2**63 - 1)


def read(body: dict[str, Any], kind: type[T]) -> T:
    """``body`` (a decoded JSON object) as a ``kind``, or a 400 that says what
    was wrong."""
    try:
        return msgspec.convert(_lenient(body, _info(kind)), kind, strict=True)
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
_PHRASES = {repr(wire.NOT_BLANK)[1:-1]: "must have a character other than spaces"}
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


# -- to the use cases' field names -------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m[1].lower(), name)


def _translations(field: str, value: dict[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if sum(len(text) for text in value.values()) > wire.MAX_TEXT:
        raise BadRequest(f"Field '{field}' is longer than {wire.MAX_TEXT} characters in all")
    return value


def alt_values(alt: wire.AltInput | None) -> dict[str, Any]:
    if alt is None:
        return {"alt_main": "", "alt_translated": {}}
    values: dict[str, Any] = {}
    if alt.main is not UNSET:
        values["alt_main"] = alt.main or ""
    if alt.translated is not UNSET:
        values["alt_translated"] = _translations("alt.translated", alt.translated)
    return values


def category_values(data: wire.CategoryInput) -> dict[str, Any]:
    """The fields ``data`` carries, under the use cases' names; null clears."""
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(data):
        value = getattr(data, field.name)
        if value is UNSET:
            continue
        if field.name == "alt":
            values.update(alt_values(value))
        elif field.name == "parentId":
            values["parent_id"] = value or None
        elif field.name == "productIds":
            values["product_ids"] = tuple(dict.fromkeys(value or ()))
        elif field.name.endswith("Translated"):
            values[_snake(field.name)] = _translations(field.name, value)
        elif value is None:
            values[_snake(field.name)] = ""
        else:
            values[_snake(field.name)] = value
    return values
