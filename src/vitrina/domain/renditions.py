"""Renditions of a stored file: another format (AVIF, WebP) or a width for
``srcset``, in one place (docs/images.md).

A rendition is named by the file it is made for, the format it is for and
the width: its key is the file's key with ``.w<W>`` (a width) and the
format's extension after it::

    5/1001.jpg            the stored file
    5/1001.jpg.avif       for browsers that accept AVIF
    5/1001.jpg.w320.jpg   fitted to 320 px wide, in the stored file's format
                          (the variants' format for a GIF, AVIF or HEIC original)
    5/1001.jpg.w320.webp  the same width, for browsers that accept WebP

Nothing records a rendition: its key is derived, so deleting a file deletes
the keys of all its renditions (``rendition_keys``) and the sweep keeps a
rendition exactly as long as its file is referenced (``file_key_of``). A
rendition's ETag is the file's with the same suffix: it changes when the
file does, and differs per format and width.

A rendition "for AVIF" holds AVIF bytes only when they are no larger than
the stored format's at the same size and at least as close to the source
pixels (SSIM); otherwise it holds the stored format's bytes, and its
content type says so (``sniffed_type``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vitrina.domain.naming import CONTENT_TYPES, EXTENSIONS

# formats a rendition may be made in, by their name in settings
FORMATS = ("avif", "webp")
DEFAULT_WIDTHS = (160, 320, 480, 640, 800, 1200, 1600)
_STORED_EXTENSIONS = ("jpg", "png", "webp", "gif", "avif", "heic")


def suffix(fmt_ext: str, width: int | None) -> str:
    """What a rendition adds to its file's key and ETag."""
    return (f".w{width}" if width else "") + f".{fmt_ext}"


def rendition_key(file_key: str, fmt_ext: str, width: int | None) -> str:
    return file_key + suffix(fmt_ext, width)


def rendition_etag(etag: str, fmt_ext: str, width: int | None) -> str:
    return etag + suffix(fmt_ext, width)


def rendition_keys(file_key: str, widths: Iterable[int]) -> list[str]:
    """Every key a rendition of ``file_key`` can have with these widths:
    what a deletion removes."""
    stored_ext = file_key.rpartition(".")[2]
    exts = [EXTENSIONS[f] for f in FORMATS]
    keys = [rendition_key(file_key, ext, None) for ext in exts]
    for width in widths:
        for ext in dict.fromkeys([stored_ext, *exts]):
            keys.append(rendition_key(file_key, ext, width))
    return keys


def file_key_of(key: str) -> str:
    """The key of the stored file a rendition's key was made for (a stored
    file's key is its own): ``5/1001.jpg.w320.avif`` -> ``5/1001.jpg``."""
    folder, slash, name = key.rpartition("/")
    parts = name.split(".")
    if len(parts) > 2 and parts[1] in _STORED_EXTENSIONS:
        return folder + slash + ".".join(parts[:2])
    return key


def fit_width(width: int, height: int, wanted: int) -> tuple[int, int]:
    """The largest size ``wanted`` wide or less, never above ``width``, with
    the same aspect ratio."""
    if wanted >= width:
        return width, height
    return wanted, max(1, round(height * wanted / width))


def choose(accept: str, formats: Sequence[str]) -> str | None:
    """The format of ``formats`` (in the server's order of preference) that
    an ``Accept`` header asks for by name with the highest quality; None when
    it names none of them (``*/*`` and ``image/*`` name none: they get the
    stored format). ``q=0`` refuses a type."""
    best: tuple[float, int] | None = None
    chosen = None
    weights = _accepted(accept)
    for rank, fmt in enumerate(formats):
        q = weights.get(CONTENT_TYPES[fmt], 0.0)
        if q > 0 and (best is None or (q, -rank) > best):
            best, chosen = (q, -rank), fmt
    return chosen


def _accepted(accept: str) -> dict[str, float]:
    """Media type -> q of an Accept header; what cannot be read is skipped
    (a malformed q counts as not acceptable)."""
    weights: dict[str, float] = {}
    for item in accept[:4096].split(","):
        kind, *params = item.split(";")
        kind = kind.strip().lower()
        if not kind:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # nan, inf and the out of range too
                    q = 0.0
        weights[kind] = min(q, weights[kind]) if kind in weights else q  # a refusal wins
    return weights


_MAGIC = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftypavif", "image/avif"),
    (0, b"GIF8", "image/gif"),
)


def sniffed_type(head: bytes) -> str:
    """A rendition's content type, from its first bytes."""
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return "application/octet-stream"
