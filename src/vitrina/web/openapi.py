"""The OpenAPI 3.1 document. Paths, parameters and the error table are
written here (the errors from errors.py); every body's schema comes from the
structs of vitrina.wire. Tests check the server against it."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import msgspec

from vitrina import __version__, wire
from vitrina.errors import codes_by_status
from vitrina.numbers import FALSE_WORDS, TRUE_WORDS

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """Error answers, described by the codes errors.py gives each status."""
    codes = codes_by_status()
    return {
        str(status): _json(_ref("Error"), "errorCode " + " or ".join(codes[status]))
        for status in statuses
    }


def _param(
    name: str, where: str, schema: dict[str, Any], text: str, required: bool = False
) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": text}


_ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
# Conservative spellings of what the server's readers accept (web/params.py,
# web/shapes.py): a client that keeps to them is never refused.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ID_LIST = {"type": "string", "pattern": r"^[0-9]{1,9}(,[0-9]{1,9})*$"}
_FIELD_LIST = {
    "type": "string",
    "pattern": rf"^{_NAME}(\({_NAME}(,{_NAME})*\))?(,{_NAME}(\({_NAME}(,{_NAME})*\))?)*$",
}
_BOOL = {"type": "string", "enum": [*TRUE_WORDS, *FALSE_WORDS]}
_STORE = _param("storeId", "path", _ID, "Store id", required=True)
_COUNT = {"type": "integer", "minimum": 0, "maximum": 2**62}
_OFFSET = _param("offset", "query", _COUNT, "Skip this many")


def _limit(text: str) -> dict[str, Any]:
    return _param("limit", "query", {**_COUNT, "minimum": 1}, text)


_CATEGORY = _param("categoryId", "path", _ID, "Category id", required=True)


_VIEW = [
    _param("baseUrl", "query", {"type": "string"}, "Storefront base URL for `url`"),
    _param("cleanUrls", "query", _BOOL, "Clean storefront URLs"),
    _param("cleanURLs", "query", _BOOL, "The same, as docs.ecwid.com spells it"),
    _param("slugsWithoutIds", "query", _BOOL, "Clean URLs without the id"),
    _param("lang", "query", {"type": "string"}, "Language for translated fields"),
    _param("responseFields", "query", _FIELD_LIST, "Fields to return, e.g. `id,name`"),
]


def _schemas() -> dict[str, Any]:
    """Every body's schema, from the structs the server reads and writes
    (vitrina.wire). responseFields may leave out any field of a category and
    of what it holds, so none of those is required."""
    _, schemas = msgspec.json.schema_components(
        wire.RESPONSES + wire.REQUESTS, ref_template=_REF + "{name}"
    )
    for name in ("Category", "CategorySearch", "Size", "BorderInfo", "Colour", "Alt"):
        schemas[name].pop("required", None)
    return {name: _tidy(schema) for name, schema in schemas.items()}


def _tidy(schema: Any) -> Any:
    """A schema as msgspec writes it, without titles or an empty
    ``required``, and with docstrings unindented."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _tidy(v) for k, v in schema.items() if k != "title"}
    if schema.get("required") == []:
        del schema["required"]
    if isinstance(schema.get("description"), str):  # a struct's docstring
        schema["description"] = inspect.cleandoc(schema["description"])
    return schema


def _op(
    operation_id: str,
    summary: str,
    scope: str | None,
    params: list[dict[str, Any]],
    ok: dict[str, Any],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": params,
        "responses": {"200": ok, **_errors(*errors)},
    }
    if scope:
        op["description"] = f"Needs the `{scope}` scope."
    if body is not None:
        op["requestBody"] = body
    return op


