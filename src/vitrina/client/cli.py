"""``vitrina upload`` and ``vitrina mirror``: the client's commands, with a
Rich progress display, a summary table, and ``--json`` for scripts. They need
only the client's dependencies."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from vitrina.backends.fetching.addresses import IPNetwork
from vitrina.client._calls import ApiError, Retries
from vitrina.client._sync import Client
from vitrina.client._text import printable
from vitrina.client.bulk import (
    STATE_NAME,
    Item,
    Refused,
    Report,
    State,
    digest,
    files_in,
    place,
    place_manifest,
    read_manifest,
    run_uploads,
)
from vitrina.client.mirror import (
    ANYWHERE,
    Mirror,
    MirrorState,
    Plan,
    SourceImages,
    SourcePolicy,
    Step,
)
from vitrina.client.tree import SEPARATOR, Tree

Add = Callable[..., argparse.ArgumentParser]


def shown(value: object) -> str:
    """Text from a server (a name, a message, a reason) for a Rich console:
    control characters removed and markup escaped, so that it prints as the
    text it is. Every line these commands print that holds server data goes
    through here."""
    return escape(printable(str(value)))


def _console(stderr: bool) -> Console:
    return Console(stderr=stderr, emoji=False)  # ":smile:" in a name stays text


def api_base(url: str) -> str:
    """``http://host:8080`` or ``…/api/v3`` → the API base ``…/api/v3``."""
    url = url.rstrip("/")
    return url if url.endswith("/api/v3") else url + "/api/v3"


def _token(given: str | None, variable: str) -> str:
    token = given or os.environ.get(variable, "")
    if not token:
        raise SystemExit(f"vitrina: a token is needed: --token or {variable}")
    return token


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a network: {text!r} (e.g. 10.1.0.0/16)") from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
        return value

    return parse


def _add_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=_positive(float),
        default=300.0,
        metavar="SECONDS",
        help="the most one API call may take, its retries included (default 300)",
    )


def add_commands(add: Add) -> None:
    p = add("upload", cmd_upload, "Upload a folder of photos to their categories, with progress.")
    p.add_argument("folder", type=Path, help="the photos")
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--store", type=int, required=True, help="store id")
    p.add_argument("--token", help="a token with update_catalog (or VITRINA_TOKEN)")
    p.add_argument(
        "--match",
        choices=["id", "name", "path"],
        default="id",
        help="123.jpg → category 123 (id); Toys.jpg → the category named Toys (name); "
        "Toys/Cars.jpg → the path Toys, then Cars (path). Default: id",
    )
    p.add_argument("--manifest", type=Path, help="a CSV of file,category_id or file,category_path")
    p.add_argument("--create-missing", action="store_true", help="create missing categories")
    p.add_argument("--concurrency", type=int, default=4, help="uploads at once (default 4)")
    p.add_argument("--state", type=Path, help=f"the state file (default FOLDER/{STATE_NAME})")
    p.add_argument("--dry-run", action="store_true", help="print the plan, upload nothing")
    p.add_argument("--json", action="store_true", help="print a JSON report instead")
    _add_timeout(p)

    p = add("mirror", cmd_mirror, "Copy a catalogue between two Ecwid-compatible APIs.")
    p.add_argument(
        "--from-url", required=True, help="source API, e.g. https://app.ecwid.com/api/v3"
    )
    p.add_argument("--from-store", type=int, required=True)
    p.add_argument("--from-token", help="read_catalog on the source (or VITRINA_FROM_TOKEN)")
    p.add_argument("--to-url", required=True, help="target API, e.g. http://127.0.0.1:8080")
    p.add_argument("--to-store", type=int, required=True)
    p.add_argument("--to-token", help="create and update_catalog (or VITRINA_TO_TOKEN)")
    p.add_argument("--state", type=Path, help="the id map (default ./vitrina-mirror-S-to-T.json)")
    p.add_argument("--prune", action="store_true", help="delete what the source no longer has")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--json", action="store_true", help="print a JSON report instead")
    _add_timeout(p)
    p.add_argument(
        "--max-image-bytes",
        type=_positive(int),
        default=SourcePolicy.max_bytes,
        metavar="BYTES",
        help=f"largest source image to download (default {SourcePolicy.max_bytes}, 20 MiB)",
    )
    p.add_argument(
        "--download-timeout",
        type=_positive(float),
        default=SourcePolicy.total_timeout,
        metavar="SECONDS",
        help=f"the most one image download may take (default {SourcePolicy.total_timeout:g})",
    )
    p.add_argument(
        "--allow-source-network",
        type=_network,
        action="append",
        default=[],
        metavar="NETWORK",
        help="also download source images from this non-public network, e.g. 10.1.0.0/16 "
        "(repeatable; by default only public internet addresses)",
    )
    p.add_argument(
        "--allow-private-sources",
        action="store_true",
        help="download source images from any address, this machine and private networks "
        "included (for a source you trust)",
    )


