"""Every API operation, declared once (web/operation.py says what a
declaration holds and what is derived from it: routes, scope checks,
parameter reading, the OpenAPI document, in-process calls)."""

from __future__ import annotations

from vitrina import wire
from vitrina.web import category_handlers, console_api, files, image_handlers
from vitrina.web.batch_api import BATCH_OPERATIONS
from vitrina.web.operation import API, STORE, Answer, Body, Operation, Table
from vitrina.web.params import (
    NOT_BLANK,
    OFFSET,
    PAGE,
    Choice,
    FieldList,
    Flag,
    Ids,
    Number,
    Param,
    Text,
    limit,
    query,
)
from vitrina.web.webhook_api import WEBHOOK_OPERATIONS

CATEGORY = Param("categoryId", "path", Number(wire.CATEGORY_ID), "Category id", required=True)
HIDDEN = query("hidden_categories", Flag(), "Include disabled categories", False)
PRODUCT_IDS = query("productIds", Flag(), "Include productIds", False)
# how a category is shown: its storefront URL, language and fields
VIEW = (
    query("baseUrl", Text(), "Storefront base URL for `url`"),
    query("cleanUrls", Flag(), "Clean storefront URLs", False),
    query("cleanURLs", Flag(), "The same, as docs.ecwid.com spells it", False),
    query("slugsWithoutIds", Flag(), "Clean URLs without the id", False),
    query("lang", Text(), "Language for translated fields"),
    query("responseFields", FieldList(), "Fields to return, e.g. `total,items(id,name)`"),
)

