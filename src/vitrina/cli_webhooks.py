"""The commands for a store's apps and their webhooks: vitrina app
create|list|show|uninstall|delete and vitrina webhooks list|show|replay|test. They
work on the database as serve does; what they queue (a replay, a test
event) is sent by the worker of vitrina serve, or of vitrina worker.

Every text that came from outside (names, URLs, a receiver's answer) is
printed with its control characters shown as escapes, so that nothing a
receiver answered can move the cursor or recolour the terminal."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vitrina.domain.errors import BadRequest
from vitrina.domain.values import EVENT_TYPES
from vitrina.wire import APP_SCOPES

if TYPE_CHECKING:
    from vitrina.bootstrap import Services
    from vitrina.domain.values import App, Attempt, Delivery

Opener = Callable[[argparse.Namespace], AbstractContextManager["Services"]]
Adder = Callable[..., argparse.ArgumentParser]

# what make run gives serve, so that an app on this machine gets webhooks
LOOPBACK = "VITRINA_WEBHOOK_ALLOW_HTTP=true VITRINA_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8,::1/128"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def plain(text: str, lines: bool = False) -> str:
    """``text`` with control characters as escapes (newlines and tabs too,
    unless ``lines``)."""
    if not lines:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _listed(values: Iterable[str] | None) -> list[str]:
    """--events a,b c: each word, comma lists split."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "-"


def _events(app: App) -> str:
    return ",".join(app.events) if app.events else "all it may see"


