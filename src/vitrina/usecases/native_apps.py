"""A native app's page: the app's iframe URL, opened in the console with the
``payload`` parameter Ecwid hands it (SPEC §9).

The payload is the url-safe Base64 (without ``=`` padding, as Ecwid's)
of a random 16-byte IV followed by the AES-128-CBC encryption, PKCS#7
padded, of the JSON ``{"store_id", "access_token", "public_token"?,
"lang", "view_mode"}``, keyed with the first 16 characters of the app's
client secret.

The access token in it is made for this opening. vitrina keeps tokens only
as hashes, so it cannot hand the app the token its install gave (as Ecwid
does); each opening adds a secret token issued to the app, with the app's
scopes, that expires like a console session and is revoked with the app's
other tokens when it is uninstalled or deleted. An app that works in the
background keeps the token of its OAuth install instead.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest, ConstraintViolation, InsufficientScope, NotFound
from vitrina.domain.values import SCOPES, NewToken, TokenInfo
from vitrina.usecases.oauth import ALWAYS, with_query
from vitrina.usecases.tokens import token_hash

VIEW_MODE = "PAGE"  # Ecwid's, for an app opened in its own page of the admin


def payload(client_secret: str, data: Mapping[str, Any]) -> str:
    """``data`` encrypted as Ecwid encrypts a native app's payload."""
    key = client_secret[:16].encode("utf-8")
    if len(key) != 16:
        raise ConstraintViolation("The app's client secret is too short to key a payload")
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = (
        padder.update(json.dumps(dict(data), separators=(",", ":")).encode()) + padder.finalize()
    )
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = iv + encryptor.update(plain) + encryptor.finalize()
    return base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def open_page(
    services: Services,
    store_id: int,
    app_id: int,
    grantor: TokenInfo,
    lifetime_seconds: int,
) -> tuple[str, datetime]:
    """The URL the console's frame opens for the app, and when the token in
    its payload stops working. ``grantor``: the console session's token,
    which must be a secret token holding the app's catalogue scopes (the
    page's token may do no more than the person who opens it)."""
    app = services.metadata.apps.get_app(store_id, app_id)
    if app is None:
        raise NotFound(f"No app #{app_id} in store #{store_id}")
    if not app.iframe_url:
        raise ConstraintViolation(f"App #{app_id} has no iframe URL: it has no page to open")
    if app.installed_at is None:
        raise ConstraintViolation(f"App #{app_id} is not installed: install it to open its page")
    if grantor.kind != "secret":
        raise BadRequest("A public token cannot open an app's page")
    for scope in sorted(app.scopes & set(SCOPES)):
        if scope not in grantor.scopes:
            raise InsufficientScope(scope)
    store = services.metadata.stores.get_store(store_id)
    if store is None:
        raise NotFound(f"Store #{store_id} does not exist")
    secret = f"secret_{secrets.token_urlsafe(24)}"
    issued = [(NewToken(token_hash(secret), secret[:12]), "secret", app.scopes | {ALWAYS})]
    data: dict[str, Any] = {"store_id": store_id, "access_token": secret}
    if "public_storefront" in app.scopes:
        public = f"public_{secrets.token_urlsafe(24)}"
        issued.append(
            (NewToken(token_hash(public), public[:12]), "public", frozenset({"read_catalog"}))
        )
        data["public_token"] = public
    data.update(lang=store.default_language, view_mode=VIEW_MODE)
    expires_at = datetime.now(UTC) + timedelta(seconds=lifetime_seconds)
    if not services.metadata.installs.add_page_tokens(store_id, app_id, issued, expires_at):
        raise ConstraintViolation(f"App #{app_id} was uninstalled or deleted meanwhile")
    return with_query(app.iframe_url, {"payload": payload(app.client_secret, data)}), expires_at
