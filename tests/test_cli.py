"""The vitrina command, run in-process against a temporary data directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vitrina.backends.metadata import migrate
from vitrina.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_stores_and_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    code, _, err = run(capsys, "store", "create", "--data-dir", data)
    assert code == 2 and "vitrina migrate" in err  # no schema yet: said, not changed
    code, out, _ = run(capsys, "migrate", "--data-dir", data)
    assert code == 0 and "schema at revision" in out
    code, out, _ = run(capsys, "store", "create", "--name", "Shop", "--data-dir", data)
    assert code == 0
    store_id = out.strip()
    assert store_id.isdigit()
    code, out, _ = run(capsys, "token", "create", "--store", store_id, "--data-dir", data)
    token = out.strip()
    assert code == 0 and token.startswith("secret_")
    code, out, _ = run(
        capsys, "token", "create", "--store", store_id, "--public", "--data-dir", data
    )
    public = out.strip()
    assert public.startswith("public_")
    code, out, _ = run(capsys, "token", "list", "--store", store_id, "--data-dir", data)
    assert token not in out and public not in out
    assert out.count("active") == 2
    assert "read_catalog" in out
    code, out, _ = run(capsys, "token", "revoke", token, "--data-dir", data)
    assert code == 0
    code, out, _ = run(capsys, "token", "list", "--store", store_id, "--data-dir", data)
    assert out.count("revoked") == 1
    code, _, err = run(capsys, "token", "revoke", token, "--data-dir", data)
    assert code == 1 and "no such active token" in err


def test_bad_input_gets_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    run(capsys, "migrate", "--data-dir", data)
    code, _, err = run(capsys, "token", "create", "--store", "42", "--data-dir", data)
    assert code == 2 and "Store #42 does not exist" in err
    run(capsys, "store", "create", "--data-dir", data)
    code, _, err = run(
        capsys, "token", "create", "--store", "1", "--scopes", "write_all", "--data-dir", data
    )
    assert code == 2 and "Unknown scope" in err
    code, _, err = run(
        capsys,
        "token",
        "create",
        "--store",
        "1",
        "--public",
        "--scopes",
        "update_catalog",
        "--data-dir",
        data,
    )
    assert code == 2 and "Public tokens can only read" in err


def test_settings_mask_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VITRINA_S3_SECRET_ACCESS_KEY", "very-secret")
    code, out, _ = run(capsys, "settings", "--data-dir", str(tmp_path))
    assert code == 0
    assert "VITRINA_S3_SECRET_ACCESS_KEY=***" in out
    assert "very-secret" not in out
    assert f"VITRINA_DATABASE_URL=sqlite:///{tmp_path.resolve()}/vitrina.db" in out


def test_a_bad_setting_stops_the_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VITRINA_PORT", "http")
    code, _, err = run(capsys, "settings")
    assert code == 2
    assert "VITRINA_PORT='http' is not valid" in err


def test_migrate_gc_and_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run(capsys, "migrate", "--data-dir", data)
    assert code == 0 and f"revision {migrate.head()}" in out
    code, out, _ = run(capsys, "gc", "--grace-seconds", "0", "--data-dir", data)
    assert code == 0 and "removed 0" in out
    code, out, _ = run(capsys, "jobs", "--state", "failed", "--data-dir", data)
    assert code == 0 and out == ""


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["serve"],
        ["worker"],
        ["store", "create"],
        ["store", "list"],
        ["token", "create"],
        ["token", "revoke"],
        ["token", "list"],
        ["settings"],
        ["migrate"],
        ["gc"],
        ["jobs"],
        ["requests"],
        ["demo"],
        ["console-link"],
        ["app", "create"],
        ["app", "list"],
        ["app", "show"],
        ["app", "delete"],
        ["webhooks", "list"],
        ["webhooks", "show"],
        ["webhooks", "replay"],
        ["webhooks", "test"],
    ):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        assert "--data-dir" in capsys.readouterr().out


def test_store_languages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    run(capsys, "migrate", "--data-dir", data)
    code, out, _ = run(capsys, "store", "create", "--languages", "fr, en,fr", "--data-dir", data)
    assert code == 0
    from vitrina.bootstrap import build_services
    from vitrina.settings import Settings

    services = build_services(Settings(data_dir=Path(data)))
    try:
        store = services.metadata.stores.get_store(int(out.strip()))
        assert store is not None and store.languages == ("fr", "en")
        assert store.default_language == "fr"
    finally:
        services.close()
    code, _, err = run(capsys, "store", "create", "--languages", "english!", "--data-dir", data)
    assert code == 2 and "language codes" in err


def test_demo_prints_the_console_link_and_requests_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.testclient import TestClient

    from vitrina.settings import Settings
    from vitrina.web.app import create_app

    data = tmp_path / "data"
    code, out, _ = run(capsys, "demo", "--data-dir", str(data))
    assert code == 0
    token = out.split("shown only this once:", 1)[1].split()[0]
    assert token.startswith("secret_")
    link = _console_link(out)
    assert link.startswith("http://127.0.0.1:8080/console/#store=1&signin=")
    _no_token_in_a_url(out, token)
    with TestClient(create_app(Settings(data_dir=data, run_jobs=False))) as client:
        assert _exchange(client, link).status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/api/v3/1/categories", json={"name": "Toys"}, headers=auth)
        client.get("/api/v3/1/categories/77", params={"token": token, "lang": "en"})
    code, out, _ = run(capsys, "requests", "--store", "1", "--data-dir", str(data))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert "GET\t404" in lines[0] and "/api/v3/1/categories/77?lang=en" in lines[0]
    assert lines[0].endswith("CATEGORY_NOT_FOUND")
    assert "POST\t200" in lines[1]
    assert token not in out
    code, out, _ = run(
        capsys, "requests", "--store", "1", "--status", "2xx", "--data-dir", str(data)
    )
    assert len(out.splitlines()) == 1
    # every start prints a new link (the last one may be used or expired), never a token
    code, out, _ = run(capsys, "demo", "--data-dir", str(data))
    assert code == 0 and "secret_" not in out
    again = _console_link(out)
    assert again.startswith("http://127.0.0.1:8080/console/#store=1&signin=") and again != link
    assert "vitrina console-link --store 1" in out
    with TestClient(create_app(Settings(data_dir=data, run_jobs=False))) as client:
        assert _exchange(client, link).json()["errorCode"] == "INVALID_SIGNIN_CODE"
        assert _exchange(client, again).json()["scopes"] == [
            "create_catalog",
            "read_catalog",
            "update_catalog",
        ]


def _console_link(out: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith("Console:"))
    return line.split()[1]


def _no_token_in_a_url(out: str, token: str) -> None:
    """Tokens go in headers: no URL that vitrina prints carries one."""
    urls = re.findall(r"https?://\S+", out)
    assert urls
    assert not [url for url in urls if token in url or "token=" in url]


def _exchange(client: Any, link: str) -> Any:
    """What the console page does with a sign-in link."""
    fragment = dict(part.split("=", 1) for part in link.split("#", 1)[1].split("&"))
    return client.post(
        "/console/session", json={"storeId": int(fragment["store"]), "code": fragment["signin"]}
    )


def test_console_link_prints_a_single_use_link_with_the_scopes_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from starlette.testclient import TestClient

    from vitrina.settings import Settings
    from vitrina.web.app import create_app

    data = str(tmp_path / "data")
    run(capsys, "migrate", "--data-dir", data)
    code, _, err = run(capsys, "console-link", "--store", "1", "--data-dir", data)
    assert code == 2 and "Store #1 does not exist" in err
    run(capsys, "store", "create", "--data-dir", data)
    code, _, err = run(
        capsys, "console-link", "--store", "1", "--scopes", "write_all", "--data-dir", data
    )
    assert code == 2 and "Unknown scope" in err
    code, out, err = run(
        capsys, "console-link", "--store", "1", "--scopes", "read_catalog", "--data-dir", data
    )
    assert code == 0 and "works once, within 600 seconds" in err
    link = out.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/console/#store=1&signin=[\w-]{32}", link)
    with TestClient(create_app(Settings(data_dir=Path(data), run_jobs=False))) as client:
        session = _exchange(client, link).json()
        assert session["storeId"] == 1 and session["scopes"] == ["read_catalog"]
        assert _exchange(client, link).json()["errorCode"] == "INVALID_SIGNIN_CODE"


def _commands(capsys: pytest.CaptureFixture[str], *command: str) -> list[list[str]]:
    """``command`` and every command under it, found in the help's lists."""
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    found = re.search(r"^  \{([\w,-]+)\}$", capsys.readouterr().out, re.MULTILINE)
    below = found.group(1).split(",") if found else []
    return [list(command)] + [c for name in below for c in _commands(capsys, *command, name)]


