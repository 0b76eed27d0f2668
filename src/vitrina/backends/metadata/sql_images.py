"""Images and async-upload jobs in the SQL metadata store.

An image is a row in ``images`` with the four rows of ``files`` of its
upload (``files.image_id``), each under the file's own id. A file's bytes
are stored under its own key, or, when the store already had the same
bytes processed the same way (their ``source``), under the key of the
earlier file that holds them (``files.blob_id``): identical uploads keep
URLs of their own and store their bytes once. A category points at its
current image; pointer swaps happen in one transaction, whose Consequences
name the blobs that have just become unreferenced (bytes that no file
record names any more) and the async jobs nothing waits for any more
(vitrina.usecases.consequences carries them out after the commit). An
async upload first points the category at a *pending* image (the caller's
URL) that remembers the image it replaced, so that a failure can put that
one back.

Sharing is safe against deletion because every write that adds or removes
an image names its store (``SqlDatabase.write(store_id)``): on PostgreSQL it
locks the store's row first, on SQLite every writer is serialised. Whether
stored bytes are still named is therefore decided by one writer at a time:
an upload that shares them commits before the last record naming them is
deleted (which then keeps them), or after (and then finds them gone, and
stores its own). A file's key is never used again once its rows are gone,
so a late deletion can never remove a newer upload's file.

Jobs are claimed with a lease; a worker that dies loses its lease and the job
is claimed again. Only the holder of the newest claim may finish or fail it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import categories, file_ids, files, images
from vitrina.backends.metadata.sql_base import SqlDatabase, now, translate_errors
from vitrina.backends.metadata.sql_outbox import record
from vitrina.domain import naming
from vitrina.domain.naming import file_key, parse_key
from vitrina.domain.values import ROLES, UPDATED, Consequences, StoredFile

# A file's record is its StoredFile, field by field, in columns of the same names.
_FILE_FIELDS = tuple(f.name for f in dataclasses.fields(StoredFile))
_FIND_FILE = f"SELECT {', '.join(_FILE_FIELDS)} FROM files WHERE id = ? AND store_id = ?"  # noqa: S608 -- the field names, fixed


def stored_file(row: sa.Row[Any]) -> StoredFile:
    return StoredFile(**{name: row._mapping[name] for name in _FILE_FIELDS})


def stored_bytes(conn: sa.Connection, blob_ids: Sequence[int]) -> set[int]:
    """Which of these ids still name stored bytes: a file's own (a record of
    that id over its own bytes) or another's (a record naming it)."""
    ids = list(blob_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            conn.execute(
                sa.select(files.c.id).where(files.c.id.in_(chunk), files.c.blob_id.is_(None))
            ).scalars()
        )
        found.update(
            conn.execute(
                sa.select(files.c.blob_id).where(files.c.blob_id.in_(chunk)).distinct()
            ).scalars()
        )
    return found


def delete_images(conn: sa.Connection, image_ids: list[int], done: Consequences) -> None:
    """Delete images and their file records; the stored bytes that no record
    names any more become orphans. Their async jobs (if any still wait) are
    abandoned. Called in a write that names the store (see above)."""
    if not image_ids:
        return
    gone = conn.execute(
        sa.select(files.c.id, files.c.store_id, files.c.ext, files.c.blob_id).where(
            files.c.image_id.in_(image_ids)
        )
    ).all()
    conn.execute(images.delete().where(images.c.id.in_(image_ids)))
    if gone:
        conn.execute(files.delete().where(files.c.image_id.in_(image_ids)))
        keys = {
            (blob := r.id if r.blob_id is None else r.blob_id): file_key(r.store_id, blob, r.ext)
            for r in gone
        }
        kept = stored_bytes(conn, list(keys))
        done.orphans += [key for blob, key in keys.items() if blob not in kept]
    done.abandoned += image_ids


@dataclasses.dataclass(frozen=True)
class Source:
    """The file records of an upload the store has made from the same
    source, and the border colour its processing found."""

    files: tuple[StoredFile, ...]
    border: Mapping[str, Any] | None

    def over(self, ids: Sequence[int]) -> list[StoredFile]:
        """Records under ``ids`` (in ROLES order) that show these files'
        bytes: the same files, stored once."""
        by_role = {f.role: f for f in self.files}
        return [
            dataclasses.replace(by_role[role], id=file_id, blob_id=by_role[role].blob)
            for role, file_id in zip(ROLES, ids, strict=True)
        ]


def same_source(conn: sa.Connection, store_id: int, source: str) -> Source | None:
    """An upload of the store made from ``source`` whose files are still
    stored, or None (the bytes go with the last record naming them)."""
    found = conn.execute(
        sa.select(files.c.image_id)
        .where(files.c.store_id == store_id, files.c.source == source)
        .limit(1)
    ).scalar()
    if found is None:
        return None
    rows = conn.execute(sa.select(files).where(files.c.image_id == found)).all()
    border = conn.execute(sa.select(images.c.border).where(images.c.id == found)).scalar()
    return Source(tuple(stored_file(r) for r in rows), border)


def category_image(db: SqlDatabase, conn: sa.Connection, store_id: int, category_id: int) -> Any:
    return conn.execute(
        db.lock(
            sa.select(categories.c.image_id).where(
                categories.c.store_id == store_id, categories.c.id == category_id
            )
        )
    ).first()


