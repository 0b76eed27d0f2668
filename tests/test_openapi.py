"""The OpenAPI document describes the server: schemathesis runs every phase
(examples, coverage, fuzzing, and stateful chains along the document's links
from a created category) against a live server on loopback, with every check
but one, and must find nothing.

CI runs a fixed seed; ``make fuzz`` runs the same with a random seed
(``VITRINA_FUZZ_SEED=random``), and prints it so a failure can be replayed.
"""

from __future__ import annotations

import inspect
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import migrated
from tests.live import LoopbackOnly, no_lookups, serving
from vitrina.bootstrap import fetch_policy, webhook_policy
from vitrina.domain.batches import BatchItem
from vitrina.domain.values import SCOPES, AppChanges, CategoryChanges
from vitrina.settings import Settings
from vitrina.usecases import batches
from vitrina.usecases import category_images as image_cases
from vitrina.usecases.tokens import create_token, token_hash
from vitrina.web import (
    batch_handlers,
    category_handlers,
    console_api,
    image_handlers,
    webhook_handlers,
)
from vitrina.web import files as web_files
from vitrina.web.api import OPERATIONS
from vitrina.web.app import SITE, create_app

REPO = Path(__file__).resolve().parent.parent
FIXED_SEED = 20261127


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Any]]:
    data_dir = Path(tempfile.mkdtemp(prefix="vitrina-openapi-"))
    config = Settings(
        data_dir=data_dir, run_jobs=False, rate_limit_per_minute=0, batch_queue_per_store=0
    )
    services = migrated(config)
    services.fetcher = LoopbackOnly(fetch_policy(config, resolver=no_lookups))
    services.webhook_guard = LoopbackOnly(webhook_policy(config, resolver=no_lookups))
    store = services.metadata.stores.create_store("Schema store", "https://shop.example.com")
    token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
    parent = services.metadata.catalog.create_category(store.id, CategoryChanges(name="Parent"))[0]
    # what DELETE may remove: inside the category the other operations use, so
    # that no generated move can put that one under it
    doomed = services.metadata.catalog.create_category(
        store.id, CategoryChanges(name="Child", parent_id=parent)
    )[0]
    photo = data_dir / "photo.jpg"
    photo.write_bytes(images.phone_jpeg())
    image_id, _ = image_cases.upload(services, store, parent, photo)
    child = services.metadata.catalog.create_category(store.id, CategoryChanges(name="Waiting"))[0]
    job_id, _ = image_cases.start_async(
        services, store, child, "https://images.example/toy.jpg", 800, 600, None, None
    )
    # apps: one to read and send test events to, one that PUT may change (its
    # webhook URL too), one that DELETE may remove; each hears of its install
    # (deliveries 1 to 3)
    app_ids = [
        services.metadata.apps.create_app(
            store.id,
            name,
            f"client-{name}",
            "s" * 32,
            AppChanges(scopes=frozenset({"read_catalog"}), webhook_url="https://hooks.example/in"),
        )[0].id
        for name in ("kept", "changed", "doomed")
    ]
    deliveries = services.metadata.webhooks.list_deliveries(store.id)
    # a batch ticket that GET /batch reads (schemathesis.toml names it; nothing runs it)
    batches.create(
        services,
        store.id,
        token_hash(token),
        [BatchItem(0, "profile", "GET", "/profile")],
        True,
        ticket="schema-ticket",
    )
    # schemathesis.toml names these ids (the database is new, so they are known)
    assert (store.id, parent, doomed, image_id, job_id) == (1, 1, 2, 1001, 1005)
    assert app_ids == [1, 2, 3] and [d.id for d in deliveries] == [3, 2, 1]
    app = create_app(config, services)
    with serving(app) as base:
        yield {
            "app": app,
            "base": base,
            "token": token,
            "file": f"{image_id}.jpg",
            "job": str(job_id),
            "category": str(parent),
            "doomed": str(doomed),
            "store": store.id,
        }
    services.close()
    shutil.rmtree(data_dir, ignore_errors=True)


# Operations whose generated requests are mostly refused for reasons no
# schema can express, so schemathesis warns about them (missing test data,
# validation mismatch): random bytes are rarely an image (422 INVALID_IMAGE);
# a generated parentId rarely names a category, or names the category itself
# (404, 400: docs/differences.md), nor does a test event's categoryId (404);
# the category and the app DELETE may remove are gone after the first call;
# DELETE /batch needs one of two optional parameters (``ticket`` or
# ``ticketId``, Ecwid's two spellings), which a document cannot require, so
# most generated calls send neither, or two different tickets (400).
# Warnings about any other operation fail the test.
EXPECTED_WARNINGS = {
    "DELETE /api/v3/{storeId}/batch",
    "POST /api/v3/{storeId}/categories/{categoryId}/image",
    "PUT /api/v3/{storeId}/categories/{categoryId}",
    "DELETE /api/v3/{storeId}/categories/{categoryId}",
    "DELETE /api/v3/{storeId}/_webhooks/apps/{appId}",
    "POST /api/v3/{storeId}/_webhooks/apps/{appId}/test",
}


