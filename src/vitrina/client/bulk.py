"""``vitrina upload``: a folder of photos to their categories, with progress,
bounded concurrency, and a state file that makes re-runs upload only what is
new or changed (an interrupted run finishes without duplicates)."""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from vitrina import wire
from vitrina.client._calls import ApiError
from vitrina.client._state import read_state, write_state
from vitrina.client._sync import Client
from vitrina.client.tree import SEPARATOR, Tree

Match = Literal["id", "name", "path"]
STATE_NAME = ".vitrina-upload.json"


class Refused(Exception):
    """A file that cannot be uploaded, with the reason (the run goes on)."""


@dataclass
class Item:
    file: Path  # absolute
    name: str  # relative to the folder, with /
    size: int = 0
    sha256: str = ""
    category: int | None = None
    create: list[str] = field(default_factory=list)  # names still to create, root first
    parent: int = 0  # where ``create`` starts
    status: str = "pending"  # uploaded, skipped, failed, planned
    reason: str = ""
    image: int | None = None


@dataclass
class Report:
    items: list[Item]

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def failed(self) -> bool:
        return any(i.status == "failed" for i in self.items)

    def as_json(self) -> dict[str, Any]:
        return {
            "uploaded": self.count("uploaded"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "planned": self.count("planned"),
            "files": [
                {
                    "file": i.name,
                    "status": i.status,
                    "category": i.category,
                    "image": i.image,
                    "reason": i.reason or None,
                    "bytes": i.size,
                }
                for i in self.items
            ],
        }


# -- the state file -------------------------------------------------------------


class State:
    """{file: {sha256, category, image}} for one target, written atomically
    after every upload."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = read_state(path, target, "upload")

    def done(self, item: Item) -> bool:
        entry = self.files.get(item.name) or {}
        return entry.get("sha256") == item.sha256 and entry.get("category") == item.category

    def record(self, item: Item) -> None:
        with self.lock:
            self.files[item.name] = {
                "sha256": item.sha256,
                "category": item.category,
                "image": item.image,
            }
            write_state(self.path, self.target, self.files)


# -- finding the files and their categories -----------------------------------


def files_in(folder: Path, state_file: Path) -> list[Item]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or path == state_file:
            continue
        if path.is_file() or path.is_symlink():  # a broken link is reported, not skipped
            found.append(Item(file=path, name=relative.as_posix()))
    return found


def read_manifest(folder: Path, manifest: Path) -> list[tuple[Item, str, str]]:
    """(item, column, value) rows of a CSV with ``file`` and ``category_id``
    or ``category_path``."""
    with manifest.open(newline="") as source:
        rows = list(csv.DictReader(source))
    if not rows:
        return []
    columns = set(rows[0])
    column = "category_id" if "category_id" in columns else "category_path"
    if "file" not in columns or column not in columns:
        raise SystemExit(
            "vitrina upload: the manifest needs the columns file and category_id or category_path"
        )
    return [(Item(file=folder / r["file"], name=r["file"]), column, r[column] or "") for r in rows]


def place(items: Iterable[Item], match: Match, tree: Tree, create_missing: bool) -> None:
    """Set each item's category, or what to create, or why it cannot go."""
    for item in items:
        try:
            _place(item, match, item.name, tree, create_missing)
        except Refused as exc:
            item.status, item.reason = "failed", str(exc)


def _place(item: Item, match: Match, value: str, tree: Tree, create_missing: bool) -> None:
    stem = Path(value).stem if match != "path" else value
    if match == "id":
        text = Path(value).stem if not value.isdigit() else value
        if not text.isdigit():
            raise Refused(f"the name {Path(value).name!r} is not a category id")
        if int(text) not in tree.by_id:
            raise Refused(f"no category {text} in the store")
        item.category = int(text)
    elif match == "name":
        found = tree.named(stem)
        if len(found) > 1:
            listed = "; ".join(f"#{c.id} {tree.path_of(c.id)}" for c in found)
            raise Refused(f"the name {stem!r} is ambiguous: {listed}")
        if found:
            item.category = found[0].id
        elif create_missing:
            item.create = [stem.strip()]
        else:
            raise Refused(f"no category named {stem!r} (--create-missing creates it)")
    else:
        names = [n for n in value.split("/") if n.strip()]
        if value == item.name:  # a file's own path: its folders, then its stem
            names = [*names[:-1], Path(names[-1]).stem] if names else []
        if not names:
            raise Refused("no category path")
        parent, rest = tree.walk(names)
        if not rest:
            item.category = parent
        elif create_missing:
            item.parent, item.create = parent, rest
        else:
            missing = SEPARATOR.join(names[: len(names) - len(rest) + 1])
            raise Refused(f"no category {missing!r} (--create-missing creates it)")


def place_manifest(rows: list[tuple[Item, str, str]], tree: Tree, create_missing: bool) -> None:
    for item, column, value in rows:
        try:
            if column == "category_id":
                _place(item, "id", value.strip(), tree, create_missing)
            else:
                _place(item, "path", value, tree, create_missing)
        except Refused as exc:
            item.status, item.reason = "failed", str(exc)


# -- uploading -------------------------------------------------------------------


class Counted(io.RawIOBase):
    """A file that reports the bytes read from it (each byte once, however
    often a retry reads it again)."""

    def __init__(self, path: Path, advance: Callable[[int], None]) -> None:
        self._file = path.open("rb")
        self._advance = advance
        self._reported = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        position = self._file.tell()
        if position > self._reported:
            self._advance(position - self._reported)
            self._reported = position
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def digest(item: Item) -> None:
    hashed = hashlib.sha256()
    try:
        with item.file.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                hashed.update(chunk)
        item.size = item.file.stat().st_size
    except OSError as exc:
        raise Refused(f"cannot read the file: {exc.strerror or exc}") from None
    item.sha256 = hashed.hexdigest()


class Creator:
    """Creates missing categories once, however many files need them."""

    def __init__(self, client: Client, tree: Tree) -> None:
        self.client = client
        self.tree = tree
        self.lock = threading.Lock()

    def ensure(self, parent: int, names: list[str]) -> int:
        with self.lock:
            for name in names:
                existing = self.tree.child(parent, name)
                if existing is not None:
                    parent = existing
                    continue
                fields: dict[str, Any] = {"name": name}
                if parent:
                    fields["parentId"] = parent
                created = self.client.categories.create(fields)
                self.tree.add(wire.Category(id=created, parentId=parent or wire.UNSET, name=name))
                parent = created
            return parent


def upload_one(
    client: Client, item: Item, creator: Creator, advance: Callable[[int], None]
) -> None:
    if item.create:
        item.category = creator.ensure(item.parent, item.create)
        item.create = []
    assert item.category is not None
    try:
        source = io.BufferedReader(Counted(item.file, advance), buffer_size=256 * 1024)
    except OSError as exc:
        raise Refused(f"cannot read the file: {exc.strerror or exc}") from None
    with source:
        try:
            item.image = client.images.upload(item.category, source)
        except ApiError as exc:
            raise Refused(str(exc)) from None
        except httpx.TransportError as exc:
            raise Refused(f"the server cannot be reached: {exc}") from None


def run_uploads(
    client: Client,
    items: list[Item],
    state: State,
    tree: Tree,
    concurrency: int,
    on_bytes: Callable[[int], None],
    on_done: Callable[[Item], None],
) -> None:
    """Upload the pending items, ``concurrency`` at a time. Ctrl-C stops
    taking new files, lets those in flight end, and re-raises."""
    creator = Creator(client, tree)
    pending = iter([i for i in items if i.status == "pending"])
    running: dict[Future[None], Item] = {}

    def finish(future: Future[None], item: Item) -> None:
        try:
            future.result()
            item.status = "uploaded"
            state.record(item)
        except Refused as exc:
            item.status, item.reason = "failed", str(exc)
        except ApiError as exc:  # creating a missing category
            item.status, item.reason = "failed", str(exc)
        except httpx.TransportError as exc:
            item.status, item.reason = "failed", f"the server cannot be reached: {exc}"
        on_done(item)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload") as pool:
        try:
            for item in pending:
                running[pool.submit(upload_one, client, item, creator, on_bytes)] = item
                if len(running) >= concurrency:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        finish(future, running.pop(future))
            for future in list(running):
                wait([future])
                finish(future, running.pop(future))
        except KeyboardInterrupt:
            for future, item in list(running.items()):
                wait([future])
                finish(future, item)
            raise
