"""The one reader of whole numbers written as text: path segments, query
parameters, and numbers that JSON bodies send as strings.

Only an optional minus sign and 1 to 20 ASCII digits are a number; anything
else (``--1``, ``+1``, ``1.0``, ``1e3``, ``²``, Arabic-Indic or full-width
digits, inner spaces) is not, and the caller answers 400 naming the parameter.
"""

from __future__ import annotations

import re

_WHOLE = re.compile(r"-?[0-9]{1,20}")


def parse_whole(text: str) -> int | None:
    """The number ``text`` spells (surrounding spaces allowed), or None."""
    text = text.strip(" \t")
    if _WHOLE.fullmatch(text) is None:
        return None
    return int(text)
