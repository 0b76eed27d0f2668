"""Reading client JSON into the request structs: Ecwid's leniencies kept, and
every refusal a sentence that names the field."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec import Struct

from vitrina import wire
from vitrina.domain.errors import BadRequest, ConstraintViolation
from vitrina.wire.reading import category_changes, read


def _values(body: dict[str, Any]) -> dict[str, Any]:
    return category_changes(read(body, wire.NewCategory)).given()


def _refusal(body: dict[str, Any], kind: type[Struct] = wire.NewCategory) -> str:
    with pytest.raises(BadRequest) as caught:
        read(body, kind)
    return caught.value.message


def test_numbers_and_booleans_sent_as_text_are_read() -> None:
    values = _values(
        {
            "name": "Toys",
            "parentId": "12",
            "orderBy": "-5",
            "enabled": "off",
            "productIds": ["3", 3.0, 4],
        }
    )
    assert values == {
        "name": "Toys",
        "parent_id": 12,
        "order_by": -5,
        "enabled": False,
        "product_ids": (3, 4),
    }
    for word, meaning in [("YES", True), ("on", True), ("1", True), ("no", False), ("0", False)]:
        assert _values({"name": "x", "enabled": word})["enabled"] is meaning


@pytest.mark.parametrize(
    ("field", "text"),
    [("parentId", " 12 "), ("parentId", "012"), ("orderBy", "+5"), ("orderBy", "-0"),
     ("enabled", " yes"), ("enabled", "y"), ("productIds", ["1.5"])],
)  # fmt: skip
def test_text_in_another_spelling_is_refused(field: str, text: object) -> None:
    """Numbers and booleans as text follow vitrina.domain.numbers' grammar, the one
    the OpenAPI document spells: the usual spelling of a number, the words."""
    assert field in _refusal({"name": "x", field: text})


def test_unknown_and_read_only_fields_are_ignored_and_null_clears() -> None:
    fetched = {"id": 9, "name": "Toys", "url": "https://shop/x", "productCount": 3}
    assert _values(fetched) == {"name": "Toys"}
    cleared = _values(
        {"name": "x", "description": None, "nameTranslated": None, "parentId": 0, "alt": None}
    )
    assert cleared == {
        "name": "x",
        "description": "",
        "name_translated": {},
        "parent_id": None,
        "alt_main": "",
        "alt_translated": {},
    }
    assert category_changes(read({"alt": {"main": "A toy"}}, wire.CategoryInput)).given() == {
        "alt_main": "A toy"
    }


X = {"name": "x"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Field 'name' is required"),
        ({"name": "   "}, "Field 'name' must have a character other than spaces"),
        ({"name": 5}, "Field 'name' must be a string, got a whole number"),
        ({**X, "orderBy": 2**31}, "Field 'orderBy' must be at most 2147483647"),
        ({**X, "orderBy": "1.5"}, "Field 'orderBy' must be a whole number, got a string"),
        ({**X, "orderBy": 1.5}, "Field 'orderBy' must be a whole number, got a fractional"),
        ({**X, "parentId": True}, "'parentId' must be a whole number or null, got a boolean"),
        ({**X, "enabled": "maybe"}, "Field 'enabled' must be true or false, got a string"),
        ({**X, "productIds": [1, 0]}, "Field 'productIds' item 1 must be at least 1"),
        ({**X, "productIds": "1,2"}, "Field 'productIds' must be a list or null"),
        ({**X, "customSlug": "s" * 256}, "'customSlug' must be at most 255 characters"),
        ({**X, "nameTranslated": {"e" * 17: "a"}}, "a language code) longer than 16"),
        ({**X, "nameTranslated": {"en": 1}}, "Field 'nameTranslated' value must be a string"),
        ({**X, "alt": {"main": 5}}, "Field 'alt.main' must be a string or null"),
        ({**X, "seoTitleTranslated": {"en": "a" * 60_000, "fr": "b" * 60_000}}, "in all"),
    ],
)
def test_refusals_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        _values(body)
    assert message in caught.value.message


def test_a_name_over_255_characters_is_a_constraint_violation() -> None:
    with pytest.raises(ConstraintViolation, match="longer than 255 characters"):
        read({"name": "n" * 256}, wire.NewCategory)
    assert _values({"name": "n" * 255})["name"] == "n" * 255


def test_async_upload_body() -> None:
    upload = read(
        {"url": "https://example.com/a.jpg", "width": "800", "height": 600.0, "externalId": 7},
        wire.AsyncUpload,
    )
    assert (upload.width, upload.height, upload.externalId) == (800, 600, 7)
    assert _refusal({"width": 1, "height": 1}, wire.AsyncUpload) == "Field 'url' is required"
    assert "Field 'width' must be at least 1" in _refusal(
        {"url": "https://a/b", "width": 0, "height": 1}, wire.AsyncUpload
    )
    assert "Field 'externalId'" in _refusal(
        {"url": "https://a/b", "width": 1, "height": 1, "externalId": "e" * 256}, wire.AsyncUpload
    )
