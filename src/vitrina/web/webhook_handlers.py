"""Apps and their webhooks, as vitrina extensions under
/api/v3/{storeId}/_webhooks/… (declared in web/api.py; secret tokens only):
the store's apps (created, changed, uninstalled, deleted; the client secret
only in the answer to a creation), a native app's page, the delivery log
with every attempt, "send again" and a test event. The console and the command line do the same."""

from __future__ import annotations

from datetime import datetime

from msgspec import UNSET, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.values import App, Attempt, Delivery
from vitrina.usecases import apps as app_cases
from vitrina.usecases import native_apps, oauth, webhook_log
from vitrina.web.operation import Call
from vitrina.web.responses import JSON


def _time(at: datetime | None) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z") if at else ""


def _app(app: App) -> wire.App:
    return wire.App(
        id=app.id,
        name=app.name,
        clientId=app.client_id,
        scopes=sorted(app.scopes),
        webhookUrl=app.webhook_url,
        events=list(app.events),
        redirectUri=app.redirect_uri,
        iframeUrl=app.iframe_url,
        created=_time(app.created_at),
        installed=_time(app.installed_at) or None,
    )


def _delivery(found: Delivery) -> wire.WebhookDelivery:
    event = found.event
    return wire.WebhookDelivery(
        id=found.id,
        appId=found.app_id,
        eventId=event.event_id,
        eventType=event.event_type,
        eventCreated=event.created,
        storeId=event.store_id,
        entityId=event.entity_id,
        state=found.state,
        attemptCount=found.attempts,
        nextAttemptAt=_time(found.due_at) if found.state == "pending" else None,
        lastStatus=found.last_status,
        lastError=found.last_error,
        created=_time(found.created_at),
        updated=_time(found.updated_at),
    )


def _attempt(attempt: Attempt) -> wire.WebhookAttempt:
    return wire.WebhookAttempt(
        number=attempt.number,
        time=_time(attempt.at),
        status=attempt.status,
        durationMs=attempt.duration_ms,
        error=attempt.error,
        response=attempt.response,
        requestHeaders=dict(attempt.request_headers),
        requestBody=attempt.request_body,
        nextAttemptAt=_time(attempt.next_at) if attempt.next_at else None,
    )


def _queued(call: Call) -> None:
    """A delivery was queued: this process's worker, if it runs one, sends
    it now rather than at its next look."""
    if call.ctx.worker is not None:
        call.ctx.worker.wake()


def _text(value: str | UnsetType) -> str:
    return "" if isinstance(value, UnsetType) else value


# -- apps --------------------------------------------------------------------------


async def list_apps(call: Call) -> Response:
    found = await run_in_threadpool(call.ctx.services.metadata.apps.list_apps, call.store_id)
    return JSON(wire.AppList(count=len(found), items=[_app(a) for a in found]))


async def get_app(call: Call) -> Response:
    found = await run_in_threadpool(
        webhook_log.app, call.ctx.services, call.store_id, call.args["appId"]
    )
    return JSON(_app(found))


async def create_app(call: Call) -> Response:
    body: wire.NewApp = call.args["body"]
    app, done = await run_in_threadpool(
        lambda: app_cases.create(
            call.ctx.services,
            call.store_id,
            body.name,
            scopes=("read_catalog",) if isinstance(body.scopes, UnsetType) else body.scopes,
            webhook_url=_text(body.webhookUrl),
            events=() if isinstance(body.events, UnsetType) else body.events,
            redirect_uri=_text(body.redirectUri),
            iframe_url=_text(body.iframeUrl),
            grantor=call.who.token.scopes,
        )
    )
    await call.settle(done)
    _queued(call)
    shown = _app(app)
    created = wire.CreatedApp(
        **{name: getattr(shown, name) for name in shown.__struct_fields__},
        clientSecret=app.client_secret,
    )
    return JSON(created, headers={"Cache-Control": "no-store"})


async def update_app(call: Call) -> Response:
    body: wire.AppInput = call.args["body"]
    changed = await run_in_threadpool(
        lambda: app_cases.change(
            call.ctx.services,
            call.store_id,
            call.args["appId"],
            name=None if body.name is UNSET else body.name,
            scopes=None if body.scopes is UNSET else body.scopes,
            webhook_url=None if body.webhookUrl is UNSET else body.webhookUrl,
            events=None if body.events is UNSET else body.events,
            redirect_uri=None if body.redirectUri is UNSET else body.redirectUri,
            iframe_url=None if body.iframeUrl is UNSET else body.iframeUrl,
            grantor=call.who.token.scopes,
        )
    )
    return JSON(_app(changed))


async def delete_app(call: Call) -> Response:
    done = await run_in_threadpool(
        app_cases.delete, call.ctx.services, call.store_id, call.args["appId"]
    )
    await call.settle(done)
    _queued(call)
    return JSON(wire.DeleteCount(deleteCount=1))


async def uninstall_app(call: Call) -> Response:
    """Its tokens stop working, it hears application.uninstalled; it stays,
    to be installed again by OAuth."""
    done = await run_in_threadpool(
        oauth.uninstall, call.ctx.services, call.store_id, call.args["appId"]
    )
    await call.settle(done)
    _queued(call)
    found = await run_in_threadpool(
        webhook_log.app, call.ctx.services, call.store_id, call.args["appId"]
    )
    return JSON(_app(found))


async def open_app_page(call: Call) -> Response:
    """A native app's page: its iframe URL with the payload Ecwid hands it."""
    url, expires = await run_in_threadpool(
        native_apps.open_page,
        call.ctx.services,
        call.store_id,
        call.args["appId"],
        call.who.token,
        call.ctx.settings.console_session_seconds,
    )
    page = wire.AppPage(url=url, expiresAt=_time(expires))
    return JSON(page, headers={"Cache-Control": "no-store"})


async def send_test_event(call: Call) -> Response:
    body: wire.WebhookTestEvent = call.args["body"]
    queued = await run_in_threadpool(
        webhook_log.send_test,
        call.ctx.services,
        call.store_id,
        call.args["appId"],
        body.categoryId,
    )
    _queued(call)
    return JSON(_delivery(queued))


# -- the delivery log ---------------------------------------------------------------


async def list_deliveries(call: Call) -> Response:
    args = call.args
    found = await run_in_threadpool(
        webhook_log.deliveries,
        call.ctx.services,
        call.store_id,
        args["app"],
        args["limit"],
        args["before"],
    )
    return JSON(wire.WebhookDeliveryList(count=len(found), items=[_delivery(d) for d in found]))


async def get_delivery(call: Call) -> Response:
    found, attempts = await run_in_threadpool(
        webhook_log.delivery, call.ctx.services, call.store_id, call.args["deliveryId"]
    )
    shown = _delivery(found)
    detail = wire.WebhookDeliveryDetail(
        **{name: getattr(shown, name) for name in shown.__struct_fields__},
        attempts=[_attempt(a) for a in attempts],
    )
    return JSON(detail)


async def replay_delivery(call: Call) -> Response:
    queued = await run_in_threadpool(
        webhook_log.replay, call.ctx.services, call.store_id, call.args["deliveryId"]
    )
    _queued(call)
    return JSON(_delivery(queued))
