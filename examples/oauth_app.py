"""A whole Ecwid app in one file, to run against vitrina (docs/apps.md):
installed by OAuth, told of changes by webhooks, with a native page in the
console. The standard library, and ``cryptography`` for the page's payload.

    python examples/oauth_app.py --vitrina http://127.0.0.1:8080 \\
        --client-id app-1-… --client-secret … [--port 8765]

Register the app first with these URLs (the console's Apps page, or
``vitrina app create``; docs/apps.md says how):

    redirect URI   http://127.0.0.1:8765/oauth
    iframe URL     http://127.0.0.1:8765/page
    webhook URL    http://127.0.0.1:8765/webhooks

Then open http://127.0.0.1:8765/ and press "Install in vitrina". The same
code works against Ecwid with --vitrina https://my.ecwid.com for the
install (Ecwid's authorize URL is https://my.ecwid.com/api/oauth/authorize
and its token URL https://my.ecwid.com/api/oauth/token) and
https://app.ecwid.com for the API.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import json
import secrets
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SCOPES = "read_store_profile read_catalog"


class App:
    """What the app keeps: its credentials, the states of installs under
    way, the token each install gave (in memory: a real app keeps it in its
    database, never in a URL or a log) and the events received."""

    def __init__(self, vitrina: str, api: str, client_id: str, secret: str, base: str) -> None:
        if not all(u.startswith(("http://", "https://")) for u in (vitrina, api)):
            raise ValueError("vitrina's URLs must be http:// or https://")
        self.vitrina, self.api = vitrina.rstrip("/"), api.rstrip("/")
        self.client_id, self.client_secret, self.base = client_id, secret, base
        self.states: set[str] = set()
        self.tokens: dict[int, str] = {}  # store id -> access token
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def redirect_uri(self) -> str:
        return self.base + "/oauth"

    def install_url(self) -> str:
        """Step 1: send the store owner to the authorize page, with a state."""
        state = secrets.token_urlsafe(16)
        with self.lock:
            self.states.add(state)
        query = urllib.parse.urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": SCOPES,
                "state": state,
            }
        )
        return f"{self.vitrina}/api/oauth/authorize?{query}"

    def exchange(self, code: str) -> dict[str, Any]:
        """Step 2: the code (good once, for 10 minutes) for a token, by a POST
        form; the secret goes in the body, never in a URL."""
        form = urllib.parse.urlencode(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
                "redirect_uri": self.redirect_uri,
                "grant_type": "authorization_code",
            }
        ).encode()
        request = urllib.request.Request(f"{self.vitrina}/api/oauth/token", data=form)  # noqa: S310  # http(s): checked in __init__
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # as above
            token: dict[str, Any] = json.load(answer)
        with self.lock:
            self.tokens[int(token["store_id"])] = token["access_token"]
        return token

    def call(self, store_id: int, token: str, path: str) -> Any:
        """Step 3: the REST API, with the token in the Authorization header."""
        url = f"{self.api}/api/v3/{store_id}{path}"
        bearer = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(url, headers=bearer)  # noqa: S310  # http(s): checked in __init__
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # as above
            return json.load(answer)

    def signature_ok(self, body: bytes, header: str) -> bool:
        """A webhook's X-Ecwid-Webhook-Signature (docs/webhooks.md)."""
        event = json.loads(body)
        signed = f"{event['eventCreated']}.{event['eventId']}".encode()
        mac = hmac.new(self.client_secret.encode(), signed, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(mac).decode(), header)

    def open_payload(self, payload: str) -> dict[str, Any]:
        """A native page's ``payload``: url-safe Base64 (without padding) of
        a 16-byte IV and AES-128-CBC, keyed with the first 16 characters of
        the client secret, of JSON with store_id, access_token, lang…"""
        sealed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        key = self.client_secret[:16].encode()
        decryptor = Cipher(algorithms.AES(key), modes.CBC(sealed[:16])).decryptor()
        padded = decryptor.update(sealed[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        data: dict[str, Any] = json.loads(unpadder.update(padded) + unpadder.finalize())
        return data


def page(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}"
    ).encode()


def handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # the request line holds the code, or the payload: not for a log

        def answer(self, status: int, body: bytes, location: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Referrer-Policy", "no-referrer")
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/":
                link = html.escape(app.install_url())
                self.answer(200, page("Example app", f'<a href="{link}">Install in vitrina</a>'))
            elif url.path == "/oauth":
                self.installed(query)
            elif url.path == "/page":
                self.native_page(query)
            else:
                self.answer(404, page("Not found"))

        def installed(self, query: dict[str, str]) -> None:
            with app.lock:
                known = query.get("state") in app.states
                app.states.discard(query.get("state", ""))
            if not known:
                self.answer(400, page("Unknown state", "Start the install again."))
            elif "error" in query:
                self.answer(200, page("Not installed", f"vitrina said: {query['error']}"))
            else:
                try:
                    token = app.exchange(query["code"])
                except urllib.error.HTTPError as refused:  # OAuth's {"error", "error_description"}
                    said = json.loads(refused.read() or b"{}").get("error_description", "")
                    self.answer(400, page("Not installed", html.escape(said)))
                    return
                store = int(token["store_id"])
                found = app.call(store, token["access_token"], "/categories")
                self.answer(
                    200,
                    page(
                        "Installed",
                        f"Store {store} granted: {html.escape(token['scope'])}.",
                        f"It has {found['total']} categories.",
                    ),
                )

        def native_page(self, query: dict[str, str]) -> None:
            try:
                data = app.open_payload(query["payload"])
            except (KeyError, ValueError):
                self.answer(400, page("No payload", "Open this page from vitrina's console."))
                return
            store = int(data["store_id"])
            profile = app.call(store, data["access_token"], "/profile")
            found = app.call(store, data["access_token"], "/categories")
            names = ", ".join(html.escape(c["name"]) for c in found["items"]) or "none"
            self.answer(
                200,
                page(
                    f"Store {store}: {profile['settings']['storeName']}",
                    f"Language {html.escape(data['lang'])}, view {html.escape(data['view_mode'])}.",
                    f"Categories: {names}.",
                ),
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/webhooks":
                self.answer(404, b"")
            elif not app.signature_ok(body, self.headers.get("X-Ecwid-Webhook-Signature", "")):
                self.answer(401, b"")  # not from vitrina: vitrina retries, no one else matters
            else:
                event = json.loads(body)
                with app.lock:
                    app.events.append(event)
                print(f"webhook: {event['eventType']} {event['entityId']}", flush=True)
                self.answer(200, b"")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vitrina", default="http://127.0.0.1:8080", help="vitrina's root URL")
    parser.add_argument("--api", help="the API's root URL (default: --vitrina)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--port", type=int, default=8765, help="where this app listens")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), BaseHTTPRequestHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    app = App(args.vitrina, args.api or args.vitrina, args.client_id, args.client_secret, base)
    server.RequestHandlerClass = handler(app)
    print(f"Example app on {base}/ (install it from there)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
