"""The package's folders are its layers (docs/architecture.md): a module
imports only from its own layer or the ones below it. Read from the source,
so an import added in the wrong direction fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "vitrina"

# what each layer may import of vitrina (besides itself)
ALLOWED = {
    "domain": {"domain", "wire"},
    "wire": {"domain", "wire"},
    "backends": {"domain", "wire", "backends", "metrics", "logs"},
    "usecases": {"domain", "wire", "usecases", "bootstrap", "metrics", "logs", "settings"},
    # the client installs without the server: wire, domain and the download guard
    "client": {"domain", "wire", "client", "backends.fetching"},
}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.removeprefix("vitrina.") for n in names if n.startswith("vitrina.")}
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_what_is_below_it(layer: str) -> None:
    wrong = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            if not any(name == a or name.startswith(a + ".") for a in ALLOWED[layer]):
                # "from vitrina.x import y" names both x and x.y: judge the module
                if any(name.rpartition(".")[0] == a for a in ALLOWED[layer]):
                    continue
                wrong.append(f"{path.relative_to(PACKAGE)} imports vitrina.{name}")
    assert wrong == []