def _progress(console: Console, with_bytes: bool) -> Progress:
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if with_bytes:
        columns += [DownloadColumn(), TransferSpeedColumn()]
    columns += [TaskProgressColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=console, disable=not console.is_terminal)


# -- upload -------------------------------------------------------------------------


def cmd_upload(args: argparse.Namespace) -> int:
    folder: Path = args.folder
    if not folder.is_dir():
        raise SystemExit(f"vitrina upload: {folder} is not a folder")
    if args.concurrency < 1 or args.concurrency > 64:
        raise SystemExit("vitrina upload: --concurrency must be between 1 and 64")
    console = _console(stderr=args.json)
    state_path: Path = args.state or folder / STATE_NAME
    base = api_base(args.url)
    state = State(state_path, f"{base}#{args.store}")
    token = _token(args.token, "VITRINA_TOKEN")
    with Client(args.store, token, base, retries=Retries(8), total_timeout=args.timeout) as client:
        try:
            tree = Tree(client.categories.search(hidden_categories=True))
        except (ApiError, httpx.HTTPError) as exc:
            raise SystemExit(
                f"vitrina upload: the store cannot be read: {printable(str(exc))}"
            ) from None
        if args.manifest:
            rows = read_manifest(folder, args.manifest)
            items = [row[0] for row in rows]
            place_manifest(rows, tree, args.create_missing)
        else:
            items = files_in(folder, state_path)
            place(items, args.match, tree, args.create_missing)
        for item in items:
            if item.status == "pending":
                try:
                    digest(item)
                except Refused as exc:
                    item.status, item.reason = "failed", str(exc)
            if item.status == "pending" and state.done(item):
                item.status, item.reason = "skipped", "unchanged since the last run"
        if args.dry_run:
            for item in items:
                if item.status == "pending":
                    item.status = "planned"
            return _upload_summary(console, Report(items), args.json, tree, dry_run=True)
        todo = [i for i in items if i.status == "pending"]
        for item in items:
            if item.status == "failed" and not args.json:
                console.print(f"[red]✗[/] {shown(item.name)}: {shown(item.reason)}")
        with _progress(console, with_bytes=True) as progress:
            files = progress.add_task("files", total=len(todo))
            sent = progress.add_task("bytes", total=sum(i.size for i in todo))

            def done(item: Item) -> None:
                progress.advance(files)
                if item.status == "failed" and not args.json:
                    progress.console.print(f"[red]✗[/] {shown(item.name)}: {shown(item.reason)}")

            try:
                run_uploads(
                    client,
                    items,
                    state,
                    tree,
                    args.concurrency,
                    lambda n: progress.advance(sent, n),
                    done,
                )
            except KeyboardInterrupt:
                console.print("interrupted: run the same command again to finish")
                _upload_summary(console, Report(items), args.json, tree, dry_run=False)
                return 130
    return _upload_summary(console, Report(items), args.json, tree, dry_run=False)


def _where(item: Item, tree: Tree) -> str:
    if item.category:
        return tree.path_of(item.category)
    if item.create:
        above = [tree.path_of(item.parent)] if item.parent else []
        return "new: " + SEPARATOR.join(above + item.create)
    return "-"


