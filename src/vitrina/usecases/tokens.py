"""API tokens: made here, shown once, stored only as a SHA-256 hash. And the
console's sign-in codes, made the same way: a code is good once, for a few
minutes, and is exchanged for a session token that expires."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from vitrina.domain.errors import BadRequest, VitrinaError
from vitrina.domain.seams import MetadataStore
from vitrina.domain.values import SCOPES, TokenInfo


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if unknown:
        raise BadRequest(
            f"Unknown scope(s): {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}"
        )
    return scopes


def create_token(
    metadata: MetadataStore, store_id: int, scopes: frozenset[str], public: bool = False
) -> tuple[str, TokenInfo]:
    """Make a token for a store; return it (the only time it is seen) and its record."""
    if metadata.stores.get_store(store_id) is None:
        raise BadRequest(f"Store #{store_id} does not exist")
    if public and scopes - {"read_catalog"}:
        raise BadRequest("Public tokens can only read: use --scopes read_catalog")
    kind = "public" if public else "secret"
    token = f"{kind}_{secrets.token_urlsafe(24)}"
    info = metadata.stores.add_token(store_id, token_hash(token), kind, scopes, token[:12])
    return token, info


def _refused(outcome: str, store_id: int) -> VitrinaError:
    """403 INVALID_SIGNIN_CODE, saying why. An instance, not a class of the
    error tree: errors.py's tree is another change's to extend, and a class
    declared here would reach the OpenAPI document only once this module
    is imported."""
    reasons = {
        "used": "This sign-in link has already been used, and a link works only once; "
        "the session it opened has been ended, in case someone else used it.",
        "expired": "This sign-in link has expired: a link works only for a few minutes.",
    }
    reason = reasons.get(
        outcome,
        f"This sign-in link is not valid for store #{store_id}: it may be cut short, "
        "made by another server, or long expired.",
    )
    error = VitrinaError(f"{reason} Get a new link with `vitrina console-link --store {store_id}`.")
    error.status, error.code = 403, "INVALID_SIGNIN_CODE"
    return error


def create_signin_code(
    metadata: MetadataStore, store_id: int, scopes: frozenset[str], seconds: int
) -> str:
    """Make a console sign-in code for a store; return it (the only time it is seen)."""
    if metadata.stores.get_store(store_id) is None:
        raise BadRequest(f"Store #{store_id} does not exist")
    if not scopes:
        raise BadRequest(f"A sign-in link needs at least one scope: {', '.join(SCOPES)}")
    code = secrets.token_urlsafe(24)
    expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
    metadata.signins.add_code(store_id, token_hash(code), scopes, expires_at)
    return code


def console_link(base_url: str, store_id: int, code: str) -> str:
    """The console's sign-in link. The code rides in the fragment, which
    browsers never send to a server; it is good once, so the browser's
    history keeps nothing that still opens the store."""
    return f"{base_url}/console/#store={store_id}&signin={code}"


def redeem_signin_code(
    metadata: MetadataStore, store_id: int, code: str, session_seconds: int
) -> tuple[str, TokenInfo]:
    """Exchange a sign-in code, once, for a new secret session token with the
    code's scopes that expires after ``session_seconds``; return the token
    (the only time it is seen) and its record."""
    if not code or len(code) > 200:
        raise _refused("unknown", store_id)
    token = f"secret_{secrets.token_urlsafe(24)}"
    expires_at = datetime.now(UTC) + timedelta(seconds=session_seconds)
    found = metadata.signins.redeem_code(
        store_id, token_hash(code), token_hash(token), token[:12], expires_at
    )
    if found.token is None:
        raise _refused(found.outcome, store_id)
    return token, found.token
