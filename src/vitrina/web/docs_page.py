"""A readable API page, rendered from the OpenAPI document (no scripts, no CDN).

The document's texts (summaries, descriptions) are CommonMark, as OpenAPI
says; the page renders the inline part people write in them: code spans,
links, bold and emphasis, and blank lines between paragraphs. Everything
else is shown as the text it is, escaped."""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import urlsplit

ECWID_REFERENCE = "https://api-docs.ecwid.com/reference/overview"

# One inline mark each: a code span (any run of backticks, closed by the
# same run), a link, **bold**, *emphasis*.
_INLINE = re.compile(
    r"(?P<ticks>`+)(?P<code>.+?)(?P=ticks)"
    r"|\[(?P<label>[^\]]+)\]\((?P<href>[^()\s]+)\)"
    r"|\*\*(?P<strong>\S(?:.*?\S)?)\*\*"
    r"|\*(?P<em>\S(?:.*?\S)?)\*",
    re.DOTALL,
)


def _safe_href(href: str) -> bool:
    """Links that go somewhere on the web or on this site; never
    ``javascript:`` or ``data:``."""
    scheme = urlsplit(href).scheme.lower()
    return scheme in ("http", "https") or (not scheme and not href.startswith("//"))


def inline(text: str) -> str:
    """The HTML of one paragraph of CommonMark's inline marks; all else escaped."""
    out: list[str] = []
    at = 0
    for mark in _INLINE.finditer(text):
        out.append(escape(text[at : mark.start()]))
        at = mark.end()
        if mark["code"] is not None:
            code = mark["code"]
            if code.startswith(" ") and code.endswith(" ") and code.strip():
                code = code[1:-1]  # CommonMark strips one space each side
            out.append(f"<code>{escape(code)}</code>")
        elif mark["href"] is not None:
            if _safe_href(mark["href"]):
                out.append(f'<a href="{escape(mark["href"])}">{inline(mark["label"])}</a>')
            else:
                out.append(escape(mark.group(0)))
        elif mark["strong"] is not None:
            out.append(f"<strong>{inline(mark['strong'])}</strong>")
        else:
            out.append(f"<em>{inline(mark['em'])}</em>")
    out.append(escape(text[at:]))
    return "".join(out)


def markdown(text: str) -> str:
    """Paragraphs (split at blank lines), each rendered by ``inline``."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{inline(p)}</p>" for p in paragraphs)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?:" else text + "."


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = str(schema.get("type", "object"))
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    return kind


_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,.m{font-family:ui-monospace,monospace}code{background:#f3f3f3;padding:0 .2em;"
    "border-radius:3px}.m{font-weight:bold;display:inline-block;width:5em}"
    "section{border-top:1px solid #ddd;padding:.5rem 0}table{border-collapse:collapse}"
    "td,th{padding:.15rem .6rem;text-align:left;vertical-align:top}"
    "th{border-bottom:1px solid #ccc;font-weight:600}p{margin:.4rem 0}"
)


def render_docs(document: dict[str, Any]) -> str:
    info = document["info"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(info['title'])}</title>",
        "<link rel=icon href='/console/favicon.svg' type='image/svg+xml'>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{inline(info['title'])}</h1>",
        markdown(info.get("description", "")),
        f"<p>Base URL: <code>{escape(document['servers'][0]['url'])}</code>. "
        "Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> or "
        "<code>?token=&lt;token&gt;</code>. The machine-readable document is at "
        "<a href='/api/v3/openapi.json'>/api/v3/openapi.json</a>; Ecwid's own reference "
        f"is at <a href='{ECWID_REFERENCE}'>api-docs.ecwid.com</a>.</p>",
    ]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            parts.append("<section>")
            parts.append(
                f"<h3><span class=m>{method.upper()}</span><code>{escape(path)}</code></h3>"
            )
            parts.append(markdown(_sentence(op["summary"]) + " " + op.get("description", "")))
            params = op.get("parameters", [])
            if params:
                parts.append(
                    "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>"
                )
                for p in params:
                    parts.append(
                        f"<tr><td><code>{escape(p['name'])}</code></td>"
                        f"<td>{escape(p['in'])}</td>"
                        f"<td>{escape(_schema_text(p['schema']))}</td>"
                        f"<td>{inline(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            codes = ", ".join(
                f"{escape(code)} ({inline(r['description'])})"
                for code, r in op["responses"].items()
            )
            parts.append(f"<p>Answers: {codes}</p></section>")
    parts.append("</body></html>")
    return "".join(parts)
