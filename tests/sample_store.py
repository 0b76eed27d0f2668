"""A store that looks used, for the console's benchmark and screenshots:
categories written straight through the metadata store, and photos (varied,
camera-like JPEGs) through the real upload pipeline."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests import images
from vitrina import images as image_cases
from vitrina.bootstrap import Services
from vitrina.interfaces import Store


def photo_file(folder: Path, seed: int, width: int = 1600, height: int = 1200) -> Path:
    path = folder / f"photo-{seed}.jpg"
    path.write_bytes(images.photo(width, height, seed=seed).jpegsave_buffer(Q=85))
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
            store.id, {"name": f"Department {r + 1:03d}", "order_by": (r + 1) * 10}
        )
        ids.append(parent)
        for c in range(per_root):
            ids.append(
                catalog.create_category(
                    store.id,
                    {
                        "name": f"Shelf {r + 1:03d}.{c + 1:02d}",
                        "parent_id": parent,
                        "order_by": (c + 1) * 10,
                        "enabled": c % 7 != 6,
                    },
                )
            )
    with tempfile.TemporaryDirectory(prefix="vitrina-sample-") as folder:
        for n, category in enumerate(ids[:with_images]):
            source = photo_file(Path(folder), seed=n % 24, width=1200, height=900)
            image_cases.upload(services, store, category, source)
    return ids
