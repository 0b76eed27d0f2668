"""A store that looks used, for the console's benchmark and screenshots:
categories written straight through the metadata store, and photos (what
phones send: 12 MP JPEGs in Display P3, turned by EXIF orientation) through
the real upload pipeline."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from tests import sample_images as images
from vitrina.bootstrap import Services
from vitrina.domain.values import CategoryChanges, Store
from vitrina.usecases import category_images as image_cases

ORIENTATIONS = (6, 1, 8, 3)  # held upright most often, then as it comes


@functools.cache
def _phone_photo(orientation: int) -> bytes:
    return images.phone_jpeg(orientation)


def photo_file(folder: Path, seed: int) -> Path:
    """A phone photo on disk, its orientation picked by ``seed``."""
    path = folder / f"photo-{seed}.jpg"
    path.write_bytes(_phone_photo(ORIENTATIONS[seed % len(ORIENTATIONS)]))
    return path


def fill(
    services: Services, store: Store, roots: int, per_root: int, with_images: int
) -> list[int]:
    """``roots`` top-level categories with ``per_root`` children each; the
    first ``with_images`` of them (in creation order) get a photo. Returns
    every id, parents first."""
    catalog = services.metadata.catalog
    ids: list[int] = []
    for r in range(roots):
        parent = catalog.create_category(
            store.id, CategoryChanges(name=f"Department {r + 1:03d}", order_by=(r + 1) * 10)
        )[0]
        ids.append(parent)
        for c in range(per_root):
            ids.append(
                catalog.create_category(
                    store.id,
                    CategoryChanges(
                        name=f"Shelf {r + 1:03d}.{c + 1:02d}",
                        parent_id=parent,
                        order_by=(c + 1) * 10,
                        enabled=c % 7 != 6,
                    ),
                )[0]
            )
    with tempfile.TemporaryDirectory(prefix="vitrina-sample-") as folder:
        for n, category in enumerate(ids[:with_images]):
            source = photo_file(Path(folder), seed=n)
            image_cases.upload(services, store, category, source)
    return ids
