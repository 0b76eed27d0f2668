"""Secrets kept out of what vitrina writes down: log lines, access lines and
the request log. One home for the rules (docs/security.md, "What is never
written down").

- ``query(raw)``: a request's query as the client wrote it, without its
  ``token`` parameter, the values of other secret parameters replaced, and
  every URL inside a value (``externalUrl=…``) passed through ``url``.
- ``url(text)``: a URL without its user name and password, its query values
  and its fragment (signed URLs carry their signature there:
  ``X-Amz-Signature``, ``sig``, ``token``…). The loose forms a browser
  reads as the same URL (``https:/u:p@h``, ``https:\\\\u:p@h``, ``//u:p@h``)
  lose their user info too.
- ``text(line)``: a last line of defence for a whole log line: anything that
  looks like a vitrina token, a bearer credential, URL credentials or a
  secret query parameter is replaced.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

MASK = "REDACTED"

# query parameters whose value is a credential wherever they appear
SECRET_PARAMETERS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "code",
        "password",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "awsaccesskeyid",
        "key",
        "api_key",
        "apikey",
        "secret",
    }
)


# The forms a URL parser that follows WHATWG (browsers, and what a user
# copies from one) reads as "scheme://userinfo@host": slashes one way or the
# other and any number of them (none at all for the special schemes).
_LOOSE = re.compile(
    r"(?i)^\s*((?:(?:https?|wss?|ftp):[/\\]*|[a-z][a-z0-9+.-]*:[/\\]+|[/\\]{2,}))"
    r"([^/\\?#\s]*)@"
)


def url(text: str) -> str:
    """``text`` without user info, query values or fragment, if it is an
    absolute URL (or a URL a browser would read as one); otherwise ``text``
    itself."""
    loose = _LOOSE.match(text)
    if loose is not None:
        cleaned = _absolute("x://" + MASK + "@" + text[loose.end() :])
        return cleaned if cleaned == MASK else loose.group(1) + cleaned[len("x://") :]
    if "://" not in text:
        return text
    return _absolute(text)


def _absolute(text: str) -> str:
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{part.split('=', 1)[0]}={MASK}" if "=" in part else part
        for part in parts.query.split("&")
        if part
    )
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def query(raw: str) -> str:
    """A query string fit to be recorded (see the module's docstring)."""
    kept = []
    for part in raw.split("&"):
        if not part:
            continue
        name, equals, value = part.partition("=")
        key = unquote_plus(name).strip().lower()
        if key == "token":
            continue
        if key in SECRET_PARAMETERS:
            kept.append(f"{name}={MASK}")
        elif equals and ("%3a" in value.lower() or ":" in value):
            plain = unquote_plus(value)
            cleaned = url(plain)
            kept.append(f"{name}={value if cleaned == plain else quote(cleaned, safe=':/@')}")
        else:
            kept.append(part)
    return "&".join(kept)


_TOKEN = re.compile(r"\b(secret|public)_[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+|basic\s+|token\s*=\s*\")[A-Za-z0-9._~+/=-]{8,}")
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?)[^'\"\r\n,}]+")
_USERINFO = re.compile(
    r"(?i)(\b(?:https?|wss?|ftp):[/\\]*|\b[a-z][a-z0-9+.-]*:[/\\]+|(?<![\w/\\])[/\\]{2})"
    r"[^/\\\s@'\"]+@"
)
_PARAMETER = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(p) for p in sorted(SECRET_PARAMETERS)) + r")=)[^&\s'\"#]+"
)
_TRIGGERS = ("secret_", "public_", "@", "=", "earer", "asic", "oken", "uthorization")


def text(line: str) -> str:
    """``line`` with every credential it seems to carry replaced."""
    if not any(trigger in line for trigger in _TRIGGERS):
        return line
    line = _TOKEN.sub(MASK, line)
    line = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, line)
    line = _BEARER.sub(lambda m: m.group(1) + MASK, line)
    line = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", line)
    return _PARAMETER.sub(lambda m: m.group(1) + MASK, line)
