"""One grammar for numbers and booleans written as text, shared by the
server's readers and its OpenAPI document (vitrina.domain.numbers): the pattern of
a range accepts exactly the usual spellings of the numbers in it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitrina.domain.numbers import BOOLEAN, Whole, read_bool

RANGES = [
    (0, 0),
    (1, 9),
    (0, 2**31 - 1),
    (1, 2**31 - 1),
    (-(2**31), 2**31 - 1),
    (1, 2**53 - 1),
    (0, 2**62),
    (1, 1_000_000),
    (10, 99),
    (99, 1000),
    (-100, -7),
    (123, 4567),
]


@settings(max_examples=300, derandomize=True)
@given(bounds=st.sampled_from(RANGES), value=st.integers(min_value=-(2**64), max_value=2**64))
def test_a_range_accepts_exactly_its_numbers(bounds: tuple[int, int], value: int) -> None:
    low, high = bounds
    whole = Whole(low, high)
    for candidate in (value, low, high, low - 1, high + 1, (low + high) // 2):
        expected = candidate if low <= candidate <= high else None
        assert whole.read(str(candidate)) == expected
        assert (re.fullmatch(whole.pattern, str(candidate)) is not None) == (expected is not None)


@settings(max_examples=500, derandomize=True)
@given(st.text(max_size=30))
def test_only_the_usual_spelling_is_a_number(text: str) -> None:
    value = Whole(-(2**63), 2**63 - 1).read(text)
    usual = re.fullmatch(r"0|-?[1-9][0-9]{0,18}", text) is not None
    if value is not None:
        assert usual and str(value) == text
    elif usual:
        assert not -(2**63) <= int(text) <= 2**63 - 1


@pytest.mark.parametrize(
    "text",
    ["--1", "+1", "1.0", "1e3", "²", "\u0661\u0662", "\uff11\uff12", "1 2", "", "-", "0x10",
     "1_000", " 1", "1 ", "007", "-0", "00"],
)  # fmt: skip
def test_look_alikes_are_not_numbers(text: str) -> None:
    assert Whole(-(2**31), 2**31 - 1).read(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("TRUE", True), ("Yes", True), ("on", True), ("1", True), ("false", False),
     ("No", False), ("OFF", False), ("0", False)],
)  # fmt: skip
def test_the_boolean_words_in_any_case(text: str, value: bool) -> None:
    assert read_bool(text) is value
    assert re.fullmatch(BOOLEAN, text)


@pytest.mark.parametrize("text", ["", " true", "true ", "y", "2", "truee", "nope"])
def test_other_text_is_not_a_boolean(text: str) -> None:
    assert read_bool(text) is None
    assert re.fullmatch(BOOLEAN, text) is None