class Commands:
    """The commands, each opening the services as the other commands do."""

    def __init__(self, opened: Opener) -> None:
        self.opened = opened

    # -- apps --------------------------------------------------------------------

    def app_create(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import apps

        scopes = _listed(args.scopes) or ["read_catalog"]
        try:
            with self.opened(args) as services:
                app, _ = apps.create(
                    services,
                    args.store,
                    args.name,
                    scopes=scopes,
                    webhook_url=args.webhook_url or "",
                    events=_listed(args.events),
                    redirect_uri=args.redirect_uri or "",
                    iframe_url=args.iframe_url or "",
                )
        except BadRequest as exc:
            if "Only https://" in exc.message or "public internet address" in exc.message:
                raise BadRequest(
                    f"{exc.message}. For an app on this machine, run this command and serve "
                    f"with {LOOPBACK} (make run sets them for serve)"
                ) from None
            raise
        print(f"app_id: {app.id}")
        print(f"client_id: {app.client_id}")
        print(f"client_secret: {app.client_secret}")
        print(
            "The client secret is shown only this once: it signs the app's webhooks "
            "(X-Ecwid-Webhook-Signature). Keep it with the app.",
            file=sys.stderr,
        )
        return 0

    def app_list(self, args: argparse.Namespace) -> int:
        with self.opened(args) as services:
            found = services.metadata.apps.list_apps(args.store)
        for app in found:
            print(
                f"{app.id}\t{plain(app.name)}\t{app.client_id}\t{','.join(sorted(app.scopes))}\t"
                f"{plain(app.webhook_url) or '(no webhooks)'}\t{_events(app)}"
            )
        return 0

    def app_show(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import webhook_log

        with self.opened(args) as services:
            app = webhook_log.app(services, args.store, args.app_id)
        fields = {
            "id": str(app.id),
            "name": plain(app.name),
            "client_id": app.client_id,
            "client_secret": "(shown only when the app was created)",
            "scopes": ",".join(sorted(app.scopes)),
            "webhook_url": plain(app.webhook_url) or "(none: no webhooks)",
            "events": _events(app),
            "redirect_uri": plain(app.redirect_uri),
            "iframe_url": plain(app.iframe_url),
            "created": _when(app.created_at),
            "installed": _when(app.installed_at) if app.installed_at else "no (uninstalled)",
        }
        for name, value in fields.items():
            print(f"{name}: {value}".rstrip())
        return 0

    def app_uninstall(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import oauth

        with self.opened(args) as services:
            oauth.uninstall(services, args.store, args.app_id)
        print(
            f"uninstalled app #{args.app_id}: its tokens stop working and it hears "
            "application.uninstalled; it installs itself again by OAuth"
        )
        return 0

    def app_delete(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import apps

        with self.opened(args) as services:
            apps.delete(services, args.store, args.app_id)
        print(
            f"deleted app #{args.app_id}: its tokens stop working, its waiting events are "
            "dropped, and it hears application.uninstalled if it asked for it"
        )
        return 0

    # -- the delivery log --------------------------------------------------------------

    def webhooks_list(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import webhook_log

        with self.opened(args) as services:
            found = webhook_log.deliveries(
                services, args.store, args.app, args.limit, args.before or 0
            )
        for d in found:
            event = d.event
            status = "-" if d.last_status is None else str(d.last_status)
            print(
                f"{d.id}\t{_when(d.created_at)}\t{event.event_type}\t#{event.entity_id}\t"
                f"app {d.app_id}\t{d.state}\t{d.attempts} attempt(s)\t{status}\t"
                f"{plain(d.last_error)}".rstrip()
            )
        return 0

    def webhooks_show(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import webhook_log

        with self.opened(args) as services:
            delivery, attempts = webhook_log.delivery(services, args.store, args.delivery_id)
        _print_delivery(delivery, attempts)
        return 0

    def webhooks_replay(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import webhook_log

        with self.opened(args) as services:
            queued = webhook_log.replay(services, args.store, args.delivery_id)
        print(
            f"queued delivery #{queued.id}: {queued.event.event_type} of #"
            f"{queued.event.entity_id} again, same eventId {queued.event.event_id}, "
            f"for app #{queued.app_id}"
        )
        print(_SENT_BY, file=sys.stderr)
        return 0

    def webhooks_test(self, args: argparse.Namespace) -> int:
        from vitrina.usecases import webhook_log

        with self.opened(args) as services:
            queued = webhook_log.send_test(services, args.store, args.app, args.category)
        print(
            f"queued delivery #{queued.id}: a test {queued.event.event_type} of category "
            f"#{queued.event.entity_id} for app #{queued.app_id}, eventId {queued.event.event_id}"
        )
        print(_SENT_BY, file=sys.stderr)
        return 0


_SENT_BY = (
    "The worker of vitrina serve (or vitrina worker) sends it; vitrina webhooks show "
    "--store N ID then lists its attempts."
)


def _print_delivery(delivery: Delivery, attempts: list[Attempt]) -> None:
    event = delivery.event
    due = f" (next attempt {_when(delivery.due_at)})" if delivery.state == "pending" else ""
    print(f"delivery: {delivery.id}")
    print(f"event: {event.event_type} of #{event.entity_id} in store {event.store_id}")
    print(f"eventId: {event.event_id}")
    print(f"eventCreated: {event.created}")
    print(f"app: {delivery.app_id}")
    print(f"state: {delivery.state}{due}")
    print(f"attempts: {delivery.attempts}")
    for attempt in attempts:
        answer = "no answer" if attempt.status is None else f"HTTP {attempt.status}"
        print()
        print(
            f"attempt {attempt.number} at {_when(attempt.at)}: {answer} "
            f"after {attempt.duration_ms:.1f} ms"
        )
        if attempt.error:
            print(f"  error: {plain(attempt.error)}")
        print(f"  next attempt: {_when(attempt.next_at) if attempt.next_at else 'none'}")
        print("  request headers:")
        for name, value in attempt.request_headers.items():
            print(f"    {plain(name)}: {plain(value)}")
        print("  request body:")
        print(f"    {plain(attempt.request_body)}")
        print("  response (its first 2 KiB):")
        for line in plain(attempt.response, lines=True).splitlines() or [""]:
            print(f"    {line}".rstrip())


def add_commands(sub: Any, add: Adder, opened: Opener) -> None:
    """Add the app and webhooks commands to the parser's ``sub``commands."""
    commands = Commands(opened)
    app = sub.add_parser(
        "app",
        help="Create, list, show, uninstall and delete a store's apps (webhooks, OAuth clients).",
    ).add_subparsers(dest="app_command", required=True)
    p = add(
        "create",
        commands.app_create,
        "Create an app; prints its client_id and client_secret, the secret only this once.",
        app,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--name", required=True, help="the app's name")
    p.add_argument(
        "--webhook-url",
        help="where its webhooks go: https and a public address, unless "
        "VITRINA_WEBHOOK_ALLOW_HTTP and VITRINA_WEBHOOK_ALLOW_NETWORKS allow more "
        f"(for an app on this machine: {LOOPBACK})",
    )
    p.add_argument(
        "--events",
        nargs="+",
        action="extend",
        metavar="EVENT",
        help=f"event types it wants, of {', '.join(EVENT_TYPES)} (default: all it may see)",
    )
    p.add_argument(
        "--scopes",
        nargs="+",
        action="extend",
        metavar="SCOPE",
        help=f"scopes it is granted, of {', '.join(APP_SCOPES)} (default: read_catalog, "
        "which category events need)",
    )
    p.add_argument("--redirect-uri", help="where OAuth sends the install's code")
    p.add_argument("--iframe-url", help="the app's page inside the console")
    p = add("list", commands.app_list, "List a store's apps (never their secrets).", app)
    p.add_argument("--store", type=int, required=True, help="store id")
    p = add("show", commands.app_show, "Show an app (never its secret).", app)
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("app_id", type=int, metavar="APP_ID", help="the app's id")
    p = add(
        "uninstall",
        commands.app_uninstall,
        "Uninstall an app: its tokens stop working, it hears application.uninstalled, "
        "and it stays, to be installed again by OAuth.",
        app,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("app_id", type=int, metavar="APP_ID", help="the app's id")
    p = add(
        "delete",
        commands.app_delete,
        "Delete an app: its tokens stop working and it hears application.uninstalled.",
        app,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("app_id", type=int, metavar="APP_ID", help="the app's id")

    hooks = sub.add_parser(
        "webhooks", help="The webhook delivery log: list, show, send again, send a test event."
    ).add_subparsers(dest="webhooks_command", required=True)
    p = add("list", commands.webhooks_list, "List a store's deliveries, newest first.", hooks)
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--app", type=int, help="only this app's")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--before", type=int, help="only deliveries with a smaller id (the next page)")
    p = add(
        "show",
        commands.webhooks_show,
        "Show a delivery with every attempt: status, duration, error, the answer's first "
        "2 KiB, the request's headers and body as sent, the next attempt.",
        hooks,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("delivery_id", type=int, metavar="DELIVERY_ID", help="the delivery's id")
    p = add(
        "replay",
        commands.webhooks_replay,
        "Send a delivery's event again: a new delivery with the same eventId.",
        hooks,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("delivery_id", type=int, metavar="DELIVERY_ID", help="the delivery's id")
    p = add(
        "test",
        commands.webhooks_test,
        "Send an app a signed test category.updated for a category you pick.",
        hooks,
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--app", type=int, required=True, help="the app's id")
    p.add_argument("--category", type=int, required=True, help="the category the event names")
