"""A readable API page, rendered from the OpenAPI document (no scripts, no CDN)."""

from __future__ import annotations

from html import escape
from typing import Any


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = str(schema.get("type", "object"))
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    return kind


def render_docs(document: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(document['info']['title'])}</title>",
        "<link rel=icon href='/console/favicon.svg' type='image/svg+xml'>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem}"
        "code,.m{font-family:ui-monospace,monospace}.m{font-weight:bold;display:inline-block;width:5em}"
        "section{border-top:1px solid #ddd;padding:.5rem 0}table{border-collapse:collapse}"
        "td,th{padding:.15rem .6rem;text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>{escape(document['info']['title'])}</h1>",
        f"<p>{escape(document['info']['description'])} Base URL: "
        f"<code>{escape(document['servers'][0]['url'])}</code>. "
        "Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> or "
        "<code>?token=&lt;token&gt;</code>. The machine-readable document is at "
        "<a href='/api/v3/openapi.json'>/api/v3/openapi.json</a>.</p>",
    ]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            parts.append("<section>")
            parts.append(
                f"<h3><span class=m>{method.upper()}</span><code>{escape(path)}</code></h3>"
            )
            parts.append(f"<p>{escape(op['summary'])}. {escape(op.get('description', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
                        f"<td>{escape(_schema_text(p['schema']))}</td>"
                        f"<td>{escape(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            codes = ", ".join(
                f"{code} ({escape(r['description'])})" for code, r in op["responses"].items()
            )
            parts.append(f"<p>Answers: {codes}</p></section>")
    parts.append("</body></html>")
    return "".join(parts)
