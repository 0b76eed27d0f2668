"""File naming, from its one home (vitrina.domain.naming)."""

from __future__ import annotations

from pathlib import Path

from vitrina.domain import naming
from vitrina.domain.values import ROLES


def test_the_image_id_is_the_thumbnails_file_id_and_back() -> None:
    ids = [1000, 1001, 1002, 1003]  # allocated in ROLES order
    assert naming.image_id(ids) == ids[ROLES.index("thumbnail")] == 1001
    assert naming.file_ids(1001) == ids


def test_keys_paths_and_their_parse() -> None:
    assert naming.file_key(3, 1001, "jpg") == "3/1001.jpg"
    assert naming.public_path(3, 1001, "jpg") == "/images/3/1001.jpg"
    assert naming.parse_key("3/1001.jpg") == (3, 1001, "jpg")
    assert naming.parse_key("prefix/3/1001.webp") == (3, 1001, "webp")
    for odd in ("3/.tmp-abc.part", "3/x.jpg", "--1/2.jpg", "3/1001", "1001.jpg"):
        assert naming.parse_key(odd) is None, odd
    assert naming.parse_file_name("1001.png") == (1001, "png")


def test_content_types_and_etags(tmp_path: Path) -> None:
    assert naming.content_type("jpg") == "image/jpeg"
    assert naming.content_type("heic") == "image/heic"
    assert naming.content_type("exe") == "application/octet-stream"
    path = tmp_path / "f"
    path.write_bytes(b"picture")
    assert naming.etag(path) == naming.etag(b"picture") != naming.etag(b"other")
    assert len(naming.etag(b"")) == 40