@cache
def _paths() -> dict[str, Any]:
    json_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("CategoryInput")}},
    }
    create_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("NewCategory")}},
    }
    image_body = {
        "required": True,
        "description": "The image itself (any Content-Type), or a form with `externalUrl`. "
        "With the `externalUrl` query parameter the body is not read.",
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "minLength": 1}
            },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["externalUrl"],
                    "properties": {"externalUrl": {"type": "string", "pattern": wire.NOT_BLANK}},
                }
            },
        },
    }
    async_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("AsyncUpload")}},
    }
    id_ok = _json(_ref("Id"), "The new id")
    created = {
        **_json(_ref("Id"), "The new category's id"),
        "links": {
            link: {
                "operationId": link[0].lower() + link[1:],
                "parameters": {
                    "storeId": "$request.path.storeId",
                    "categoryId": "$response.body#/id",
                },
            }
            for link in (
                "GetCategory",
                "UpdateCategory",
                "DeleteCategory",
                "UploadCategoryImage",
                "UploadCategoryImageAsync",
                "DeleteCategoryImage",
            )
        },
    }
    search_params = [
        _STORE,
        _param("parent", "query", {**_ID, "minimum": 0}, "Parent id; 0 for root"),
        _param("parentIds", "query", _ID_LIST, "Comma list of parent ids"),
        _param("withSubcategories", "query", _BOOL, "All descendants of the parents"),
        _param("hidden_categories", "query", _BOOL, "Include disabled categories"),
        _param("productIds", "query", _BOOL, "Include productIds"),
        _param("keyword", "query", {"type": "string"}, "Name or description contains"),
        _param("categoryIds", "query", _ID_LIST, "Comma list of ids"),
        _OFFSET,
        _limit("Page size (max 100)"),
        *_VIEW,
    ]
    file_params = [
        _STORE,
        _param(
            "fileName",
            "path",
            {"type": "string", "pattern": r"^[1-9][0-9]{0,14}\.[a-z]{3,4}$"},
            "`<fileId>.<ext>`",
            required=True,
        ),
    ]
    file_ok = {
        "description": "The file",
        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        "/api/v3/{storeId}/categories": {
            "get": _op(
                "searchCategories",
                "Search categories",
                "read_catalog",
                search_params,
                _json(_ref("CategorySearch"), "A page of categories"),
                (400, 403, 429, 503),
            ),
            "post": _op(
                "createCategory",
                "Create a category",
                "create_catalog",
                [_STORE],
                created,
                (400, 403, 404, 409, 413, 415, 429, 503),
                create_body,
            ),
        },
        "/api/v3/{storeId}/categories/{categoryId}": {
            "get": _op(
                "getCategory",
                "Get a category",
                "read_catalog",
                [_STORE, _CATEGORY, *_VIEW],
                _json(_ref("Category"), "The category"),
                (400, 403, 404, 429, 503),
            ),
            "put": _op(
                "updateCategory",
                "Update a category",
                "update_catalog",
                [_STORE, _CATEGORY],
                _json(_ref("UpdateCount"), "Updated"),
                (400, 403, 404, 409, 413, 415, 429, 503),
                json_body,
            ),
            "delete": _op(
                "deleteCategory",
                "Delete a category and its subcategories",
                "update_catalog",
                [_STORE, _CATEGORY],
                _json(_ref("DeleteCount"), "Deleted"),
                (400, 403, 404, 429, 503),
            ),
        },
        "/api/v3/{storeId}/categories/{categoryId}/image": {
            "post": _op(
                "uploadCategoryImage",
                "Upload the category image",
                "update_catalog",
                [
                    _STORE,
                    _CATEGORY,
                    _param(
                        "externalUrl",
                        "query",
                        {"type": "string", "pattern": wire.NOT_BLANK},
                        "Download the image from here (https)",
                    ),
                ],
                id_ok,
                (400, 403, 404, 413, 422, 429, 503),
                image_body,
            ),
            "delete": _op(
                "deleteCategoryImage",
                "Delete the category image",
                "update_catalog",
                [_STORE, _CATEGORY],
                _json(_ref("DeleteCount"), "deleteCount 1 or 0"),
                (400, 403, 404, 429, 503),
            ),
        },
        "/api/v3/{storeId}/categories/{categoryId}/image/async": {
            "post": _op(
                "uploadCategoryImageAsync",
                "Upload the category image from a URL, in the background",
                "update_catalog",
                [_STORE, _CATEGORY],
                {
                    **_json(_ref("Id"), "The new image's id"),
                    "links": {
                        "ImageJob": {
                            "operationId": "imageJob",
                            "parameters": {
                                "storeId": "$request.path.storeId",
                                "imageId": "$response.body#/id",
                            },
                        }
                    },
                },
                (400, 403, 404, 413, 415, 422, 429, 503),
                async_body,
            ),
        },
        "/api/v3/{storeId}/categoriesByPath": {
            "get": _op(
                "categoriesByPath",
                "Find categories by their path of names",
                "read_catalog",
                [
                    _STORE,
                    _param(
                        "path",
                        "query",
                        {"type": "string", "pattern": wire.NOT_BLANK},
                        "Names from the root down, e.g. `Toys/Cars` (case-insensitive)",
                        required=True,
                    ),
                    _param("delimiter", "query", {"type": "string"}, "Between names (default /)"),
                    _param("delimeter", "query", {"type": "string"}, "The same, another spelling"),
                    _param("hidden_categories", "query", _BOOL, "Include disabled categories"),
                    _param("productIds", "query", _BOOL, "Include productIds"),
                    _OFFSET,
                    _limit("Page size"),
                    *_VIEW,
                ],
                _json(_ref("CategorySearch"), "Matching categories, by id"),
                (400, 403, 429, 503),
            ),
        },
        "/api/v3/{storeId}/profile": {
            "get": _op(
                "getProfile",
                "Store profile",
                None,
                [_STORE],
                _json(_ref("Profile"), "The profile"),
                (400, 403, 429, 503),
            ),
        },
        "/api/v3/{storeId}/_requests": {
            "get": _op(
                "requestLog",
                "The store's last API requests, newest first (a vitrina extension)",
                "read_catalog",
                [
                    _STORE,
                    _limit("At most this many (up to 1000)"),
                    _param("after", "query", _COUNT, "Only entries with a larger id (for polling)"),
                    _param(
                        "status",
                        "query",
                        {"type": "string", "enum": ["2xx", "3xx", "4xx", "5xx"]},
                        "Only this status class",
                    ),
                    _param("path", "query", {"type": "string"}, "Only paths containing this"),
                ],
                _json(_ref("RequestLog"), "Newest first; needs a secret token"),
                (400, 403, 429, 503),
            ),
        },
        "/api/v3/{storeId}/_token": {
            "get": _op(
                "tokenScopes",
                "What the calling token may do (a vitrina extension)",
                None,
                [_STORE],
                _json(_ref("TokenScopes"), "The token's scopes"),
                (400, 403, 429, 503),
            ),
        },
        "/api/v3/{storeId}/_jobs/{imageId}": {
            "get": _op(
                "imageJob",
                "The state of an async image upload (a vitrina extension)",
                "read_catalog",
                [
                    _STORE,
                    _param(
                        "imageId",
                        "path",
                        {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
                        "The id that image/async answered",
                        required=True,
                    ),
                ],
                _json(_ref("ImageJob"), "The job"),
                (400, 403, 404, 429, 503),
            ),
        },
        "/images/{storeId}/{fileName}": {
            "get": {
                **_op("getImageFile", "An image file", None, file_params, file_ok, (400, 404, 503)),
                "security": [],
            },
        },
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vitrina: Ecwid REST API v3, categories and category images",
            "version": __version__,
            "description": "Same paths, JSON and errors as Ecwid's REST API v3 for categories.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"queryToken": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": {
                **_schemas(),
            },
        },
    }
