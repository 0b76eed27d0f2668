"""vitrina app … and vitrina webhooks …, run in-process against a temporary
data directory: the client secret printed once and never again, loopback
webhooks only with the settings make run gives serve, the delivery log with
every attempt (a receiver's answer printed as text, its control characters
escaped), send again and the test event; errors are one line, exit 2."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.test_cli import run
from tests.webhook_queue import claim_one, finish_one
from vitrina.bootstrap import Services, build_services
from vitrina.domain.values import Attempt, CategoryChanges
from vitrina.settings import Settings

HOOK = "http://127.0.0.1:8000/hooks"
LOOPBACK = {
    "VITRINA_WEBHOOK_ALLOW_HTTP": "true",
    "VITRINA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
}


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    folder = str(tmp_path / "data")
    assert run(capsys, "migrate", "--data-dir", folder)[0] == 0
    assert run(capsys, "store", "create", "--name", "Shop", "--data-dir", folder)[1] == "1\n"
    return folder


@pytest.fixture
def services(data: str) -> Iterator[Services]:
    with build_services(Settings(data_dir=Path(data))) as opened:
        yield opened


def _loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOOPBACK.items():
        monkeypatch.setenv(name, value)


def _fields(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def test_an_app_is_created_with_its_secret_shown_once(
    data: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    create = ["app", "create", "--store", "1", "--name", "Local app", "--webhook-url", HOOK]
    code, out, err = run(capsys, *create, "--data-dir", data)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("vitrina: error: The webhook URL is refused: Only https://")
    assert "VITRINA_WEBHOOK_ALLOW_HTTP=true VITRINA_WEBHOOK_ALLOW_NETWORKS=127.0.0.0/8" in err
    _loopback(monkeypatch)
    events = ["--events", "category.created,category.updated", "category.deleted"]
    code, out, err = run(capsys, *create, *events, "--scopes", "read_catalog", "--data-dir", data)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(": ")[0] for line in lines] == ["app_id", "client_id", "client_secret"]
    secret = _fields(out)["client_secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", secret)
    assert "shown only this once" in err
    code, listed, _ = run(capsys, "app", "list", "--store", "1", "--data-dir", data)
    assert code == 0
    assert listed.split("\t") == [
        "1",
        "Local app",
        _fields(out)["client_id"],
        "read_catalog",
        HOOK,
        "category.created,category.updated,category.deleted\n",
    ]
    code, shown, _ = run(capsys, "app", "show", "--store", "1", "1", "--data-dir", data)
    assert code == 0 and secret not in shown and secret not in listed
    assert _fields(shown)["client_secret"] == "(shown only when the app was created)"
    assert _fields(shown)["webhook_url"] == HOOK


def test_an_app_is_uninstalled_once_and_shows_it(
    data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["app", "create", "--store", "1", "--name", "Panel", "--data-dir", data]
    assert run(capsys, *create)[0] == 0
    code, shown, _ = run(capsys, "app", "show", "--store", "1", "1", "--data-dir", data)
    assert _fields(shown)["installed"].endswith(" UTC")
    uninstall = ["app", "uninstall", "--store", "1", "1", "--data-dir", data]
    code, out, _ = run(capsys, *uninstall)
    assert code == 0 and out.startswith("uninstalled app #1: its tokens stop working")
    code, shown, _ = run(capsys, "app", "show", "--store", "1", "1", "--data-dir", data)
    assert _fields(shown)["installed"] == "no (uninstalled)"
    code, out, err = run(capsys, *uninstall)
    assert code == 2 and err.strip() == "vitrina: error: App #1 is not installed."


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scopes", "delete_everything"], "Unknown scope(s): delete_everything"),
        (["--events", "order.created"], "Unknown event type(s): order.created"),
        (["--webhook-url", "https://user:pw@127.0.0.1/"], "user name or password"),
        (["--redirect-uri", "javascript:alert(1)"], "absolute http:// or https://"),
        (["--store", "42"], "Store #42 does not exist"),
    ],
)
def test_bad_input_is_one_line(
    data: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    _loopback(monkeypatch)
    base = ["app", "create", "--store", "1", "--name", "App", *extra, "--data-dir", data]
    code, out, err = run(capsys, *base)
    assert (code, out) == (2, "")
    assert err.startswith("vitrina: error: ") and message in err and len(err.splitlines()) == 1
    if "user name" in message:
        assert "VITRINA_WEBHOOK_ALLOW_HTTP" not in err  # the hint is for loopback alone


def test_names_and_answers_are_printed_as_text(
    data: str,
    services: Services,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _loopback(monkeypatch)
    hostile = "Sync\x1b[2J\tapp"
    code, _, _ = run(
        capsys,
        "app",
        "create",
        "--store",
        "1",
        "--name",
        hostile,
        "--webhook-url",
        HOOK,
        "--data-dir",
        data,
    )
    assert code == 0
    code, listed, _ = run(capsys, "app", "list", "--store", "1", "--data-dir", data)
    assert "\x1b" not in listed and "Sync\\x1b[2J\\tapp" in listed
    assert len(listed.split("\t")) == 6
    claimed = claim_one(services.metadata.webhooks, "cli-test")
    assert claimed is not None
    delivery = claimed[0]
    finish_one(
        services.metadata.webhooks,
        delivery,
        Attempt(
            delivery_id=delivery.id,
            number=1,
            at=datetime.now(UTC),
            status=500,
            duration_ms=8.25,
            error="HTTP 500",
            response="line one\n\x1b[31mred\x07",
            request_headers={"Content-Type": "application/json; charset=UTF-8"},
            request_body='{"eventId":"x"}',
            next_at=None,
        ),
        False,
    )
    code, shown, _ = run(
        capsys, "webhooks", "show", "--store", "1", str(delivery.id), "--data-dir", data
    )
    assert code == 0 and "\x1b" not in shown and "\x07" not in shown
    assert "    line one\n    \\x1b[31mred\\x07\n" in shown


def test_the_delivery_log_send_again_and_a_test_event(
    data: str,
    services: Services,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _loopback(monkeypatch)
    create = ["app", "create", "--store", "1", "--name", "Sync", "--webhook-url", HOOK]
    assert run(capsys, *create, "--data-dir", data)[0] == 0
    category, _ = services.metadata.catalog.create_category(1, CategoryChanges(name="Toys"))
    queue = services.metadata.webhooks
    # the install event, tried once: no answer, due again; then the category's event
    claimed = claim_one(queue, "cli-test")
    assert claimed is not None
    installed = claimed[0]
    retry_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "X-Ecwid-Webhook-Signature": "c2lnbmF0dXJl",
    }
    attempt = Attempt(
        delivery_id=installed.id,
        number=1,
        at=datetime(2030, 1, 2, 3, 0, 0, tzinfo=UTC),
        status=None,
        duration_ms=3001.5,
        error="no connection within 3 s",
        response="",
        request_headers=headers,
        request_body='{"eventId":"e","eventCreated":1}',
        next_at=retry_at,
    )
    assert finish_one(queue, installed, attempt, False)
    code, out, _ = run(capsys, "webhooks", "list", "--store", "1", "--data-dir", data)
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and [r[0] for r in rows] == ["2", "1"]
    assert rows[0][2:6] == ["category.created", f"#{category}", "app 1", "pending"]
    assert rows[1][2:9] == [
        "application.installed",
        "#1",
        "app 1",
        "pending",
        "1 attempt(s)",
        "-",
        "no connection within 3 s",
    ]
    page = ["webhooks", "list", "--store", "1", "--limit", "1", "--before", "2"]
    code, out, _ = run(capsys, *page, "--data-dir", data)
    assert [line.split("\t")[0] for line in out.splitlines()] == ["1"]
    code, shown, _ = run(capsys, "webhooks", "show", "--store", "1", "1", "--data-dir", data)
    assert code == 0
    assert "state: pending (next attempt 2030-01-02 03:04:05 UTC)" in shown
    assert f"eventId: {installed.event.event_id}" in shown
    assert "attempt 1 at 2030-01-02 03:00:00 UTC: no answer after 3001.5 ms" in shown
    assert "  error: no connection within 3 s\n  next attempt: 2030-01-02 03:04:05 UTC" in shown
    assert "    X-Ecwid-Webhook-Signature: c2lnbmF0dXJl\n" in shown
    assert '  request body:\n    {"eventId":"e","eventCreated":1}\n' in shown
    code, out, err = run(capsys, "webhooks", "replay", "--store", "1", "1", "--data-dir", data)
    assert code == 0 and "worker of vitrina serve" in err
    assert out == (
        f"queued delivery #3: application.installed of #1 again, same eventId "
        f"{installed.event.event_id}, for app #1\n"
    )
    test = ["webhooks", "test", "--store", "1", "--app", "1", "--category"]
    code, out, _ = run(capsys, *test, str(category), "--data-dir", data)
    assert code == 0 and out.startswith(
        f"queued delivery #4: a test category.updated of category #{category} for app #1"
    )
    code, out, _ = run(capsys, "webhooks", "list", "--store", "1", "--app", "1", "--data-dir", data)
    assert [line.split("\t")[2] for line in out.splitlines()][:2] == [
        "category.updated",
        "application.installed",
    ]
    for command, message in (
        (["webhooks", "show", "--store", "1", "99"], "No webhook delivery #99 in store #1"),
        (["webhooks", "replay", "--store", "1", "99"], "No webhook delivery #99 in store #1"),
        ([*test, "99"], "Category #99 not found"),
        ([*test[:-3], "--app", "7", "--category", str(category)], "No app #7 in store #1"),
        (["app", "show", "--store", "1", "7"], "No app #7 in store #1"),
        (["app", "delete", "--store", "1", "7"], "No app #7 in store #1"),
    ):
        code, out, err = run(capsys, *command, "--data-dir", data)
        assert (code, out, err) == (2, "", f"vitrina: error: {message}\n")
    code, out, _ = run(capsys, "app", "delete", "--store", "1", "1", "--data-dir", data)
    assert code == 0 and out.startswith("deleted app #1")
    assert run(capsys, "app", "list", "--store", "1", "--data-dir", data)[1] == ""
    code, _, err = run(capsys, "webhooks", "replay", "--store", "1", "1", "--data-dir", data)
    assert (code, err) == (2, "vitrina: error: App #1 was deleted: nothing can be sent to it\n")