def test_every_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Help is read in a terminal: no reST or Markdown marks in it."""
    commands = _commands(capsys)
    assert ["store", "create"] in commands and ["upload"] in commands and ["mirror"] in commands
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        shown = capsys.readouterr().out
        assert "`" not in shown and "**" not in shown, (command, shown)


def test_each_new_store_has_its_own_storefront_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    run(capsys, "migrate", "--data-dir", data)
    for more in ([], [], ["--url", "https://shop.example"]):
        code, _, _ = run(capsys, "store", "create", *more, "--data-dir", data)
        assert code == 0
    _, out, _ = run(capsys, "store", "list", "--data-dir", data)
    assert [line.split("\t")[2] for line in out.splitlines()] == [
        "http://127.0.0.1:8080/store/1",
        "http://127.0.0.1:8080/store/2",
        "https://shop.example",
    ]


def test_a_port_in_use_is_one_line_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from tests.processes import free_port

    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in (["demo", "--port", port], ["serve", "--port", port]):
            code, out, err = run(capsys, *command, "--data-dir", str(data))
            assert code == 2 and out == ""
            assert len(err.splitlines()) == 1
            assert f"port {port} on 127.0.0.1 is in use" in err
            assert "make run PORT=" in err and "serve --port " in err
    assert not data.exists()  # nothing created either
    code, out, _ = run(capsys, "demo", "--port", port, "--data-dir", str(data))
    assert code == 0 and f"http://127.0.0.1:{port}/docs" in out
    assert f"Storefront: http://127.0.0.1:{port}/store/1/" in out


def test_hints_name_the_command_as_it_was_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After make run, .venv/bin/vitrina is not on the PATH: the hints say
    .venv/bin/vitrina, as the README does; with it on the PATH, vitrina."""
    script = tmp_path / ".venv" / "bin" / "vitrina"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    code, out, _ = run(capsys, "demo", "--data-dir", "data")
    assert code == 0
    assert "New token:  .venv/bin/vitrina token create --store 1" in out
    assert "a new link: .venv/bin/vitrina console-link --store 1" in out
    monkeypatch.setenv("PATH", str(script.parent))
    code, out, _ = run(capsys, "demo", "--data-dir", "data")
    assert "New token:  vitrina token create --store 1" in out
