"""`vitrina import` reads a folder someone else may have made: the manifest is
checked whole, against a schema, before a file is copied or a row written.
A crafted manifest must not run SQL, name files outside the dump, or leave a
half-imported installation behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import make_store, migrated
from tests.services import Postgres
from vitrina.backends.metadata.engine import create_engine
from vitrina.cli import main
from vitrina.domain.errors import BadRequest
from vitrina.domain.values import CategoryChanges
from vitrina.settings import Settings
from vitrina.usecases import category_images, transfer
from vitrina.web.app import create_app

INJECTION = "stores', 1); DROP TABLE categories; --"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export: a store, two categories, one with a phone photo."""
    root = tmp_path_factory.mktemp("export")
    settings = Settings(data_dir=root / "old", run_jobs=False, public_url="http://testserver")
    source = migrated(settings)
    with TestClient(create_app(settings, source)) as client:
        api = make_store(source, client)
        toys = api.create(name="Toys")
        api.create(name="Cars", parentId=toys)
        assert api.upload(toys, images.phone_jpeg()).status_code == 200
    source.close()
    assert main(["export", str(root / "dump"), "--data-dir", str(root / "old")]) == 0
    return root / "dump"


def _crafted(export: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    folder = tmp_path / "crafted"
    shutil.copytree(export, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _refused(folder: Path, settings: Settings, match: str) -> None:
    """The import is refused with ``match``, and nothing reached the target."""
    target = migrated(settings)
    try:
        with pytest.raises(BadRequest, match=match):
            transfer.import_(target, folder)
        assert target.metadata.stores.list_stores() == []
        assert list(target.blobs.list()) == []
    finally:
        target.close()


def _embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "new", run_jobs=False)


def test_a_good_export_imports(export: Path, tmp_path: Path) -> None:
    target = migrated(_embedded(tmp_path))
    try:
        transfer.import_(target, export)
        assert len(target.metadata.stores.list_stores()) == 1
        assert len(list(target.blobs.list())) == 4
    finally:
        target.close()


def test_an_unknown_counter_is_refused(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: m["counters"].update({INJECTION: 5}))
    _refused(folder, _embedded(tmp_path), "unknown counter")


@pytest.mark.parametrize(
    "key",
    ["../../outside.jpg", "1/../../../etc/passwd", "/etc/1/5.jpg", "x/1/5.jpg", "1/05.jpg"],
)
def test_a_file_outside_the_dump_is_refused_before_anything_is_copied(
    export: Path, tmp_path: Path, key: str
) -> None:
    (tmp_path / "outside.jpg").write_bytes(images.jpeg(64, 48))

    def add(manifest: dict[str, Any]) -> None:
        manifest["files"][key] = "0" * 64

    _refused(_crafted(export, tmp_path, add), _embedded(tmp_path), "not a file name of a dump")


def test_a_symlink_in_the_dump_is_refused(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("not an image")
    victim = next((folder / "files").rglob("*.jpg"))
    victim.unlink()
    victim.symlink_to(secret)
    _refused(folder, _embedded(tmp_path), "not a regular file")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.pop("counters"), "counters"),
        (lambda m: m.update(counts="many"), "counts"),
        (lambda m: m["counts"].update(stores=-1), "counts"),
        (lambda m: m["counts"].pop("categories"), "tables"),
        (lambda m: m["counts"].update(passwords=1), "tables"),
        (lambda m: m.update(extra=1), "extra"),
        (lambda m: m["files"].update({"1/9.jpg": "abc"}), "files"),
        (lambda m: m.update(format="something-else"), "does not hold a vitrina export"),
        (lambda m: m.update(revision="0001"), "schema revision"),
    ],
)
def test_a_malformed_manifest_is_refused(
    export: Path,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    match: str,
) -> None:
    _refused(_crafted(export, tmp_path, change), _embedded(tmp_path), match)


