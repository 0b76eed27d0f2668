"""Every API operation, declared once (web/operation.py says what a
declaration holds and what is derived from it: routes, scope checks,
parameter reading, the OpenAPI document, in-process calls)."""

from __future__ import annotations

from typing import Any

from vitrina import wire
from vitrina.domain.batches import MAX_REQUESTS, TICKET_STATUSES
from vitrina.web import (
    batch_handlers,
    category_handlers,
    console_api,
    files,
    image_handlers,
    webhook_handlers,
)
from vitrina.web.operation import STORE, Answer, Body, Operation, Table
from vitrina.web.params import Choice, FieldList, Flag, Ids, Number, Param, Text

API = "/api/v3/{storeId}"
_NOT_BLANK = {"pattern": wire.NOT_BLANK, "must": "must have a character other than spaces"}


def _query(name: str, kind: Any, text: str, default: Any = None, **more: Any) -> Param:
    return Param(name, "query", kind, text, default=default, **more)


CATEGORY = Param("categoryId", "path", Number(wire.CATEGORY_ID), "Category id", required=True)
OFFSET = _query("offset", Number(wire.COUNT), "Skip this many", 0)


def _limit(text: str, default: int) -> Param:
    return _query("limit", Number(wire.PAGE_SIZE), text, default)


HIDDEN = _query("hidden_categories", Flag(), "Include disabled categories", False)
PRODUCT_IDS = _query("productIds", Flag(), "Include productIds", False)
# how a category is shown: its storefront URL, language and fields
VIEW = (
    _query("baseUrl", Text(), "Storefront base URL for `url`"),
    _query("cleanUrls", Flag(), "Clean storefront URLs", False),
    _query("cleanURLs", Flag(), "The same, as docs.ecwid.com spells it", False),
    _query("slugsWithoutIds", Flag(), "Clean URLs without the id", False),
    _query("lang", Text(), "Language for translated fields"),
    _query("responseFields", FieldList(), "Fields to return, e.g. `total,items(id,name)`"),
)
_PAGE = f"Page size (at most {wire.MAX_PAGE} are answered)"

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

# Apps and their webhooks (vitrina extensions; secret tokens only)
HOOKS = f"{API}/_webhooks"
APP = Param("appId", "path", Number(wire.APP_ID), "App id", required=True)
DELIVERY = Param(
    "deliveryId", "path", Number(wire.DELIVERY_ID), "Delivery id (from the log)", required=True
)


def _links(key: str, *names: str) -> dict[str, dict[str, Any]]:
    return {
        name[0].upper() + name[1:]: {
            "operationId": name,
            "parameters": {"storeId": "$request.path.storeId", key: "$response.body#/id"},
        }
        for name in names
    }


_APP_LINKS = _links(
    "appId", "getApp", "updateApp", "deleteApp", "uninstallApp", "openAppPage", "sendTestEvent"
)
_DELIVERY_LINKS = _links("deliveryId", "getDelivery", "replayDelivery")

