"""Wire details compared with Ecwid's docs: categoriesByPath, the
cleanURLs spelling, store languages, and when enabledProductCount appears."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from vitrina.bootstrap import Services
from vitrina.usecases.tokens import create_token


def _tree(api: Api) -> dict[str, int]:
    toys = api.create(name="Toys")
    cars = api.create(name="Cars", parentId=toys)
    other_cars = api.create(name="cars", parentId=api.create(name="Games"))
    red = api.create(name="Red Cars", parentId=cars)
    hidden = api.create(name="Hidden", parentId=toys, enabled=False)
    return {"toys": toys, "cars": cars, "other_cars": other_cars, "red": red, "hidden": hidden}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"path": "Toys/Cars"}, ["cars"]),
        ({"path": " toys / CARS "}, ["cars"]),
        ({"path": "/Toys//Cars/"}, ["cars"]),
        ({"path": "Toys>Cars>Red Cars", "delimiter": ">"}, ["red"]),
        ({"path": "Toys|Cars", "delimeter": "|"}, ["cars"]),
        ({"path": "Toys/Hidden"}, []),
        ({"path": "Toys/Hidden", "hidden_categories": "true"}, ["hidden"]),
        ({"path": "Nowhere"}, []),
    ],
)
def test_categories_by_path(api: Api, params: dict[str, str], expected: list[str]) -> None:
    ids = _tree(api)
    response = api.get("/categoriesByPath", params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    assert [item["id"] for item in data["items"]] == [ids[name] for name in expected]
    assert data["total"] == data["count"] == len(expected)
    assert data["offset"] == 0 and data["limit"] == 100


def test_a_public_token_walks_no_path_through_a_disabled_category(
    api: Api, services: Services, client: TestClient
) -> None:
    ids = _tree(api)
    inside = api.create(name="Inside", parentId=ids["hidden"])
    token, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}), True)
    public = Api(client, api.store_id, token)

    def found(caller: Api, path: str, **more: str) -> list[int]:
        answer = caller.get("/categoriesByPath", params={"path": path, **more}).json()
        assert answer["total"] == len(answer["items"])
        return [item["id"] for item in answer["items"]]

    assert found(api, "Toys/Hidden/Inside") == [inside]  # a secret token walks through
    # a public one does not: the answer would confirm a disabled "Hidden"
    assert found(public, "Toys/Hidden/Inside") == []
    assert found(public, "Toys/Hidden/Inside", hidden_categories="true") == []
    assert found(public, "Toys/Cars/Red Cars") == [ids["red"]]


def test_categories_by_path_sorts_by_id_and_pages(api: Api) -> None:
    parent = api.create(name="Shop")
    same = [api.create(name="Same", parentId=parent, orderBy=100 - n) for n in range(3)]
    page = api.get(
        "/categoriesByPath",
        params={"path": "Shop/Same", "limit": 2, "offset": 1, "responseFields": "id"},
    ).json()
    assert page["total"] == 3 and page["items"] == [{"id": same[1]}, {"id": same[2]}]


def test_categories_by_path_needs_a_path_and_read_scope(
    api: Api, services: Services, client: TestClient
) -> None:
    for missing in ({}, {"path": ""}, {"path": " \u3000"}):
        response = api.get("/categoriesByPath", params=missing)
        assert response.status_code == 400 and response.json()["errorCode"] == "WRONG_PARAMETER"
    only_delimiters = api.get("/categoriesByPath", params={"path": " / /"}).json()
    assert (only_delimiters["total"], only_delimiters["items"]) == (0, [])
    writer = make_store(services, client, scopes="create_catalog")
    response = writer.get("/categoriesByPath", params={"path": "x"})
    assert response.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"


def test_clean_urls_in_both_spellings(api: Api) -> None:
    category_id = api.create(name="Toy Cars")
    for name in ("cleanUrls", "cleanURLs"):
        url = api.category(category_id, **{name: "true"})["url"]
        assert url.endswith(f"/toy-cars-c{category_id}"), url


def test_store_languages_in_the_profile_and_every_translated_map(
    services: Services, client: TestClient
) -> None:
    store = services.metadata.stores.create_store(
        "Shop", "https://shop.example.com", languages=("fr", "en", "de")
    )
    token, _ = create_token(
        services.metadata, store.id, frozenset({"read_catalog", "create_catalog"})
    )
    api = Api(client, store.id, token)
    profile = api.get("/profile").json()
    assert profile["languages"] == {"enabledLanguages": ["fr", "en", "de"], "defaultLanguage": "fr"}
    category_id = api.create(
        name="Jouets", nameTranslated={"en": "Toys", "es": "Juguetes"}, description="Tout"
    )
    data = api.category(category_id)
    assert data["nameTranslated"] == {"fr": "Jouets", "en": "Toys", "de": "", "es": "Juguetes"}
    assert data["descriptionTranslated"] == {"fr": "Tout", "en": "", "de": ""}
    assert data["seoTitleTranslated"] == {"fr": "", "en": "", "de": ""}
    assert api.category(category_id, lang="en")["name"] == "Toys"


def test_a_default_store_speaks_english(api: Api) -> None:
    assert api.get("/profile").json()["languages"] == {
        "enabledLanguages": ["en"],
        "defaultLanguage": "en",
    }
    data = api.category(api.create(name="Toys"))
    assert data["nameTranslated"] == {"en": "Toys"}


def test_enabled_product_count_only_with_product_ids(api: Api) -> None:
    category_id = api.create(name="P", productIds=[1, 2])
    plain = api.get("/categories").json()["items"][0]
    assert "enabledProductCount" not in plain and "productIds" not in plain
    assert plain["productCount"] == 2
    detailed = api.get("/categories", params={"productIds": "true"}).json()["items"][0]
    assert detailed["enabledProductCount"] == 2 and detailed["productIds"] == [1, 2]
    assert api.category(category_id)["enabledProductCount"] == 2  # a single GET has productIds
