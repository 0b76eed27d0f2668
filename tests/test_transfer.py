"""Moving an embedded installation to PostgreSQL + S3 with export/import."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, make_store, migrated
from tests.services import BUCKET, S3, S3_KEY, S3_SECRET, Postgres
from vitrina.cli import main
from vitrina.settings import Settings
from vitrina.web.app import create_app

pytestmark = pytest.mark.slow


def _snapshot(api: Api, category_ids: list[int]) -> list[dict[str, object]]:
    return [api.category(c) for c in category_ids]


def test_export_then_import_into_postgres_and_s3(
    tmp_path: Path, postgres: Postgres, s3: S3, capsys: pytest.CaptureFixture[str]
) -> None:
    embedded = Settings(data_dir=tmp_path / "old", run_jobs=False, public_url="http://testserver")
    source = migrated(embedded)
    with TestClient(create_app(embedded, source)) as client:
        api = make_store(source, client)
        ids = [api.create(name=f"C{i}", productIds=[i + 1]) for i in range(4)]
        child = api.create(name="Child", parentId=ids[0])
        for n, category_id in enumerate(ids[:3]):  # three photos (the same would be stored once)
            api.upload(category_id, images.jpeg(900, 600 + 10 * n))
        api.delete(f"/categories/{ids[3]}")  # its id must not be handed out again
        before = _snapshot(api, [*ids[:3], child])
    source.close()
    dump = tmp_path / "dump"
    assert main(["export", str(dump), "--data-dir", str(tmp_path / "old")]) == 0
    assert "3 images and 12 files" in capsys.readouterr().out

    with postgres.database() as url:
        scaled = embedded.replace(
            data_dir=tmp_path / "new",
            database_url=url,
            storage_url=f"s3://{BUCKET}/moved",
            s3_endpoint_url=s3.endpoint,
            s3_access_key_id=S3_KEY,
            s3_secret_access_key=S3_SECRET,
        )
        target = migrated(scaled)
        from vitrina.usecases import transfer

        transfer.import_(target, dump)
        with pytest.raises(Exception, match="already has stores"):
            transfer.import_(target, dump)
        with TestClient(create_app(scaled, target)) as client:
            moved = Api(client, api.store_id, api.token)  # the same token still works
            assert _snapshot(moved, [*ids[:3], child]) == before
            for category in before[:3]:
                for field in ("thumbnailUrl", "originalImageUrl"):
                    url_path = str(category[field]).removeprefix("http://testserver")
                    moved_file = client.get(url_path, follow_redirects=False)
                    assert moved_file.status_code == 307  # to the bucket, which has it
                    assert httpx.get(moved_file.headers["location"]).status_code == 200
            assert moved.create(name="New") > child  # counters moved too
            assert moved.create(name="Newer") > ids[3]
            uploaded = moved.upload(ids[0], images.png(30, 30)).json()["id"]
            assert uploaded > max(
                int(str(c["thumbnailUrl"]).rsplit("/", 1)[1].split(".")[0]) for c in before[:3]
            )
        target.close()


def test_export_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "x").write_text("x")
    assert main(["migrate", "--data-dir", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "dump"), "--data-dir", str(tmp_path / "d")]) == 2
    assert "not empty" in capsys.readouterr().err