def test_a_manifest_that_is_not_json_is_refused(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    (folder / "manifest.json").write_text("{not json")
    _refused(folder, _embedded(tmp_path), "manifest.json")


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _refused(tmp_path / "empty", _embedded(tmp_path), "manifest.json")


def test_a_row_with_a_column_the_table_lacks_is_refused(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    rows = folder / "tables" / "categories.jsonl"
    lines = rows.read_text().splitlines()
    first = json.loads(lines[0])
    first["is_admin"] = True
    rows.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    _refused(folder, _embedded(tmp_path), "categories.jsonl line 1: unknown column is_admin")


def test_a_row_of_the_wrong_type_is_refused(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    rows = folder / "tables" / "categories.jsonl"
    lines = rows.read_text().splitlines()
    first = json.loads(lines[0])
    first["id"] = "not a number"
    rows.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    _refused(folder, _embedded(tmp_path), "categories.jsonl")


def test_the_command_says_what_was_wrong(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _crafted(export, tmp_path, lambda m: m["counters"].update({INJECTION: 5}))
    assert main(["import", str(folder), "--data-dir", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "unknown counter" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_crafted_counter_runs_no_sql_on_postgres(
    export: Path, tmp_path: Path, postgres: Postgres
) -> None:
    folder = _crafted(export, tmp_path, lambda m: m["counters"].update({INJECTION: 5}))
    with postgres.database() as url:
        settings = _embedded(tmp_path).replace(database_url=url)
        _refused(folder, settings, "unknown counter")
        engine = create_engine(url)
        try:
            assert "categories" in sa.inspect(engine).get_table_names()
        finally:
            engine.dispose()
        # and a good import still sets the sequences through bound names
        target = migrated(settings)
        try:
            transfer.import_(target, export)
            api_store = target.metadata.stores.list_stores()[0]
            assert target.metadata.stores.create_store("Next", "https://x.example").id > (
                api_store.id
            )
        finally:
            target.close()


def test_a_file_that_does_not_match_its_checksum_leaves_nothing_behind(
    export: Path, tmp_path: Path
) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    last = sorted((folder / "files").rglob("*.jpg"))[-1]
    last.write_bytes(last.read_bytes()[:-10])
    _refused(folder, _embedded(tmp_path), "does not match its checksum")


def _edit_rows(folder: Path, table: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    path = folder / "tables" / f"{table}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    change(rows)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _html_file(rows: list[dict[str, Any]]) -> None:
    rows[0]["ext"], rows[0]["content_type"] = "html", "text/html"


def _wrong_type(rows: list[dict[str, Any]]) -> None:
    rows[0]["content_type"] = "text/html"


def _loop(rows: list[dict[str, Any]]) -> None:
    rows[0]["parent_id"] = rows[1]["id"]  # Toys under Cars, which is under Toys


def _foreign_parent(rows: list[dict[str, Any]]) -> None:
    rows[1]["parent_id"] = 424242


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("files", _html_file, "unknown extension 'html'"),
        ("files", _wrong_type, "not the type of .jpg files"),
        ("categories", _loop, "is its own ancestor"),
        ("categories", _foreign_parent, "is not a category of its store"),
        ("categories", lambda rows: rows[0].update(order_by="ten"), "order_by must be a whole"),
        ("categories", lambda rows: rows[0].update(name_translated=["x"]), "a map of language"),
        ("categories", lambda rows: rows[0].update(name="a\u0000b"), "without NUL"),
        (
            "categories",
            lambda rows: rows[0].update(created_at={"$datetime": "yesterday"}),
            "line 1",
        ),
        ("images", lambda rows: rows[0].update(border=[1, 2]), "border must be an object"),
        ("images", lambda rows: rows[0].update(store_id=424242), "not the four of an upload"),
        ("images", lambda rows: rows[0].update(pending_url="https://a.example/"), "pending and"),
        ("files", lambda rows: rows[0].update(image_id=424242), "has the files hd, image, thumb"),
        ("files", lambda rows: rows[0].update(blob_id=424242), "bytes of a later file"),
        ("files", lambda rows: rows[0].update(blob_id=1), "not among the export's files"),
    ],
)
def test_rows_that_would_break_the_store_are_refused(
    export: Path,
    tmp_path: Path,
    table: str,
    change: Callable[[list[dict[str, Any]]], None],
    message: str,
) -> None:
    folder = _crafted(export, tmp_path, lambda m: None)
    _edit_rows(folder, table, change)
    _refused(folder, _embedded(tmp_path), message)


def test_a_file_row_without_its_file_is_refused(export: Path, tmp_path: Path) -> None:
    def drop_first(manifest: dict[str, Any]) -> None:
        first = sorted(manifest["files"])[0]
        del manifest["files"][first]

    _refused(_crafted(export, tmp_path, drop_first), _embedded(tmp_path), "not among the export")


def test_counters_behind_the_rows_never_hand_out_an_id_twice(export: Path, tmp_path: Path) -> None:
    folder = _crafted(export, tmp_path, lambda m: m["counters"].update(categories=0))
    _edit_rows(folder, "file_ids", lambda rows: rows[0].update(next_id=1))
    settings = _embedded(tmp_path)
    target = migrated(settings)
    try:
        transfer.import_(target, folder)
        before = sorted(e.key for e in target.blobs.list())
        store = target.metadata.stores.list_stores()[0]
        made, _ = target.metadata.catalog.create_category(store.id, CategoryChanges(name="New"))
        assert made > 2  # past Toys and Cars
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(images.jpeg(640, 480))
        image_id, _ = category_images.upload(target, store, made, photo)
        assert image_id > 1003  # past every file the dump holds
        after = sorted(e.key for e in target.blobs.list())
        assert set(before) < set(after)  # nothing overwritten or removed
    finally:
        target.close()