WEBHOOK_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "listApps",
        "GET",
        f"{HOOKS}/apps",
        "The store's apps, never their client secrets (a vitrina extension)",
        webhook_handlers.list_apps,
        "read_catalog",
        Answer(wire.AppList, "The apps, oldest first"),
        (400, 403, 429, 503),
        secret=True,
    ),
    Operation(
        "createApp",
        "POST",
        f"{HOOKS}/apps",
        "Create an app: the only answer that holds its client secret (a vitrina extension)",
        webhook_handlers.create_app,
        "update_catalog",
        Answer(wire.CreatedApp, "The new app with its client secret", links=_APP_LINKS),
        (400, 403, 409, 413, 415, 429, 503),
        body=Body(wire.NewApp),
        secret=True,
    ),
    Operation(
        "getApp",
        "GET",
        f"{HOOKS}/apps/{{appId}}",
        "An app, without its client secret (a vitrina extension)",
        webhook_handlers.get_app,
        "read_catalog",
        Answer(wire.App, "The app"),
        (400, 403, 404, 429, 503),
        params=(APP,),
        secret=True,
    ),
    Operation(
        "updateApp",
        "PUT",
        f"{HOOKS}/apps/{{appId}}",
        "Change an app (a vitrina extension)",
        webhook_handlers.update_app,
        "update_catalog",
        Answer(wire.App, "The app as changed"),
        (400, 403, 404, 409, 413, 415, 429, 503),
        params=(APP,),
        body=Body(wire.AppInput),
        secret=True,
    ),
    Operation(
        "deleteApp",
        "DELETE",
        f"{HOOKS}/apps/{{appId}}",
        "Delete an app: its tokens stop working, it hears application.uninstalled "
        "(a vitrina extension)",
        webhook_handlers.delete_app,
        "update_catalog",
        Answer(wire.DeleteCount, "Deleted"),
        (400, 403, 404, 429, 503),
        params=(APP,),
        secret=True,
    ),
    Operation(
        "uninstallApp",
        "POST",
        f"{HOOKS}/apps/{{appId}}/uninstall",
        "Uninstall an app: its tokens stop working, it hears application.uninstalled, and it "
        "stays, to be installed again by OAuth (a vitrina extension)",
        webhook_handlers.uninstall_app,
        "update_catalog",
        Answer(wire.App, "The app, not installed"),
        (400, 403, 404, 409, 429, 503),
        params=(APP,),
        secret=True,
    ),
    Operation(
        "openAppPage",
        "POST",
        f"{HOOKS}/apps/{{appId}}/page",
        "A native app's page: its iframe URL with the payload Ecwid hands it, holding a "
        "token made for this opening (a vitrina extension)",
        webhook_handlers.open_app_page,
        "read_catalog",
        Answer(wire.AppPage, "The URL to open in a frame"),
        (400, 403, 404, 409, 429, 503),
        params=(APP,),
        secret=True,
    ),
    Operation(
        "sendTestEvent",
        "POST",
        f"{HOOKS}/apps/{{appId}}/test",
        "Send the app a signed category.updated for a category (a vitrina extension)",
        webhook_handlers.send_test_event,
        "update_catalog",
        Answer(wire.WebhookDelivery, "The delivery queued", links=_DELIVERY_LINKS),
        (400, 403, 404, 409, 413, 415, 429, 503),
        params=(APP,),
        body=Body(wire.WebhookTestEvent),
        secret=True,
    ),
    Operation(
        "listDeliveries",
        "GET",
        f"{HOOKS}/deliveries",
        "Webhook deliveries, newest first (a vitrina extension)",
        webhook_handlers.list_deliveries,
        "read_catalog",
        Answer(wire.WebhookDeliveryList, "Newest first"),
        (400, 403, 429, 503),
        params=(
            _query("app", Number(wire.APP_ID), "Only this app's"),
            _limit("At most this many (up to 200 are answered)", 50),
            _query("before", Number(wire.COUNT), "Only deliveries with a smaller id (paging)", 0),
        ),
        secret=True,
    ),
    Operation(
        "getDelivery",
        "GET",
        f"{HOOKS}/deliveries/{{deliveryId}}",
        "A delivery with every attempt: status, duration, error, the answer's first 2 KiB, "
        "the request as sent, the next attempt (a vitrina extension)",
        webhook_handlers.get_delivery,
        "read_catalog",
        Answer(wire.WebhookDeliveryDetail, "The delivery and its attempts, oldest first"),
        (400, 403, 404, 429, 503),
        params=(DELIVERY,),
        secret=True,
    ),
    Operation(
        "replayDelivery",
        "POST",
        f"{HOOKS}/deliveries/{{deliveryId}}/replay",
        "Send a delivery's event again: a new delivery with the same eventId (a vitrina extension)",
        webhook_handlers.replay_delivery,
        "update_catalog",
        Answer(wire.WebhookDelivery, "The new delivery, queued", links=_DELIVERY_LINKS),
        (400, 403, 404, 409, 429, 503),
        params=(DELIVERY,),
        secret=True,
    ),
)