def _action(item: Item) -> str:
    if item.status == "planned":
        return "upload"
    if item.status == "skipped":
        return "skip (unchanged)"
    return "fail: " + item.reason


def _upload_summary(
    console: Console, report: Report, as_json: bool, tree: Tree, dry_run: bool
) -> int:
    if as_json:
        print(json.dumps(report.as_json(), indent=1))
        return 1 if report.failed else 0
    if dry_run:
        plan = Table(title="Plan (nothing uploaded)")
        for column in ("file", "category", "action"):
            plan.add_column(column)
        for item in report.items:
            plan.add_row(shown(item.name), shown(_where(item, tree)), shown(_action(item)))
        console.print(plan)
        return 1 if report.failed else 0
    table = Table(title="vitrina upload")
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_row("uploaded", str(report.count("uploaded")))
    table.add_row("skipped (unchanged)", str(report.count("skipped")))
    table.add_row("failed", str(report.count("failed")))
    console.print(table)
    failures = [i for i in report.items if i.status == "failed"]
    if failures:
        reasons = Table(title="failures")
        reasons.add_column("file")
        reasons.add_column("reason")
        for item in failures:
            reasons.add_row(shown(item.name), shown(item.reason))
        console.print(reasons)
    return 1 if report.failed else 0


# -- mirror -------------------------------------------------------------------------


def cmd_mirror(args: argparse.Namespace) -> int:
    console = _console(stderr=args.json)
    source_base, target_base = api_base(args.from_url), api_base(args.to_url)
    key = f"{source_base}#{args.from_store} -> {target_base}#{args.to_store}"
    state_path = args.state or Path(f"vitrina-mirror-{args.from_store}-to-{args.to_store}.json")
    state = MirrorState(state_path, key)
    from_token = _token(args.from_token, "VITRINA_FROM_TOKEN")
    to_token = _token(args.to_token, "VITRINA_TO_TOKEN")
    with (
        Client(args.from_store, from_token, source_base, total_timeout=args.timeout) as source,
        Client(args.to_store, to_token, target_base, total_timeout=args.timeout) as target,
        _progress(console, with_bytes=False) as progress,
    ):
        task = progress.add_task("steps", total=None)

        def report(step: Step) -> None:
            progress.advance(task)
            if step.status == "failed" and not args.json:
                progress.console.print(
                    f"[red]✗[/] {step.action} {shown(step.name)}: {shown(step.reason)}"
                )

        networks = ANYWHERE if args.allow_private_sources else tuple(args.allow_source_network)
        policy = SourcePolicy(
            max_bytes=args.max_image_bytes,
            total_timeout=args.download_timeout,
            allowed_networks=networks,
        )
        mirror = Mirror(source, target, state, args.prune, report, images=SourceImages(policy))
        try:
            plan = mirror.run(args.dry_run)
        except (ApiError, httpx.HTTPError) as exc:
            raise SystemExit(f"vitrina mirror: {printable(str(exc))}") from None
        finally:
            mirror.close()
    return _mirror_summary(console, plan, args.json, args.dry_run)


def _mirror_summary(console: Console, plan: Plan, as_json: bool, dry_run: bool) -> int:
    if as_json:
        print(json.dumps(plan.as_json(), indent=1))
        return 1 if plan.failed else 0
    if dry_run:
        table = Table(title="Plan (nothing changed)")
        for column in ("action", "category", "source id", "target id"):
            table.add_column(column)
        for step in plan.steps:
            table.add_row(
                step.action, shown(step.name), str(step.source or ""), str(step.target or "new")
            )
        console.print(table if plan.steps else "Nothing to do: the target matches the source.")
        return 0
    table = Table(title="vitrina mirror")
    table.add_column("action")
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    for action in ("create", "update", "image", "delete-image", "delete"):
        table.add_row(action, str(plan.count(action, "done")), str(plan.count(action, "failed")))
    console.print(table)
    return 1 if plan.failed else 0


def run(argv: list[str]) -> int:
    """The client's commands alone (``vitrina upload|mirror`` without the server installed)."""
    parser = argparse.ArgumentParser(prog="vitrina")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    add_commands(add)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
