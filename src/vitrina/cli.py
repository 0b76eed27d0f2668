"""The vitrina command: the server, its stores and tokens, and the client's
upload and mirror. Every server command works on the same data folder or
database URL as serve, from the same settings (VITRINA_*)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from vitrina import __version__
from vitrina.cli_webhooks import add_commands as add_webhook_commands
from vitrina.client.cli import add_commands as add_client_commands
from vitrina.domain.errors import VitrinaError
from vitrina.domain.values import SCOPES
from vitrina.logs import configure as configure_logs
from vitrina.settings import Settings, SettingsError
from vitrina.usecases.tokens import (
    console_link,
    create_signin_code,
    create_token,
    parse_scopes,
    token_hash,
)

if TYPE_CHECKING:
    from vitrina.bootstrap import Services

# The server's commands import the server (SQLAlchemy, pyvips, Starlette) when
# they run, so that the client's commands work where only the client is
# installed (pip install vitrina, without the [server] extra).
_SERVER_PACKAGES = {"sqlalchemy", "alembic", "pyvips", "starlette", "uvicorn", "numpy"}
SERVER_MISSING = (
    "vitrina: this command needs the server, which is not installed: pip install 'vitrina[server]'"
)

log = logging.getLogger("vitrina")


_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})?")


def command_name() -> str:
    """The vitrina command as it can be typed here, for the hints printed:
    ``vitrina`` when that is on the PATH, else the path it was started by
    (``.venv/bin/vitrina`` after ``make run``, as the README says)."""
    started = Path(sys.argv[0])
    if started.name != "vitrina":  # python -m vitrina, or called in-process
        return "vitrina"
    found = shutil.which("vitrina")
    if found and Path(found).resolve() == started.resolve():
        return "vitrina"
    if started.is_absolute():
        inside = os.path.relpath(started, Path.cwd())
        started = started if inside.startswith("..") else Path(inside)
    shown = str(started)
    return shlex.quote(shown if "/" in shown else "./" + shown)


def _port_in_use(host: str, port: int) -> bool:
    """Whether another program listens on ``host:port``, found by binding
    as uvicorn does (address reuse on, so a closed connection's leftovers
    do not count). Other reasons a bind fails are left to the server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _port_taken(settings: Settings) -> str | None:
    """One line that says the port is taken and how to choose another, or
    None when it is free."""
    host, port = settings.host, settings.port
    if not _port_in_use(host, port):
        return None
    free = next(
        (p for p in range(port + 1, min(port + 100, 65536)) if not _port_in_use(host, p)),
        port + 1,
    )
    return (
        f"vitrina: error: port {port} on {host} is in use by another program; choose another: "
        f"make run PORT={free}, or {command_name()} serve --port {free} (or VITRINA_PORT={free})"
    )


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "database_url": getattr(args, "database_url", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
    }
    return Settings.from_env(**overrides)


@contextmanager
def _services(args: argparse.Namespace, upgrade: bool = False) -> Iterator[Services]:
    """The services for one command, closed after it. The schema must be this
    version's, unless ``upgrade`` (serve, migrate, import) brings it there."""
    from vitrina.backends.metadata import migrate
    from vitrina.bootstrap import build_services

    with build_services(_settings(args)) as services:
        assert services.engine is not None
        if upgrade:
            migrate.upgrade(services.engine)
        else:
            migrate.require_current(services.engine)
        yield services


def cmd_demo(args: argparse.Namespace) -> int:
    """A demo store and a token, on an installation without stores; then how
    to call the server and a fresh console sign-in link (make run calls this
    before serve, every time: a link works once, for a few minutes). With
    --port, the port serve is about to use must be free: a taken port stops
    make run before anything is printed or created."""
    if args.port is not None:
        taken = _port_taken(_settings(args))
        if taken:
            print(taken, file=sys.stderr)
            return 2
    with _services(args, upgrade=True) as services:
        _demo(services)
    return 0


