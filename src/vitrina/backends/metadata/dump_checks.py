"""What `vitrina import` checks of a dump's rows, besides their shape: each
value has its column's type (SQLite would store "ten" in an integer column,
and every read of the store would then fail), the category tree is a tree
(a parent loop would hang every read), every file row is a file of the dump
with a type that matches its extension (a row may not make /images/ serve
HTML), every ready image has the four files of an upload in its own store
(a category would otherwise have no URLs to show), and the id counters are
past every id present (an upload must never get the id of a file that
exists)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vitrina.domain.errors import BadRequest
from vitrina.domain.naming import CONTENT_TYPES, EXTENSIONS, content_type, file_key
from vitrina.domain.values import ROLES

_TRANSLATIONS = "a map of language codes to texts"
# what a JSON column holds: (description, check)
_JSON: dict[str, tuple[str, Any]] = {
    "product_ids": (
        "a list of whole numbers",
        lambda v: isinstance(v, list) and all(type(i) is int for i in v),
    ),
    "border": ("an object", lambda v: v is None or isinstance(v, dict)),
    "request_headers": (
        "an object of texts",
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    ),
}


def _translations(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _fits(column: sa.Column[Any], value: Any) -> str | None:
    """None when ``value`` suits ``column``; else what the column holds."""
    if value is None:
        return None if column.nullable or column.primary_key else "a value (not null)"
    kind = column.type
    if isinstance(kind, sa.JSON):
        what, check = _JSON.get(column.name, (_TRANSLATIONS, _translations))
        return None if check(value) else what
    if isinstance(kind, sa.Boolean):
        return None if isinstance(value, bool) or value in (0, 1) else "true or false"
    if isinstance(kind, sa.Integer):  # BigInteger too
        return None if type(value) is int else "a whole number"
    if isinstance(kind, sa.Float):
        return None if type(value) in (int, float) else "a number"
    if isinstance(kind, sa.DateTime):
        return None if isinstance(value, datetime) else "a time"
    if isinstance(kind, sa.String):  # Text too
        if not isinstance(value, str):
            return "a text"
        if "\x00" in value:
            return "a text without NUL characters"
        length = getattr(kind, "length", None)
        return None if length is None or len(value) <= length else f"at most {length} characters"
    return None


def check_rows(table: sa.Table, rows: Iterable[Mapping[str, Any]], name: str) -> None:
    for number, row in enumerate(rows, 1):
        for key, value in row.items():
            wanted = _fits(table.c[key], value)
            if wanted is not None:
                raise BadRequest(f"{name} line {number}: column {key} must be {wanted}")


def check_tree(categories: Sequence[Mapping[str, Any]]) -> None:
    """Every parent exists in the category's own store, and no category is
    its own ancestor."""
    store_of = {c["id"]: c["store_id"] for c in categories}
    parent_of = {c["id"]: c.get("parent_id") for c in categories}
    for category_id, parent in parent_of.items():
        if parent is not None and store_of.get(parent) != store_of[category_id]:
            raise BadRequest(
                f"categories.jsonl: category {category_id}'s parent {parent} "
                "is not a category of its store"
            )
    settled: set[int] = set()
    for start in parent_of:
        path: list[int] = []
        current: int | None = start
        while current is not None and current not in settled:
            if current in path:
                raise BadRequest(f"categories.jsonl: category {current} is its own ancestor")
            path.append(current)
            current = parent_of.get(current)
        settled.update(path)


def check_files(rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> None:
    """Each file row names a file of the dump, with the type of its extension."""
    known = set(keys)
    types = {EXTENSIONS[fmt]: CONTENT_TYPES[fmt] for fmt in EXTENSIONS}
    for row in rows:
        blob = row["id"] if row.get("blob_id") is None else row["blob_id"]
        if blob > row["id"]:  # bytes are stored once under the first file's id
            raise BadRequest(
                f"files.jsonl: file {row['id']} shows the bytes of a later file, {blob}"
            )
        key = file_key(row["store_id"], blob, row["ext"])
        if row["ext"] not in types:
            raise BadRequest(
                f"files.jsonl: file {row['id']} has an unknown extension {row['ext']!r}"
            )
        if row["content_type"] != content_type(row["ext"]):
            raise BadRequest(
                f"files.jsonl: file {row['id']} says {row['content_type']!r}, not the type of "
                f".{row['ext']} files"
            )
        if key not in known:
            raise BadRequest(f"files.jsonl: file {key} is not among the export's files")


def check_shown_files(conn: sa.Connection, files: sa.Table, images: sa.Table) -> None:
    """Every image that is not pending has the four files of an upload, one
    of each role, in its own store, and a pending one has none (run on the
    loaded rows)."""
    roles: dict[tuple[int, int], list[str]] = {}
    for store_id, upload, role in conn.execute(
        sa.select(files.c.store_id, files.c.image_id, files.c.role)
    ):
        roles.setdefault((store_id, upload), []).append(role)
    for image_id, store_id, pending in conn.execute(
        sa.select(images.c.id, images.c.store_id, images.c.pending_url)
    ):
        found = sorted(roles.pop((store_id, image_id), ()))
        if pending is None and found != sorted(ROLES):
            raise BadRequest(
                f"images.jsonl: image {image_id} has the files {', '.join(found) or 'none'} "
                f"in its store, not the four of an upload ({', '.join(ROLES)})"
            )
        if pending is not None and found:
            raise BadRequest(f"images.jsonl: image {image_id} is pending and has files")
    for store_id, upload in roles:
        raise BadRequest(f"files.jsonl: files of image {upload}, not an image of store {store_id}")


def highest_file_id(conn: sa.Connection, files: sa.Table, images: sa.Table, jobs: sa.Table) -> int:
    """The highest file id any row names (an image's or a job's ids run on
    to the image's last file)."""
    span = len(ROLES) - 1 - ROLES.index("thumbnail")
    found = [
        conn.execute(sa.select(sa.func.max(files.c.id))).scalar(),
        conn.execute(sa.select(sa.func.max(files.c.blob_id))).scalar(),
        conn.execute(sa.select(sa.func.max(images.c.id) + span)).scalar(),
        conn.execute(sa.select(sa.func.max(jobs.c.image_id) + span)).scalar(),
    ]
    return max(int(f) for f in found if f is not None) if any(found) else 0
