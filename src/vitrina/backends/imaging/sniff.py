"""What a file is, decided from its first bytes, never from a header a client sent."""

from __future__ import annotations

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """The accepted format ``head`` starts with, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
    return None


_LOOKS_LIKE = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BM", "a BMP image, which is not accepted"),
    (b"II*\x00", "a TIFF image, which is not accepted"),
    (b"MM\x00*", "a TIFF image, which is not accepted"),
    (b"\x00\x00\x01\x00", "an ICO icon, which is not accepted"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "an executable program"),
)


def describe(head: bytes) -> str:
    """A few words on what unaccepted bytes look like, for the error message."""
    for magic, words in _LOOKS_LIKE:
        if head.startswith(magic):
            return words
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "HTML"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "an SVG drawing, which is not accepted"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "XML or HTML"
    if text.startswith((b"{", b"[")):
        return "JSON"
    try:
        text_head = head.decode("utf-8")
    except UnicodeDecodeError:
        text_head = ""
    if not text_head or any(c < " " and c not in "\t\r\n" for c in text_head):
        return "binary data of an unknown kind"
    return "plain text"
