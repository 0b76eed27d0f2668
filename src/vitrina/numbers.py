"""The one reader of whole numbers and booleans written as text: path
segments, query parameters, settings, and values that JSON bodies send as
strings.

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


TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def parse_bool(text: str) -> bool:
    """True or False for one of the words above (any case, spaces around);
    ValueError otherwise."""
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError("expected one of " + ", ".join(TRUE_WORDS + FALSE_WORDS))