_CATEGORY_LINKS = {
    name[0].upper() + name[1:]: {
        "operationId": name,
        "parameters": {"storeId": "$request.path.storeId", "categoryId": "$response.body#/id"},
    }
    for name in (
        "getCategory",
        "updateCategory",
        "deleteCategory",
        "uploadCategoryImage",
        "uploadCategoryImageAsync",
        "deleteCategoryImage",
    )
}
_JOB_LINK = {
    "ImageJob": {
        "operationId": "imageJob",
        "parameters": {"storeId": "$request.path.storeId", "imageId": "$response.body#/id"},
    }
}
_IMAGE_CONTENT = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
    "application/x-www-form-urlencoded": {
        "schema": {
            "type": "object",
            "required": ["externalUrl"],
            "properties": {"externalUrl": {"type": "string", "pattern": wire.NOT_BLANK}},
        }
    },
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "searchCategories",
        "GET",
        f"{API}/categories",
        "Search categories",
        category_handlers.search_categories,
        "read_catalog",
        Answer(wire.CategorySearch, "A page of categories"),
        (400, 403, 429, 503),
        params=(
            query("parent", Number(wire.PARENT_ID), "Parent id; 0 for root"),
            query("parentIds", Ids(), "Comma list of parent ids"),
            query("withSubcategories", Flag(), "All descendants of the parents", False),
            HIDDEN,
            PRODUCT_IDS,
            query("keyword", Text(), "Name or description contains", ""),
            query("categoryIds", Ids(), "Comma list of ids"),
            OFFSET,
            limit(PAGE, wire.MAX_PAGE),
            *VIEW,
        ),
    ),
    Operation(
        "createCategory",
        "POST",
        f"{API}/categories",
        "Create a category",
        category_handlers.create_category,
        "create_catalog",
        Answer(wire.Id, "The new category's id", links=_CATEGORY_LINKS),
        (400, 403, 404, 409, 413, 415, 429, 503),
        body=Body(wire.NewCategory),
    ),
    Operation(
        "getCategory",
        "GET",
        f"{API}/categories/{{categoryId}}",
        "Get a category",
        category_handlers.get_category,
        "read_catalog",
        Answer(wire.Category, "The category"),
        (400, 403, 404, 429, 503),
        params=(CATEGORY, *VIEW),
    ),
    Operation(
        "updateCategory",
        "PUT",
        f"{API}/categories/{{categoryId}}",
        "Update a category",
        category_handlers.update_category,
        "update_catalog",
        Answer(wire.UpdateCount, "Updated"),
        (400, 403, 404, 409, 413, 415, 429, 503),
        params=(CATEGORY,),
        body=Body(wire.CategoryInput),
    ),
    Operation(
        "deleteCategory",
        "DELETE",
        f"{API}/categories/{{categoryId}}",
        "Delete a category and its subcategories",
        category_handlers.delete_category,
        "update_catalog",
        Answer(wire.DeleteCount, "Deleted"),
        (400, 403, 404, 429, 503),
        params=(CATEGORY,),
    ),
    Operation(
        "uploadCategoryImage",
        "POST",
        f"{API}/categories/{{categoryId}}/image",
        "Upload the category image",
        image_handlers.upload_image,
        "update_catalog",
        Answer(wire.Id, "The new image's id"),
        (400, 403, 404, 413, 415, 422, 429, 503),  # 415: HEIC without vitrina[heic]
        params=(
            CATEGORY,
            query("externalUrl", Text(**NOT_BLANK), "Download the image from here (https)"),
        ),
        body=Body(
            content=_IMAGE_CONTENT,
            description="The image itself (any Content-Type), or a form with `externalUrl`. "
            "With the `externalUrl` query parameter the body is not read.",
        ),
    ),
    Operation(
        "deleteCategoryImage",
        "DELETE",
        f"{API}/categories/{{categoryId}}/image",
        "Delete the category image",
        image_handlers.delete_image,
        "update_catalog",
        Answer(wire.DeleteCount, "deleteCount 1 or 0"),
        (400, 403, 404, 429, 503),
        params=(CATEGORY,),
    ),
    Operation(
        "uploadCategoryImageAsync",
        "POST",
        f"{API}/categories/{{categoryId}}/image/async",
        "Upload the category image from a URL, in the background",
        image_handlers.upload_image_async,
        "update_catalog",
        Answer(wire.Id, "The new image's id", links=_JOB_LINK),
        (400, 403, 404, 413, 415, 422, 429, 503),
        params=(CATEGORY,),
        body=Body(wire.AsyncUpload),
    ),
    Operation(
        "categoriesByPath",
        "GET",
        f"{API}/categoriesByPath",
        "Find categories by their path of names",
        category_handlers.categories_by_path,
        "read_catalog",
        Answer(wire.CategorySearch, "Matching categories, by id"),
        (400, 403, 429, 503),
        params=(
            query(
                "path",
                Text(**NOT_BLANK),
                "Names from the root down, e.g. `Toys/Cars` (case-insensitive)",
                required=True,
            ),
            query("delimiter", Text(), "Between names (default /)"),
            query("delimeter", Text(), "The same, another spelling"),
            HIDDEN,
            PRODUCT_IDS,
            OFFSET,
            limit(PAGE, wire.MAX_PAGE),
            *VIEW,
        ),
    ),
    Operation(
        "getProfile",
        "GET",
        f"{API}/profile",
        "Store profile",
        category_handlers.profile,
        None,
        Answer(wire.Profile, "The profile"),
        (400, 403, 429, 503),
    ),
    Operation(
        "requestLog",
        "GET",
        f"{API}/_requests",
        "The store's last API requests, newest first (a vitrina extension)",
        console_api.request_log,
        "read_catalog",
        Answer(wire.RequestLog, "Newest first; needs a secret token"),
        (400, 403, 429, 503),
        params=(
            limit("At most this many (up to 1000 are answered)", 100),
            query("after", Number(wire.COUNT), "Only entries with a larger id (polling)", 0),
            query("status", Choice(wire.STATUS_CLASSES), "Only this status class"),
            query("path", Text(), "Only paths containing this", ""),
        ),
        secret=True,
    ),
    Operation(
        "tokenScopes",
        "GET",
        f"{API}/_token",
        "What the calling token may do (a vitrina extension)",
        console_api.token_scopes,
        None,
        Answer(wire.TokenScopes, "The token's scopes"),
        (400, 403, 429, 503),
    ),
    Operation(
        "imageJob",
        "GET",
        f"{API}/_jobs/{{imageId}}",
        "The state of an async image upload (a vitrina extension)",
        console_api.image_job,
        "read_catalog",
        Answer(wire.ImageJob, "The job; needs a secret token"),
        (400, 403, 404, 429, 503),
        params=(
            Param(
                "imageId",
                "path",
                Number(wire.FILE_ID),
                "The id that image/async answered",
                required=True,
            ),
        ),
        secret=True,
    ),
    Operation(
        "getImageFile",
        "GET",
        "/images/{storeId}/{fileName}",
        "An image file",
        files.serve_file,
        None,
        Answer(
            None,
            "The file",
            media={"image/*": {"schema": {"type": "string", "format": "binary"}}},
        ),
        (400, 404, 503),
        params=(
            STORE,
            Param("fileName", "path", files.FileName(), "`<fileId>.<ext>`", required=True),
            Param(
                "width",
                "query",
                files.Width(),
                "vitrina extension (docs/images.md): the image fitted to this width in "
                "pixels, never enlarged, for `srcset`; one of VITRINA_IMAGE_WIDTHS "
                "(the default list is shown), else 400",
            ),
        ),
        token=False,
    ),
    *WEBHOOK_OPERATIONS,
    *BATCH_OPERATIONS,
)

TABLE = Table(OPERATIONS)
