"""Uploads from externalUrl, and the async upload."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, run_jobs
from tests.servers import ImageServer
from vitrina.bootstrap import Services
from vitrina.settings import Settings
from vitrina.usecases.upload_jobs import JobWorker
from vitrina.web.app import create_app


def test_external_url_in_the_query(api: Api, remote: ImageServer) -> None:
    category_id = api.create()
    response = api.post(
        f"/categories/{category_id}/image",
        params={"externalUrl": remote.url("/image.jpg")},
        content=images.png(10, 10),  # ignored: externalUrl wins
    )
    assert response.status_code == 200, response.text
    data = api.category(category_id)
    assert data["originalImage"]["width"] == 1600
    assert data["thumbnailUrl"].endswith(f"/{response.json()['id']}.jpg")


def test_external_url_in_a_form_body_as_the_java_client_sends_it(
    api: Api, remote: ImageServer
) -> None:
    category_id = api.create()
    response = api.post(
        f"/categories/{category_id}/image",
        data={"externalUrl": remote.url("/image.jpg")},
    )
    assert response.status_code == 200, response.text
    assert api.category(category_id)["imageUrl"].endswith(".jpg")


@pytest.mark.parametrize(
    ("path", "status", "code", "words"),
    [
        ("/status/404", 422, "IMAGE_DOWNLOAD_FAILED", "HTTP 404"),
        ("/loop", 422, "IMAGE_DOWNLOAD_FAILED", "Too many redirects"),
        ("/text", 422, "INVALID_IMAGE", "HTML"),
        ("/hang", 422, "IMAGE_DOWNLOAD_FAILED", "longer than"),
    ],
)
def test_download_failures(
    api: Api,
    remote: ImageServer,
    path: str,
    status: int,
    code: str,
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    category_id = api.create()
    with caplog.at_level(logging.WARNING, logger="vitrina"):
        response = api.post(
            f"/categories/{category_id}/image", params={"externalUrl": remote.url(path)}
        )
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code
    assert words in response.json()["errorMessage"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"store {api.store_id}" in logged and words in logged
    assert api.token not in logged


def test_refused_targets_are_logged_without_the_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    category_id = api.create()
    with caplog.at_level(logging.WARNING, logger="vitrina"):
        response = api.post(
            f"/categories/{category_id}/image",
            params={"externalUrl": "https://169.254.169.254/latest/meta-data/", "token": api.token},
        )
    assert response.status_code == 422
    assert response.json()["errorCode"] == "WRONG_URL"
    assert "169.254" not in response.json()["errorMessage"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "WRONG_URL" in logged or "not point to a public" in logged
    assert api.token not in logged


def test_async_upload_shows_the_url_first_then_its_own_files(
    api: Api, services: Services, remote: ImageServer
) -> None:
    category_id = api.create()
    url = remote.url("/image.jpg")
    response = api.post(
        f"/categories/{category_id}/image/async",
        json={
            "url": url,
            "width": "1600",
            "height": 1200,
            "externalId": "ext-1",
            "alt": {"main": "A photo", "translated": {"de": "Ein Foto"}},
        },
    )
    assert response.status_code == 200, response.text
    image_id = response.json()["id"]
    waiting = api.category(category_id)
    assert waiting["thumbnailUrl"] == waiting["imageUrl"] == waiting["originalImageUrl"] == url
    assert waiting["originalImage"] == {"url": url, "width": 1600, "height": 1200}
    assert waiting["imageExternalId"] == "ext-1"
    assert waiting["alt"] == {"main": "A photo", "translated": {"de": "Ein Foto"}}
    assert remote.requests == []
    assert run_jobs(services) == 1
    done = api.category(category_id)
    assert done["thumbnailUrl"].endswith(f"/{image_id}.jpg")
    assert done["thumbnail"]["width"] == 400
    assert api.client.get(done["thumbnailUrl"].removeprefix("http://testserver")).status_code == 200
    assert done["imageExternalId"] == "ext-1"
    [job] = services.metadata.jobs.list_jobs()
    assert job.state == "done"


def test_a_failed_async_upload_goes_back_to_the_previous_image(
    api: Api, services: Services, remote: ImageServer
) -> None:
    category_id = api.create()
    api.upload(category_id, images.png(64, 64))
    before = api.category(category_id)["thumbnailUrl"]
    response = api.post(
        f"/categories/{category_id}/image/async",
        json={"url": remote.url("/text"), "width": 10, "height": 10},
    )
    assert response.status_code == 200
    assert api.category(category_id)["thumbnailUrl"] == remote.url("/text")
    run_jobs(services)
    assert api.category(category_id)["thumbnailUrl"] == before
    [job] = services.metadata.jobs.list_jobs(state="failed")
    assert "not an image" in job.last_error and "HTML" in job.last_error
    assert job.attempts == 1  # not an image: no point retrying


def test_transient_failures_are_retried_then_recorded(
    api: Api, services: Services, remote: ImageServer
) -> None:
    category_id = api.create()
    api.post(
        f"/categories/{category_id}/image/async",
        json={"url": remote.url("/status/503"), "width": 10, "height": 10},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run_jobs(services)
        if services.metadata.jobs.list_jobs(state="failed"):
            break
        time.sleep(0.05)
    [job] = services.metadata.jobs.list_jobs(state="failed")
    assert job.attempts == services.settings.job_max_attempts
    assert "HTTP 503" in job.last_error
    assert len(remote.requests) == job.attempts
    assert "thumbnailUrl" not in api.category(category_id)


def test_async_jobs_survive_a_restart(
    settings: Settings, remote: ImageServer, services: Services, tmp_path: Path
) -> None:
    with TestClient(create_app(settings, services)) as client:
        from tests.conftest import make_store

        api = make_store(services, client)
        category_id = api.create()
        api.post(
            f"/categories/{category_id}/image/async",
            json={"url": remote.url("/image.jpg"), "width": 5, "height": 5},
        )
    # "Restart": new services over the same database and files, with a worker.
    from vitrina.bootstrap import build_services

    again = build_services(settings)
    again.fetcher = services.fetcher
    worker = JobWorker(again)
    worker.poll = 0.05
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not again.metadata.jobs.list_jobs(state="done"):
            time.sleep(0.05)
    finally:
        worker.stop()
        again.close()
    assert services.metadata.jobs.list_jobs(state="done")
    category = services.metadata.catalog.get_category(api.store_id, category_id)
    assert (
        category is not None and category.image is not None and category.image.pending_url is None
    )


def test_a_second_async_upload_replaces_a_pending_one(
    api: Api, services: Services, remote: ImageServer
) -> None:
    category_id = api.create()
    api.upload(category_id, images.png(32, 32))
    first = api.post(
        f"/categories/{category_id}/image/async",
        json={"url": remote.url("/image.jpg?1"), "width": 1, "height": 1},
    ).json()["id"]
    second = api.post(
        f"/categories/{category_id}/image/async",
        json={"url": remote.url("/image.jpg?2"), "width": 2, "height": 2},
    ).json()["id"]
    assert first != second
    run_jobs(services)
    data = api.category(category_id)
    assert data["thumbnailUrl"].endswith(f"/{second}.jpg")
    keys = {e.key for e in services.blobs.list()}
    assert len(keys) == 4  # the first async image's files and the png's are gone


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"width": 1, "height": 1}, 400, "WRONG_PARAMETER"),
        ({"url": " ", "width": 1, "height": 1}, 400, "WRONG_PARAMETER"),
        ({"url": "https://x.test/a.jpg", "height": 1}, 400, "WRONG_PARAMETER"),
        ({"url": "https://x.test/a.jpg", "width": 0, "height": 1}, 400, "WRONG_PARAMETER"),
        ({"url": "https://x.test/a.jpg", "width": "wide", "height": 1}, 400, "WRONG_PARAMETER"),
        ({"url": "ftp://x.test/a.jpg", "width": 1, "height": 1}, 422, "WRONG_URL"),
        ({"url": "https://exa mple/", "width": 1, "height": 1}, 422, "WRONG_URL"),
        ({"url": "https://xn--/a.jpg", "width": 1, "height": 1}, 422, "WRONG_URL"),
        ({"url": "https://[::1/a.jpg", "width": 1, "height": 1}, 422, "WRONG_URL"),
    ],
)
def test_async_input_errors(api: Api, body: dict[str, Any], status: int, code: str) -> None:
    response = api.post(f"/categories/{api.create()}/image/async", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code


@pytest.mark.parametrize("url", ["https://xn--/a.jpg", "https://xn--zz-/a.jpg"])
def test_an_external_url_that_cannot_be_decoded_is_a_wrong_url(api: Api, url: str) -> None:
    response = api.post(f"/categories/{api.create()}/image", params={"externalUrl": url})
    assert response.status_code == 422, response.text
    assert response.json()["errorCode"] == "WRONG_URL"


def test_async_to_a_missing_category_is_404(api: Api) -> None:
    response = api.post(
        "/categories/999/image/async", json={"url": "https://x.test/a.jpg", "width": 1, "height": 1}
    )
    assert response.status_code == 404
