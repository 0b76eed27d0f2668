"""The JSON state files of `vitrina upload` and `vitrina mirror`: read for
one target (a file made for another is ignored), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_state(path: Path, key: str, command: str) -> dict[str, Any]:
    """The entries saved for ``key``, or none."""
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"vitrina {command}: cannot read the state file {path}: {exc}") from None
    entries = saved.get("entries", {}) if saved.get("key") == key else {}
    return dict(entries) if isinstance(entries, dict) else {}


def write_state(path: Path, key: str, entries: dict[str, Any]) -> None:
    """Replace the file at once: a reader (or a crash) sees the old or the new."""
    data = json.dumps({"key": key, "entries": entries}, indent=1, sort_keys=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
