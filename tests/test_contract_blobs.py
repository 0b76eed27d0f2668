"""The BlobStore contract, run over every implementation (local disk and S3
on SeaweedFS, through the parametrised ``services`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vitrina.bootstrap import Services
from vitrina.errors import NotFound
from vitrina.interfaces import BlobStore


@pytest.fixture
def blobs(services: Services) -> BlobStore:
    return services.blobs


def test_put_read_list_delete(blobs: BlobStore, tmp_path: Path) -> None:
    blobs.ping()
    blobs.put("1/10.jpg", b"first", "image/jpeg")
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 3_000_000)
    blobs.put("1/11.png", source, "image/png")
    assert b"".join(blobs.read("1/10.jpg")) == b"first"
    assert b"".join(blobs.read("1/11.png")) == source.read_bytes()
    listed = {entry.key: entry for entry in blobs.list()}
    assert set(listed) == {"1/10.jpg", "1/11.png"}
    assert listed["1/11.png"].size == 3_000_000
    assert abs(listed["1/10.jpg"].modified - datetime.now(UTC)) < timedelta(minutes=5)
    blobs.put("1/10.jpg", b"second", "image/jpeg")  # overwrite: whole, never mixed
    assert b"".join(blobs.read("1/10.jpg")) == b"second"
    blobs.delete(["1/10.jpg", "1/11.png", "1/missing.jpg"])  # missing keys are fine
    assert list(blobs.list()) == []


def test_missing_and_escaping_keys(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        b"".join(blobs.read("1/404.jpg"))
    for key in ("../outside.jpg", "1/../../outside.jpg"):
        with pytest.raises(NotFound):
            blobs.put(key, b"x", "image/jpeg")


def test_many_deletes_in_one_call(blobs: BlobStore) -> None:
    keys = [f"2/{i}.jpg" for i in range(1100)]
    for key in keys[:30]:
        blobs.put(key, b"x", "image/jpeg")
    blobs.delete(keys)
    assert list(blobs.list()) == []
