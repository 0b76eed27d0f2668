"""The one reader of whole numbers and booleans written as text: path
segments, query parameters, and values that JSON bodies send as strings.

Each grammar is a regular expression that Python and JSON Schema (ECMAScript)
read the same way, so the server and its OpenAPI document accept exactly the
same text:

- a whole number in a range is written the usual way: ASCII digits, no
  leading zero (but ``0`` itself), a minus sign only before a negative
  number; no plus sign, spaces, ``1.0``, ``1e3``, or digits of other scripts.
  ``Whole(low, high).pattern`` spells the range itself, digit by digit.
- a boolean is one of ``true, false, yes, no, on, off, 1, 0`` in any case.

Settings, which people type into an environment, are read more loosely
(``parse_bool`` strips spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


BOOLEAN = "^(?:" + "|".join(_any_case(w) for w in TRUE_WORDS + FALSE_WORDS) + ")$"
_BOOLEAN = re.compile(BOOLEAN)


def read_bool(text: str) -> bool | None:
    """True or False for one of the words, any case; None for other text."""
    if _BOOLEAN.fullmatch(text) is None:
        return None
    return text.lower() in TRUE_WORDS


def parse_bool(text: str) -> bool:
    """A setting's boolean: a word above, spaces around allowed; ValueError otherwise."""
    found = read_bool(text.strip())
    if found is None:
        raise ValueError("expected one of " + ", ".join(TRUE_WORDS + FALSE_WORDS))
    return found


# -- whole numbers ---------------------------------------------------------------


def _span(low: str, high: str) -> list[str]:
    """Patterns for the digit strings of one length from ``low`` to ``high``."""
    if low == high:
        return [low]
    common = 0
    while low[common] == high[common]:
        common += 1
    prefix, a, b, rest = low[:common], int(low[common]), int(high[common]), len(low) - common - 1
    if rest == 0:
        return [f"{prefix}[{a}-{b}]"]
    found: list[str] = []
    if low[common + 1 :] == "0" * rest:
        a -= 1  # low's digit takes every tail: one class below covers it
    else:
        found += [prefix + str(a) + p for p in _span(low[common + 1 :], "9" * rest)]
    if high[common + 1 :] == "9" * rest:
        b += 1
        top: list[str] = []
    else:
        top = [prefix + str(b) + p for p in _span("0" * rest, high[common + 1 :])]
    if a + 1 <= b - 1:
        digits = f"[{a + 1}-{b - 1}]" if a + 1 < b - 1 else str(a + 1)
        found.append(f"{prefix}{digits}[0-9]{{{rest}}}")
    return found + top


def _naturals(low: int, high: int) -> list[str]:
    """Patterns for the usual spellings of low..high (0 <= low <= high)."""
    found = ["0"] if low == 0 else []
    low = max(low, 1)
    length = len(str(low))
    while low <= high:
        top = min(high, 10**length - 1)
        found += _span(str(low), str(top))
        low, length = top + 1, length + 1
    return found


def whole_pattern(low: int, high: int) -> str:
    """An anchored regular expression for the whole numbers low..high."""
    options: list[str] = []
    if high >= 0:
        options += _naturals(max(low, 0), high)
    if low < 0:
        options += ["-" + p for p in _naturals(max(1, -high), -low)]
    return "^(?:" + "|".join(options) + ")$"


@dataclass(frozen=True)
class Whole:
    """Whole numbers from ``low`` to ``high``, written as text."""

    low: int
    high: int
    pattern: str = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = whole_pattern(self.low, self.high)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "_regex", re.compile(pattern))

    def read(self, text: str) -> int | None:
        """The number ``text`` spells, when it is one in range; None otherwise."""
        if len(text) > 24 or self._regex.fullmatch(text) is None:
            return None
        return int(text)
