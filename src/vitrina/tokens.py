"""API tokens: made here, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

from vitrina.errors import BadRequest
from vitrina.interfaces import SCOPES, MetadataStore, TokenInfo


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
