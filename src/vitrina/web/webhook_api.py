"""The operations of apps and their webhooks (vitrina extensions), declared
as web/api.py declares the others (web/operation.py says what a
declaration holds)."""

from __future__ import annotations

from typing import Any

from vitrina import wire
from vitrina.web import webhook_handlers
from vitrina.web.operation import API, Answer, Body, Operation
from vitrina.web.params import Number, Param, limit, query

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
            query("app", Number(wire.APP_ID), "Only this app's"),
            limit("At most this many (up to 200 are answered)", 50),
            query("before", Number(wire.COUNT), "Only deliveries with a smaller id (paging)", 0),
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