# Batch requests (Ecwid's /batch): a ticket is seen by the token that sent it
BATCH = f"{API}/batch"
_TICKET = "The ticket that POST /batch answered"
TICKET = _query("ticket", Text(**_NOT_BLANK), _TICKET)
TICKET_ID = _query("ticketId", Text(**_NOT_BLANK), "The same, as docs.ecwid.com names it")
_BATCH_LINKS = {
    "GetBatch": {
        "operationId": "getBatch",
        "parameters": {"storeId": "$request.path.storeId", "ticket": "$response.body#/ticket"},
    },
    "DeleteBatch": {
        "operationId": "deleteBatch",
        "parameters": {"storeId": "$request.path.storeId", "ticketId": "$response.body#/ticket"},
    },
}
_BATCH_BODY = {
    "application/json": {
        "schema": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_REQUESTS,
            "items": {"$ref": "#/components/schemas/BatchRequest"},
        }
    }
}
_BATCH_ANSWERS = {
    "application/json": {
        "schema": {
            "oneOf": [
                {"$ref": "#/components/schemas/BatchStatus"},
                {"$ref": "#/components/schemas/BatchList"},
            ]
        }
    }
}

BATCH_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "createBatch",
        "POST",
        BATCH,
        "Send up to 500 API requests at once: they run in order, in the background, with "
        "this token's scopes",
        batch_handlers.create_batch,
        None,
        Answer(wire.BatchTicket, "The batch's ticket", links=_BATCH_LINKS),
        (400, 403, 413, 415, 429, 503),
        params=(
            _query(
                "stopOnFirstFailure",
                Flag(),
                "Skip the requests after the first that fails (the default)",
                True,
            ),
        ),
        body=Body(
            content=_BATCH_BODY,
            description="The requests: each a path below /api/v3/{storeId} (a query too), a "
            "method and, for POST and PUT, a body. Images only by externalUrl.",
        ),
    ),
    Operation(
        "getBatch",
        "GET",
        BATCH,
        "A batch's status and its answers so far (with ticket or ticketId); without either, "
        "this token's batches",
        batch_handlers.get_batch,
        None,
        Answer(
            None,
            "A ticket's status and answers (BatchStatus), or a page of tickets (BatchList)",
            media=_BATCH_ANSWERS,
        ),
        (400, 403, 404, 429, 503),
        params=(
            TICKET,
            TICKET_ID,
            _query("escapedJson", Flag(), "Each answer as text in escapedHttpBody", False),
            _query("status", Choice(TICKET_STATUSES), "Listing: only tickets in this state"),
            OFFSET,
            _limit("Listing: page size (at most 100 are answered)", wire.MAX_PAGE),
        ),
    ),
    Operation(
        "deleteBatch",
        "DELETE",
        BATCH,
        "Delete a batch: the requests it has not yet run never run",
        batch_handlers.delete_batch,
        None,
        Answer(wire.DeleteCount, "deleteCount 1, or 0 when there is no such ticket"),
        (400, 403, 429, 503),
        params=(TICKET_ID, TICKET),
    ),
)

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
            _query("parent", Number(wire.PARENT_ID), "Parent id; 0 for root"),
            _query("parentIds", Ids(), "Comma list of parent ids"),
            _query("withSubcategories", Flag(), "All descendants of the parents", False),
            HIDDEN,
            PRODUCT_IDS,
            _query("keyword", Text(), "Name or description contains", ""),
            _query("categoryIds", Ids(), "Comma list of ids"),
            OFFSET,
            _limit(_PAGE, wire.MAX_PAGE),
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
            _query("externalUrl", Text(**_NOT_BLANK), "Download the image from here (https)"),
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
            _query(
                "path",
                Text(**_NOT_BLANK),
                "Names from the root down, e.g. `Toys/Cars` (case-insensitive)",
                required=True,
            ),
            _query("delimiter", Text(), "Between names (default /)"),
            _query("delimeter", Text(), "The same, another spelling"),
            HIDDEN,
            PRODUCT_IDS,
            OFFSET,
            _limit(_PAGE, wire.MAX_PAGE),
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
            _limit("At most this many (up to 1000 are answered)", 100),
            _query("after", Number(wire.COUNT), "Only entries with a larger id (polling)", 0),
            _query("status", Choice(wire.STATUS_CLASSES), "Only this status class"),
            _query("path", Text(), "Only paths containing this", ""),
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