def _warned(output: str) -> set[tuple[str, str]]:
    """(warning, operation) pairs from schemathesis's WARNINGS section."""
    section = output.partition("= WARNINGS =")[2].partition("= SUMMARY =")[0]
    found, kind = set(), ""
    for line in section.splitlines():
        if line and not line.startswith(" "):
            kind = line.split(":", 1)[0]
        elif line.startswith("  - "):
            found.add((kind, line[4:].strip()))
    return found


def _seed() -> int:
    chosen = os.environ.get("VITRINA_FUZZ_SEED", "")
    if chosen == "random":
        return random.randrange(2**32)
    return int(chosen) if chosen else FIXED_SEED


def test_the_server_keeps_to_its_document(served: dict[str, Any]) -> None:
    seed = _seed()
    run = subprocess.run(
        [
            Path(sys.executable).parent / "schemathesis",
            "run",
            f"{served['base']}/api/v3/openapi.json",
            "--phases=examples,coverage,fuzzing,stateful",
            "--checks=all",
            # The document spells what the server accepts (numbers and
            # booleans as text too: vitrina.domain.numbers), so anything it forbids
            # must be refused. The other way does not hold: a request the
            # document allows can still be refused for what no schema says
            # (random bytes are rarely an image; a parentId rarely names a
            # category), so "positive data acceptance" is not checked.
            "--exclude-checks=positive_data_acceptance",
            f"--header=Authorization: Bearer {served['token']}",
            f"--seed={seed}",
            f"--max-examples={os.environ.get('VITRINA_FUZZ_EXAMPLES', '30')}",
            "--workers=1",
            "--no-color",
        ],
        cwd=REPO,  # schemathesis.toml
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, f"seed {seed}:\n{report}"
    assert {operation for _, operation in _warned(run.stdout)} <= EXPECTED_WARNINGS, (
        f"seed {seed}:\n{report}"
    )
    print(f"schemathesis seed {seed}: no failures")


def test_the_document_is_served_and_names_every_route(served: dict[str, Any]) -> None:
    with TestClient(served["app"]) as client:
        document = client.get("/api/v3/openapi.json").json()
        page = client.get("/docs")
        icon = client.get("/console/favicon.svg")  # the page names it: no /favicon.ico 404
    assert "href='/console/favicon.svg'" in page.text
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert document["openapi"] == "3.1.0"
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(op.path, op.method) for op in OPERATIONS}
    assert {op.operation_id for op in OPERATIONS} == {
        described["operationId"]
        for item in document["paths"].values()
        for described in item.values()
    }
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/api/v3/{storeId}/categories/{categoryId}/image" in page.text


def test_every_route_is_a_declared_operation_or_a_page_of_the_site() -> None:
    """Routes come from web/api.py's table (or are the site's pages, which
    are not the API's); a handler that no operation declares fails here."""
    routed = {
        (route.path, method)
        for route in create_app(Settings(data_dir=Path(tempfile.mkdtemp()))).routes
        if isinstance(route, Route) and route.path not in SITE
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert routed == {(op.path, op.method) for op in OPERATIONS}
    declared = {op.handler for op in OPERATIONS}
    modules = (
        category_handlers,
        image_handlers,
        console_api,
        web_files,
        webhook_handlers,
        batch_handlers,
    )
    for module in modules:
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
            public = function.__module__ == module.__name__ and not name.startswith("_")
            if public and "call" in inspect.signature(function).parameters:
                assert function in declared, f"{module.__name__}.{name} has no operation"


def test_request_schemas_are_the_structs_the_server_reads(served: dict[str, Any]) -> None:
    """One declaration: the document's body schemas say what vitrina.wire says."""
    with TestClient(served["app"]) as client:
        schemas = client.get("/api/v3/openapi.json").json()["components"]["schemas"]
    new = schemas["NewCategory"]
    assert new["required"] == ["name"]
    assert new["properties"]["name"]["maxLength"] == 255
    assert new["properties"]["nameTranslated"]["anyOf"][0]["propertyNames"] == {"maxLength": 16}
    assert "required" not in schemas["CategoryInput"]
    assert schemas["AsyncUpload"]["required"] == ["url", "width", "height"]
    width = schemas["AsyncUpload"]["properties"]["width"]["anyOf"]
    assert width[0] == {"type": "integer", "minimum": 1, "maximum": 1_000_000}
    assert re.fullmatch(width[1]["pattern"], "1000000")  # as text, too (wire_input)
    assert not re.fullmatch(width[1]["pattern"], "1000001")
