"""Images and async-upload jobs in the SQL metadata store.

An image is a row in ``images`` that shows the four rows of ``files`` of one
upload (``images.files_id`` = ``files.image_id``): its own upload's, or,
when the store already had the same bytes processed the same way (their
``source``), an earlier upload's: identical uploads are stored once. A
category points at its current image; pointer swaps happen in one
transaction, whose Consequences name the blobs that have just become
unreferenced (the files of an upload no image shows any more) and the async
jobs nothing waits for any more (vitrina.usecases.consequences carries them
out after the commit). An async upload first points the category at a
*pending* image (the caller's URL) that remembers the image it replaced, so
that a failure can put that one back.

Sharing is safe against deletion because every write that adds or removes
an image names its store (``SqlDatabase.write(store_id)``): on PostgreSQL it
locks the store's row first, on SQLite every writer is serialised. Whether
an upload's files are still shown is therefore decided by one writer at a
time: an image that shares them commits before the last image that showed
them is deleted (which then keeps them), or after (and then finds them gone,
and stores its own). A file's key is never used again once its rows are
gone, so a late deletion can never remove a newer upload's file.

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
from vitrina.domain.naming import file_key, parse_key
from vitrina.domain.values import UPDATED, Consequences, StoredFile

# A file's record is its StoredFile, field by field, in columns of the same names.
_FILE_FIELDS = tuple(f.name for f in dataclasses.fields(StoredFile))
_FIND_FILE = f"SELECT {', '.join(_FILE_FIELDS)} FROM files WHERE id = ? AND store_id = ?"  # noqa: S608 -- the field names, fixed


def stored_file(row: sa.Row[Any]) -> StoredFile:
    return StoredFile(**{name: row._mapping[name] for name in _FILE_FIELDS})


def delete_images(conn: sa.Connection, image_ids: list[int], done: Consequences) -> None:
    """Delete images, and the files of the uploads no image shows any more:
    their blobs become orphans. Their async jobs (if any still wait) are
    abandoned. Called in a write that names the store (see above)."""
    if not image_ids:
        return
    shown = set(
        conn.execute(
            sa.select(images.c.files_id).where(
                images.c.id.in_(image_ids), images.c.files_id.is_not(None)
            )
        ).scalars()
    )
    conn.execute(images.delete().where(images.c.id.in_(image_ids)))
    if shown:
        still = set(
            conn.execute(
                sa.select(images.c.files_id).where(images.c.files_id.in_(shown)).distinct()
            ).scalars()
        )
        unshown = list(shown - still)
        if unshown:
            done.orphans += [
                file_key(r.store_id, r.id, r.ext)
                for r in conn.execute(
                    sa.select(files.c.id, files.c.store_id, files.c.ext).where(
                        files.c.image_id.in_(unshown)
                    )
                )
            ]
            conn.execute(files.delete().where(files.c.image_id.in_(unshown)))
    done.abandoned += image_ids


@dataclasses.dataclass(frozen=True)
class Shown:
    """An upload whose files images show: its image id (``files_id``) and
    the border colour its processing found."""

    files_id: int
    border: Mapping[str, Any] | None


def shown_upload(conn: sa.Connection, store_id: int, source: str) -> Shown | None:
    """The store's upload made from ``source`` whose files images still
    show, or None (its files' rows go with the last image showing them)."""
    found = conn.execute(
        sa.select(files.c.image_id)
        .where(files.c.store_id == store_id, files.c.source == source)
        .limit(1)
    ).scalar()
    if found is None:
        return None
    border = conn.execute(
        sa.select(images.c.border).where(images.c.files_id == found).limit(1)
    ).scalar()
    return Shown(found, border)


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
            shown = shown_upload(conn, store_id, source) if source else None
            if shown is None:
                insert_files(conn, store_id, image_id, stored, source)
                shown = Shown(image_id, border)
            else:  # the same upload was committed meanwhile: show its files, not these
                done.orphans += own_keys(store_id, stored)
            self._point(conn, store_id, category_id, image_id, shown, current, done)
        return done

    @translate_errors
    def share_image(
        self, store_id: int, category_id: int, image_id: int, source: str
    ) -> Consequences | None:
        with self.db.read() as conn:  # most uploads are new: no write for them
            if shown_upload(conn, store_id, source) is None:
                return None
        done = Consequences()
        try:
            with self.db.write(store_id) as conn:
                current = category_image(self.db, conn, store_id, category_id)
                shown = shown_upload(conn, store_id, source)  # again, in the store's turn
                if current is None or shown is None:
                    raise NothingToShare
                self._point(conn, store_id, category_id, image_id, shown, current, done)
        except NothingToShare:
            return None
        return done

    def _point(
        self,
        conn: sa.Connection,
        store_id: int,
        category_id: int,
        image_id: int,
        shown: Shown,
        current: Any,
        done: Consequences,
    ) -> None:
        """Add the image, showing the files of upload ``shown``, point the
        category at it, and release the image it showed."""
        conn.execute(
            images.insert().values(
                id=image_id,
                store_id=store_id,
                category_id=category_id,
                border=None if shown.border is None else dict(shown.border),
                files_id=shown.files_id,
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
        wanted: dict[int, str] = {}
        for key in keys:
            parsed = parse_key(key)
            if parsed is not None:
                wanted[parsed[1]] = key
        found = set()
        with self.db.read() as conn:
            ids = list(wanted)
            for start in range(0, len(ids), 500):
                for row in conn.execute(
                    sa.select(files.c.id, files.c.store_id, files.c.ext).where(
                        files.c.id.in_(ids[start : start + 500])
                    )
                ):
                    found.add(file_key(row.store_id, row.id, row.ext))
        return found & set(keys)