def release(conn: sa.Connection, image_id: int | None, done: Consequences) -> None:
    """Delete an image that nothing points at any more, with the images it
    was keeping for a fallback."""
    chain = []
    while image_id is not None:
        chain.append(image_id)
        image_id = conn.execute(
            sa.select(images.c.previous_image_id).where(images.c.id == image_id)
        ).scalar()
    delete_images(conn, chain, done)


def insert_files(
    conn: sa.Connection,
    store_id: int,
    image_id: int,
    stored: Sequence[StoredFile],
    source: str | None = None,
) -> None:
    conn.execute(
        files.insert(),
        [
            {**dataclasses.asdict(f), "image_id": image_id, "store_id": store_id, "source": source}
            for f in stored
        ],
    )


def own_keys(store_id: int, stored: Sequence[StoredFile]) -> list[str]:
    return [file_key(store_id, f.id, f.ext) for f in stored]


class NothingToShare(Exception):
    """Rolls back a write that found nothing to share."""


class SqlImages:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def allocate_file_ids(self, count: int) -> list[int]:
        with self.db.write() as conn:
            end = conn.execute(
                file_ids.update()
                .where(file_ids.c.id == 1)
                .values(next_id=file_ids.c.next_id + count)
                .returning(file_ids.c.next_id)
            ).scalar_one()
        return list(range(end - count, end))

    @translate_errors
    def attach_image(
        self,
        store_id: int,
        category_id: int,
        image_id: int,
        stored: Sequence[StoredFile],
        border: Mapping[str, Any],
        source: str | None = None,
    ) -> Consequences | None:
        done = Consequences()
        with self.db.write(store_id) as conn:
            current = category_image(self.db, conn, store_id, category_id)
            if current is None:
                return None
            same = same_source(conn, store_id, source) if source else None
            if same is None:
                insert_files(conn, store_id, image_id, stored, source)
            else:  # the same upload was committed meanwhile: keep its bytes, not these
                insert_files(conn, store_id, image_id, same.over([f.id for f in stored]), source)
                done.orphans += own_keys(store_id, stored)
            shown = border if same is None else same.border
            self._point(conn, store_id, category_id, image_id, shown, current, done)
        return done

    @translate_errors
    def share_image(
        self, store_id: int, category_id: int, image_id: int, source: str
    ) -> Consequences | None:
        with self.db.read() as conn:  # most uploads are new: no write for them
            if same_source(conn, store_id, source) is None:
                return None
        done = Consequences()
        try:
            with self.db.write(store_id) as conn:
                current = category_image(self.db, conn, store_id, category_id)
                same = same_source(conn, store_id, source)  # again, in the store's turn
                if current is None or same is None:
                    raise NothingToShare
                insert_files(conn, store_id, image_id, same.over(naming.file_ids(image_id)), source)
                self._point(conn, store_id, category_id, image_id, same.border, current, done)
        except NothingToShare:
            return None
        return done

    def _point(
        self,
        conn: sa.Connection,
        store_id: int,
        category_id: int,
        image_id: int,
        border: Mapping[str, Any] | None,
        current: Any,
        done: Consequences,
    ) -> None:
        """Add the image (its files are recorded), point the category at
        it, and release the image it showed."""
        conn.execute(
            images.insert().values(
                id=image_id,
                store_id=store_id,
                category_id=category_id,
                border=None if border is None else dict(border),
                created_at=now(),
            )
        )
        conn.execute(
            categories.update()
            .where(categories.c.id == category_id)
            .values(image_id=image_id, updated_at=now(), version=conn.info["catalog_version"])
        )
        release(conn, current.image_id, done)
        record(conn, done, UPDATED, store_id, category_id)

    @translate_errors
    def detach_image(self, store_id: int, category_id: int) -> Consequences | None:
        done = Consequences()
        with self.db.write(store_id) as conn:
            current = category_image(self.db, conn, store_id, category_id)
            if current is None:
                return None
            if current.image_id is None:
                return done
            conn.execute(
                categories.update()
                .where(categories.c.id == category_id)
                .values(
                    image_id=None,
                    image_external_id=None,
                    updated_at=now(),
                    version=conn.info["catalog_version"],
                )
            )
            release(conn, current.image_id, done)
            record(conn, done, UPDATED, store_id, category_id)
        return done

    def find_file(self, store_id: int, file_id: int) -> StoredFile | None:
        row = self.db.one(_FIND_FILE, file_id, store_id)
        return StoredFile(**dict(zip(_FILE_FIELDS, row, strict=True))) if row else None

    @translate_errors
    def referenced_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that hold bytes a file record names: its own
        file's, or a file's stored once for identical uploads."""
        wanted: dict[int, str] = {}
        for key in keys:
            parsed = parse_key(key)
            if parsed is not None:
                wanted[parsed[1]] = key
        found = set()
        with self.db.read() as conn:
            ids = list(wanted)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for row in conn.execute(
                    sa.select(files.c.id, files.c.store_id, files.c.ext).where(
                        files.c.id.in_(chunk), files.c.blob_id.is_(None)
                    )
                ):
                    found.add(file_key(row.store_id, row.id, row.ext))
                for row in conn.execute(
                    sa.select(files.c.blob_id, files.c.store_id, files.c.ext)
                    .where(files.c.blob_id.in_(chunk))
                    .distinct()
                ):
                    found.add(file_key(row.store_id, row.blob_id, row.ext))
        return found & set(keys)