def _demo(services: Services) -> None:
    settings = services.settings
    base = settings.effective_public_url
    from vitrina.backends.metadata.sql_stores import STORE_ID

    stores = services.metadata.stores.list_stores()
    if stores:
        print("API page:   " + base + "/docs")
        print(f"Storefront: {stores[0].storefront_url}/ (each category's url opens its page)")
        print(f"New token:  {command_name()} token create --store {stores[0].id}")
        _print_console_link(services, stores[0].id, frozenset(SCOPES))
        return
    store = services.metadata.stores.create_store("Demo store", f"{base}/store/{STORE_ID}")
    token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
    print(f"Created the demo store #{store.id} and a secret token with scopes {','.join(SCOPES)}.")
    print("The token is shown only this once:")
    print(f"  {token}")
    print("Try:")
    print(
        f"  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
        f'-d \'{{"name": "Toys"}}\' {base}/api/v3/{store.id}/categories'
    )
    print(f"  curl -H 'Authorization: Bearer {token}' {base}/api/v3/{store.id}/categories")
    print("API page:   " + base + "/docs")
    print(f"Storefront: {store.storefront_url}/ (each category's url opens its page)")
    print(f"New token:  {command_name()} token create --store {store.id}")
    _print_console_link(services, store.id, frozenset(SCOPES))


def _print_console_link(services: Services, store_id: int, scopes: frozenset[str]) -> None:
    """A sign-in link, never the token: the code in it works once, for a few
    minutes, so a browser's history keeps nothing that still opens the store."""
    settings = services.settings
    code = create_signin_code(services.metadata, store_id, scopes, settings.console_link_seconds)
    minutes = max(1, settings.console_link_seconds // 60)
    print(f"Console:    {console_link(settings.effective_public_url, store_id, code)}")
    print(
        f"            (signs in to store #{store_id} once, within {minutes} minutes; "
        f"a new link: {command_name()} console-link --store {store_id})"
    )


def cmd_console_link(args: argparse.Namespace) -> int:
    scopes = parse_scopes(args.scopes or ",".join(SCOPES))
    with _services(args) as services:
        settings = services.settings
        code = create_signin_code(
            services.metadata, args.store, scopes, settings.console_link_seconds
        )
    print(console_link(settings.effective_public_url, args.store, code))
    print(
        f"Opens the console signed in to store #{args.store} with {','.join(sorted(scopes))}; "
        f"works once, within {settings.console_link_seconds} seconds.",
        file=sys.stderr,
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vitrina.web.server import DeadlineProtocol, serve_workers

    settings = _settings(args)
    taken = _port_taken(settings)
    if taken:  # before anything else is printed
        print(taken, file=sys.stderr)
        return 2
    if settings.workers > 1 and settings.metrics_token:
        # one set of metrics for every process: set before any of them
        # (this one included) imports prometheus_client
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="vitrina-metrics-")
        )
    with _services(args, upgrade=True) as services:
        # the upgrade has reached the database; a bucket that cannot be reached
        # stops start-up too, not the first upload
        services.blobs.ping()
        if not services.metadata.stores.list_stores():
            print(f"No store yet: {command_name()} demo creates one with a token (make run does)")
    print(
        f"vitrina {__version__} on {settings.effective_public_url} "
        f"(data: {settings.data_dir}, {settings.workers} process(es)); "
        f"API page {settings.effective_public_url}/docs, "
        f"console {settings.effective_public_url}/console/"
    )
    sys.stdout.flush()
    DeadlineProtocol.configure(settings)
    if settings.workers > 1:
        return serve_workers(settings)
    from vitrina.web.app import create_app
    from vitrina.web.server import DrainingServer

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # vitrina.logs has set up the root logger
        access_log=False,
        http=DeadlineProtocol,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    DrainingServer(config, settings.shutdown_drain_seconds, app.state.ctx.draining.set).run()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from vitrina.usecases.upload_jobs import JobWorker
    from vitrina.web.batch_calls import standalone

    with _services(args) as services, standalone(services):
        worker = JobWorker(services)
        worker.start()
        print(
            "vitrina worker running async uploads, webhook deliveries and batch requests; "
            "Ctrl-C stops it"
        )
        try:
            while True:
                worker.wait(3600)
        except KeyboardInterrupt:
            worker.stop()
    return 0


def cmd_store_create(args: argparse.Namespace) -> int:
    from vitrina.backends.metadata.sql_stores import STORE_ID

    # each store its own pages by default: <public URL>/store/<its id>
    url = args.url or f"{_settings(args).effective_public_url}/store/{STORE_ID}"
    for size in (args.thumbnail_size, args.image_size):
        if not 16 <= size <= 10_000:
            print("vitrina: error: image sizes must be between 16 and 10000", file=sys.stderr)
            return 2
    languages = tuple(code.strip() for code in args.languages.split(",") if code.strip())
    bad = [code for code in languages if not _LANGUAGE.fullmatch(code)]
    if not languages or bad:
        print(
            "vitrina: error: --languages takes language codes such as en,fr,pt_BR; "
            f"got {args.languages!r}",
            file=sys.stderr,
        )
        return 2
    with _services(args) as services:
        store = services.metadata.stores.create_store(
            args.name, url, args.thumbnail_size, args.image_size, tuple(dict.fromkeys(languages))
        )
    print(store.id)
    return 0


