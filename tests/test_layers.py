"""The functional core stays pure: the input language, the compiler and the fleet logic import nothing
that does I/O (no CLI, no controller, no HTTP or Kubernetes client, no filesystem helpers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "lattice"
PURE = [*sorted((SRC / "api").glob("*.py")), *sorted((SRC / "compiler").glob("*.py")),
        *sorted((SRC / "gates").glob("*.py")), SRC / "controller" / "status.py", SRC / "controller" / "plan.py",
        SRC / "fleet.py", SRC / "errors.py", SRC / "render.py", SRC / "uniqueness.py", SRC / "reserved.py"]
FORBIDDEN_MODULES = ("lattice.cli", "lattice.controller", "lattice.registry", "httpx", "kopf", "kubernetes",
                     "lightkube", "kr8s", "requests", "subprocess", "socket", "pathlib", "os", "shutil", "typer",
                     "rich")
FORBIDDEN_CALLS = {"open", "print", "input"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_does_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    bad = [m for m in _imports(tree) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_MODULES)]
    assert bad == []
    calls = [n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in FORBIDDEN_CALLS]
    assert calls == []
