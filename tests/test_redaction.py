"""What vitrina writes down loses its secrets (vitrina.domain.redaction): queries of
the request log and access lines, and whole log lines."""

from __future__ import annotations

import pytest

from vitrina.domain import redaction

TOKEN = "secret_JtBgnNDKSSNyZxI3V80ht7X3fgfV5_4v"


@pytest.mark.parametrize(
    ("raw", "recorded"),
    [
        ("", ""),
        ("keyword=Toys&limit=5", "keyword=Toys&limit=5"),
        (f"token={TOKEN}&limit=5", "limit=5"),
        (f"%74oken={TOKEN}&TOKEN={TOKEN}&a=1", "a=1"),
        ("access_token=abc&client_secret=def", "access_token=REDACTED&client_secret=REDACTED"),
        (
            "externalUrl=https%3A%2F%2Fuser%3Apass%40cdn.example.com%2Fa.jpg%3F"
            "X-Amz-Signature%3Dabc%26size%3D2",
            "externalUrl=https://REDACTED@cdn.example.com/a.jpg%3FX-Amz-Signature%3DREDACTED"
            "%26size%3DREDACTED",
        ),
        (
            "externalUrl=https://cdn.example.com/a.jpg",
            "externalUrl=https://cdn.example.com/a.jpg",
        ),
        (
            "externalUrl=https://cdn.example.com/a.jpg&sig=abc",
            "externalUrl=https://cdn.example.com/a.jpg&sig=REDACTED",
        ),
        ("responseFields=items(id,name)", "responseFields=items(id,name)"),
        ("lang=fr:ca", "lang=fr:ca"),
    ],
)
def test_a_query_is_recorded_without_its_secrets(raw: str, recorded: str) -> None:
    assert redaction.query(raw) == recorded


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://a:b@x.example/p?q=1#frag", "https://REDACTED@x.example/p?q=REDACTED#REDACTED"),
        ("https://x.example/p.jpg", "https://x.example/p.jpg"),
        ("not a url", "not a url"),
        ("https://[::1/", "REDACTED"),
        # what a browser reads as https://u:p@h: slashes either way, any number
        ("https:/u:pw@h.example/a", "https:/REDACTED@h.example/a"),
        ("https:\\\\u:pw@h.example/a?x=1", "https:\\\\REDACTED@h.example/a?x=REDACTED"),
        ("https:u:pw@h.example", "https:REDACTED@h.example"),
        ("//u:pw@h.example/a", "//REDACTED@h.example/a"),
        ("HTTP:\\\\u:pw@h.example/?next=http://y", "HTTP:\\\\REDACTED@h.example/?next=REDACTED"),
        ("user@example.com", "user@example.com"),
        ("mailto:a@b.example", "mailto:a@b.example"),
    ],
)
def test_a_url_loses_its_credentials(url: str, kept: str) -> None:
    assert redaction.url(url) == kept


@pytest.mark.parametrize(
    "line",
    [
        f"GET /api/v3/1/profile?token={TOKEN} HTTP/1.1",
        f"headers: {{'authorization': 'Bearer {TOKEN}'}}",
        f'Authorization: Token token="{TOKEN}"',
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        f"could not download https://user:{TOKEN}@x.example/a.jpg",
        "fetching https://x.example/a.jpg?X-Amz-Signature=5ecret5ignature&b=1",
        f"token {TOKEN} was revoked",
        "could not download https:/u:5ecret5ignature@x.example/a.jpg",
        "could not download https:\\\\u:5ecret5ignature@x.example/a.jpg",
        "could not download https:u:5ecret5ignature@x.example/a.jpg",
        "proxy //u:5ecret5ignature@x.example:3128 refused",
    ],
)
def test_a_log_line_loses_every_credential(line: str) -> None:
    cleaned = redaction.text(line)
    assert TOKEN not in cleaned
    assert "5ecret5ignature" not in cleaned and "dXNlcjpwYXNzd29yZA" not in cleaned
    assert "REDACTED" in cleaned


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/v3/1/categories?limit=5 200 1.2 ms",
        "async upload job 4 (store 1, category 2) attempt 1 failed: could not resolve",
        "the token was refused",
        "error_code=INVALID_API_TOKEN",
        "no category 5 in /api/v3/1//categories@x",
        "mail user@example.com: delivered",
    ],
)
def test_a_line_without_secrets_is_left_alone(line: str) -> None:
    assert redaction.text(line) == line


def test_an_unsupported_proxy_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from vitrina.client._transport import DeadlineTransport

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", f"socks5://user:{TOKEN}@127.0.0.1:1080")
    with caplog.at_level("WARNING", logger="vitrina.client"):
        DeadlineTransport().close()
    warned = "\n".join(record.getMessage() for record in caplog.records)
    assert "socks5://REDACTED@127.0.0.1:1080" in warned
    assert TOKEN not in warned
