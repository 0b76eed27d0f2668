"""The API page at /docs: the document's Markdown rendered, its tables headed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from vitrina.web.docs_page import ECWID_REFERENCE, inline, markdown


class _Text(HTMLParser):
    """What a reader sees: the page's text, and the header cells of each table."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.headers: list[list[str]] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in.append(tag)
        if tag == "table":
            self.headers.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if "style" in self._in or "title" in self._in:
            return
        self.text.append(data)
        if self._in and self._in[-1] == "th":
            self.headers[-1].append(data.strip())


@pytest.mark.embedded_only
def test_the_page_renders_its_markdown(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200
    page = answer.text
    seen = _Text()
    seen.feed(page)
    text = "".join(seen.text)
    assert "`" not in text  # no code span shown as backticks
    assert "<code>read_catalog</code>" in page
    assert "<code>total,items(id,name)</code>" in page
    headed = ["parameter", "in", "type", "description"]
    assert seen.headers and all(h == headed for h in seen.headers)
    assert f"href='{ECWID_REFERENCE}'" in page
    assert re.search(r"Search categories\. Needs the <code>read_catalog</code> scope\.", page)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Needs the `read_catalog` scope.", "Needs the <code>read_catalog</code> scope."),
        ("``a `tick` inside``", "<code>a `tick` inside</code>"),
        ("`<script>` & co", "<code>&lt;script&gt;</code> &amp; co"),
        (
            "See [the reference](https://x.example/a?b=1&c=2).",
            'See <a href="https://x.example/a?b=1&amp;c=2">the reference</a>.',
        ),
        ("[the `id`](/docs#id)", '<a href="/docs#id">the <code>id</code></a>'),
        ("[run](javascript:alert(1))", "[run](javascript:alert(1))"),
        ("[run](//evil.example/x)", "[run](//evil.example/x)"),
        ("**not** *quite*", "<strong>not</strong> <em>quite</em>"),
        ("read_catalog and a * b * c", "read_catalog and a * b * c"),
        ("`unclosed", "`unclosed"),
        ("<b>raw html</b>", "&lt;b&gt;raw html&lt;/b&gt;"),
    ],
)
def test_inline_marks(text: str, html: str) -> None:
    assert inline(text) == html


def test_paragraphs() -> None:
    assert markdown("One `a`.\n\n  Two.\n") == "<p>One <code>a</code>.</p><p>Two.</p>"
    assert markdown("") == ""
