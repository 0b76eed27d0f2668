"""Text from a server, made safe to show: no control characters, so that a
category name or an error message cannot move the cursor, clear the screen,
write the clipboard (OSC 52), plant a link (OSC 8) or reorder a line."""

from __future__ import annotations

# C0 (tab, line feed and carriage return become spaces), DEL, C1, and the
# bidirectional embeddings, overrides, isolates and marks.
_REMOVED = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F]
_REMOVED += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE: dict[int, str | None] = dict.fromkeys(_REMOVED)
_TABLE.update({ord("\t"): " ", ord("\n"): " ", ord("\r"): " "})


def printable(text: str) -> str:
    """``text`` without control characters, on one line."""
    return text.translate(_TABLE)


def excerpt(body: bytes, size: int = 200) -> str:
    """The start of an answer's body, as printable text."""
    text = printable(body[: size * 4].decode("utf-8", "replace"))
    return text[:size] + "…" if len(text) > size or len(body) > size * 4 else text
