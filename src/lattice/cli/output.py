"""Writing what was compiled into `--out-dir` (the YAML stream to stdout is rendered by `cli/workers.py`).

`--out-dir` is checked before anything is compiled (a file in its place, or a directory that cannot be
created, is a usage error), and its files are written into a fresh directory beside it first and then moved
in one by one with `os.replace`, so no file is ever half-written and a failure leaves nothing new behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def out_dir_problem(out_dir: Path) -> str | None:
    """Why `--out-dir` cannot be used (checked before compiling), or None."""
    if out_dir.exists() and not out_dir.is_dir():
        return "it exists and is not a directory"
    existing = out_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory, so it cannot be created"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable" if existing == out_dir else \
            f"it cannot be created: {existing} is not writable"
    return None


def write_out_dir(files: dict[Path, str], out_dir: Path) -> None:
    """Write `files` (paths relative to `out_dir`) so that each appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lattice-", dir=out_dir))
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for relative in files:
            (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, out_dir / relative)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
