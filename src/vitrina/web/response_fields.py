"""``responseFields``: which fields of an answer to keep, as Ecwid's
``total,items(id,name)`` says (the grammar: vitrina.wire.RESPONSE_FIELDS)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from vitrina import wire
from vitrina.domain.errors import BadRequest

Fields = dict[str, "Fields | None"]
_FIELD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


def parse_response_fields(text: str) -> Fields:
    """``total,items(id,name)`` -> {"total": None, "items": {"id": None, "name": None}}."""
    fields, rest = _parse_list(text, 0)
    if rest != len(text):
        raise BadRequest(f"Parameter 'responseFields' cannot be read near position {rest + 1}")
    return fields


def _parse_list(text: str, pos: int, depth: int = 1) -> tuple[Fields, int]:
    if depth > wire.FIELD_DEPTH:  # the grammar's limit: the parser's stack stays small
        raise BadRequest(
            f"Parameter 'responseFields' nests deeper than {wire.FIELD_DEPTH} levels of '('"
        )
    fields: Fields = {}
    while pos < len(text):
        match = _FIELD.match(text, pos)
        if not match:
            if text[pos] == ",":
                pos += 1
                continue
            return fields, pos
        name, pos = match.group(1), match.end()
        sub: Fields | None = None
        if pos < len(text) and text[pos] == "(":
            sub, pos = _parse_list(text, pos + 1, depth + 1)
            if pos >= len(text) or text[pos] != ")":
                raise BadRequest("Parameter 'responseFields' has an unclosed '('")
            pos += 1
        fields[name] = sub
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] != ")":
            raise BadRequest(f"Parameter 'responseFields' cannot be read near position {pos + 1}")
        elif pos < len(text):
            return fields, pos
    return fields, pos


def pick(data: Any, fields: Fields | None) -> Any:
    """``data`` (an answer struct, or its plain form) with only ``fields``."""
    if fields is None:
        return data
    if isinstance(data, msgspec.Struct):
        data = msgspec.to_builtins(data)
    if isinstance(data, list):
        return [pick(item, fields) for item in data]
    if isinstance(data, dict):
        return {k: pick(v, fields[k]) for k, v in data.items() if k in fields}
    return data