def cmd_store_list(args: argparse.Namespace) -> int:
    with _services(args) as services:
        found = services.metadata.stores.list_stores()
    for store in found:
        print(f"{store.id}\t{store.name}\t{store.storefront_url}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    scopes = parse_scopes(args.scopes or ("read_catalog" if args.public else ",".join(SCOPES)))
    with _services(args) as services:
        token, _ = create_token(services.metadata, args.store, scopes, public=args.public)
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _services(args) as services:
        revoked = services.metadata.stores.revoke_token(token_hash(args.token))
    if not revoked:
        print("vitrina: no such active token", file=sys.stderr)
        return 1
    print("revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with _services(args) as services:
        found = services.metadata.stores.list_tokens(args.store)
    for t in found:
        state = "revoked" if t.revoked else "active"
        print(
            f"{t.id}\t{t.hint}…\t{t.kind}\t{','.join(sorted(t.scopes))}\t{state}\t"
            f"{t.created_at:%Y-%m-%d %H:%M}"
        )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    for name, value in _settings(args).describe():
        print(f"{name}={value}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from vitrina.backends.metadata import migrate

    with _services(args, upgrade=True) as services:
        assert services.engine is not None
        print(f"schema at revision {migrate.current(services.engine)}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from vitrina.usecases import category_images as images

    with _services(args) as services:
        grace = services.settings.gc_grace_seconds
        removed = images.sweep(
            services, grace if args.grace_seconds is None else args.grace_seconds
        )
        pruned = images.prune_jobs(services)
    print(f"removed {removed} unreferenced files and {pruned} finished async upload jobs")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    with _services(args) as services:
        found = services.metadata.jobs.list_jobs(args.state, args.limit)
    for job in found:
        when = f"{job.updated_at:%Y-%m-%d %H:%M:%S}" if job.updated_at else ""
        print(
            f"{job.id}\t{job.state}\tstore {job.store_id}\tcategory {job.category_id}\t"
            f"attempts {job.attempts}\t{when}\t{job.url}\t{job.last_error}"
        )
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    status_class = int(args.status[0]) if args.status else None
    with _services(args) as services:
        found = services.metadata.requests.recent(
            args.store, args.limit, 0, status_class, args.path or ""
        )
    for entry in found:
        target = entry.path + ("?" + entry.query if entry.query else "")
        print(
            f"{entry.at:%Y-%m-%d %H:%M:%S}\t{entry.method}\t{entry.status}\t"
            f"{entry.duration_ms:.1f} ms\t{target}\t{entry.error_code}".rstrip()
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vitrina.usecases import transfer

    with _services(args) as services:
        manifest = transfer.export(services, args.folder)
    counts = manifest.counts
    print(
        f"exported {counts['stores']} stores, {counts['tokens']} tokens, "
        f"{counts['categories']} categories, {counts['images']} images and "
        f"{len(manifest.files)} files to {args.folder}"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from vitrina.usecases import transfer

    with _services(args, upgrade=True) as services:
        manifest = transfer.import_(services, args.folder)
    counts = manifest.counts
    print(
        f"imported {counts['stores']} stores, {counts['tokens']} tokens, "
        f"{counts['categories']} categories, {counts['images']} images and "
        f"{len(manifest.files)} files; every file checked against its SHA-256"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data folder (VITRINA_DATA_DIR)")
    common.add_argument("--database-url", help="database URL (VITRINA_DATABASE_URL)")
    parser = argparse.ArgumentParser(
        prog="vitrina",
        description=__doc__,
        epilog="vitrina COMMAND --help shows a command's options. From a clone where make run "
        "made .venv, the command is .venv/bin/vitrina.",
    )
    parser.add_argument("--version", action="version", version=f"vitrina {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str,
        func: Callable[[argparse.Namespace], int],
        text: str,
        into: argparse._SubParsersAction[argparse.ArgumentParser] = sub,
    ) -> argparse.ArgumentParser:
        p = into.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(func=func)
        return p

    serve = add("serve", cmd_serve, "Run the HTTP server (and the async-upload worker).")
    serve.add_argument("--host", help="listen address (VITRINA_HOST)")
    serve.add_argument("--port", type=int, help="listen port (VITRINA_PORT)")
    serve.add_argument("--workers", type=int, help="server processes (VITRINA_WORKERS)")
    add(
        "worker",
        cmd_worker,
        "Run only the worker: async uploads, webhook deliveries and batch requests.",
    )
    p = add(
        "demo",
        cmd_demo,
        "Create a demo store and token if there is no store; print how to call, and a "
        "console sign-in link.",
    )
    p.add_argument(
        "--port",
        type=int,
        help="the port serve is about to listen on (VITRINA_PORT): the printed URLs use it, "
        "and it must be free",
    )
    p = add(
        "console-link",
        cmd_console_link,
        "Print a console sign-in link for a store: it works once, for a few minutes "
        "(VITRINA_CONSOLE_LINK_SECONDS), and opens a session that expires.",
    )
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument(
        "--scopes", help=f"comma list of {', '.join(SCOPES)} for the session (default: all)"
    )

    store = sub.add_parser("store", help="Create and list stores.").add_subparsers(
        dest="store_command", required=True
    )
    p = add("create", cmd_store_create, "Create a store; prints its id.", store)
    p.add_argument("--name", default="My store", help="store name")
    p.add_argument(
        "--url",
        help="storefront URL used in category links (default: this server's /store/ID, "
        "where vitrina shows a preview of each category)",
    )
    p.add_argument("--thumbnail-size", type=int, default=400, help="thumbnail box (default 400)")
    p.add_argument("--image-size", type=int, default=1200, help="image box (default 1200)")
    p.add_argument(
        "--languages",
        default="en",
        help="enabled languages, comma-separated; the first is the default (default en)",
    )
    add("list", cmd_store_list, "List stores.", store)

    token = sub.add_parser("token", help="Create, revoke and list API tokens.").add_subparsers(
        dest="token_command", required=True
    )
    p = add("create", cmd_token_create, "Create a token; prints it, once.", token)
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--scopes", help=f"comma list of {', '.join(SCOPES)} (default: all)")
    p.add_argument(
        "--public", action="store_true", help="a public_ token: reads enabled categories only"
    )
    p = add("revoke", cmd_token_revoke, "Revoke a token.", token)
    p.add_argument("token")
    p = add("list", cmd_token_list, "List a store's tokens (never the secrets).", token)
    p.add_argument("--store", type=int, required=True, help="store id")

    add("settings", cmd_settings, "Print the effective configuration, secrets masked.")
    add("migrate", cmd_migrate, "Bring the database schema up to date.")
    p = add("gc", cmd_gc, "Delete image files that nothing points at.")
    p.add_argument(
        "--grace-seconds", type=int, help="leave files younger than this (VITRINA_GC_GRACE_SECONDS)"
    )
    p = add("requests", cmd_requests, "Print a store's last API requests, newest first.")
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--status", choices=["2xx", "3xx", "4xx", "5xx"], help="only this class")
    p.add_argument("--path", help="only paths containing this")
    p = add("export", cmd_export, "Write every table and file to a folder, with checksums.")
    p.add_argument("folder", type=Path, help="a new or empty folder")
    p = add("import", cmd_import, "Load an export into an empty database and file store.")
    p.add_argument("folder", type=Path, help="a folder written by vitrina export")
    p = add("jobs", cmd_jobs, "List async-upload jobs, newest first.")
    p.add_argument("--state", choices=["queued", "running", "done", "failed", "cancelled"])
    p.add_argument("--limit", type=int, default=50)
    add_webhook_commands(sub, add, _services)

    def add_client(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func, client=True)
        return p

    add_client_commands(add_client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "client", False):  # upload, mirror: no server settings
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        try:
            client_result: int = args.func(args)
        except KeyboardInterrupt:
            return 130
        return client_result
    try:
        settings = _settings(args)
        configure_logs(settings.log_level, settings.log_format)
        if settings.log_level != "debug":
            logging.getLogger("alembic").setLevel(logging.WARNING)
        result: int = args.func(args)
        return result
    except (SettingsError, VitrinaError) as exc:
        print(f"vitrina: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in _SERVER_PACKAGES:
            print(SERVER_MISSING, file=sys.stderr)
            return 2
        raise
