"""Reading inputs: every YAML document in the files and directories given, with line numbers for errors.

Documents are built by the safe reader (`safe_yaml`) without keeping their nodes: a fleet of 10,000 services
would hold millions of nodes for the rare error. A problem's line is found by composing that one file again
(`Document.line_of`). Many files are read by forked workers, one per core, in a stable order.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lattice.cli.forked import MARSHAL, Shards, Spool
from lattice.cli.safe_yaml import YamlProblem, build_document, compose_documents, path_to
from lattice.errors import join_path

SUFFIXES = (".yaml", ".yml")
PARALLEL_MIN_FILES = 64
"""Below this many files one process is faster than starting workers."""


class UsageError(Exception):
    """The command line itself is wrong (a path that does not exist): exit code 2."""


@dataclass(slots=True)
class SourceText:
    """A file's text, read again only when a problem needs its lines (workers do not send texts back)."""

    path: str
    text: str | None = None
    _nodes: list[Node] | None = field(default=None, repr=False)

    def nodes(self) -> list[Node]:
        if self._nodes is None:
            self._nodes = []
            # The documents before a syntax error keep their lines; a file gone since is reported without.
            with contextlib.suppress(yaml.YAMLError, OSError, UnicodeDecodeError):
                text = self.text if self.text is not None else Path(self.path).read_text(encoding="utf-8")
                self._nodes.extend(compose_documents(text))
        return self._nodes


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    index: int
    data: Any
    line: int | None
    item: int | None = None  # the position inside a v1 List
    text: SourceText | None = field(default=None, repr=False, compare=False)

    @property
    def document_line(self) -> int | None:
        return self.line

    def _node(self) -> Node | None:
        nodes = self.text.nodes() if self.text is not None else []
        if self.index >= len(nodes):
            return None
        node = nodes[self.index]
        if self.item is not None:
            items = _child(node, "items")
            if items is None or not isinstance(items[1], SequenceNode) or self.item >= len(items[1].value):
                return None
            node = items[1].value[self.item]
        return node

    def line_of(self, path: str) -> int | None:
        """The 1-based line where the field at `path` (e.g. `spec.replicas`) was written, or the nearest parent."""
        node = self._node()
        if node is None:
            return self.line
        line = node.start_mark.line + 1
        segments = _split(path)
        i = 0
        while i < len(segments):
            # A key may itself contain dots (`/etc/app.conf`): try the longest run of segments first.
            for j in range(len(segments), i, -1):
                key = segments[i] if j == i + 1 else ".".join(str(s) for s in segments[i:j])
                found = _child(node, key)
                if found is not None:
                    break
            else:
                return line
            anchor, node = found
            line = anchor.start_mark.line + 1
            i = j
        return line


@dataclass(frozen=True, slots=True)
class LoadError:
    source: str
    line: int | None
    message: str
    hint: str = "fix the YAML syntax at that line"
    path: str = ""


def _split(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out.append(int(part[1:-1]))
        else:
            out.append(part)
    return out


def _child(node: Node, seg: str | int) -> tuple[Node, Node] | None:
    """(the node whose line to report, the node to descend into): a mapping entry is reported at its key."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(seg):
                return key, value
        return None
    if isinstance(node, SequenceNode) and isinstance(seg, int) and seg < len(node.value):
        item: Node = node.value[seg]
        return item, item
    return None


def _is_list(data: Any) -> bool:
    return (isinstance(data, dict) and data.get("apiVersion") == "v1" and data.get("kind") == "List"
            and isinstance(data.get("items"), list))


def collect_files(paths: Iterable[str]) -> list[Path]:
    """The YAML files named, and those found recursively under directories, in a stable order.

    A file reached twice (named twice, or named and also inside a directory given) is read once, at its
    first place: reading it twice would define every object in it twice."""
    files: list[Path] = []
    seen: set[str] = set()

    def add(path: Path, real: str) -> None:
        if real not in seen:
            seen.add(real)
            files.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise UsageError(f"no *.yaml or *.yml files under {raw}")
            # Resolve the directory once: resolving 10,000 files one by one took a second.
            root, cut = str(path.resolve()), len(str(path))
            for file in found:
                add(file, root + str(file)[cut:])
        elif path.is_file():
            add(path, str(path.resolve()))
        elif raw == "-":  # standard input
            add(path, raw)
        else:
            raise UsageError(f"no such file or directory: {raw}")
    return files


def read_documents(files: Sequence[Path]) -> Iterator[Document | LoadError]:
    """Every document of every file, in order; many files are read by one forked worker per core."""
    workers = min(len(os.sched_getaffinity(0)), 8) if hasattr(os, "sched_getaffinity") else 1
    if workers < 2 or len(files) < PARALLEL_MIN_FILES or any(str(f) == "-" for f in files) \
            or "fork" not in multiprocessing.get_all_start_methods():
        for file in files:
            yield from read_file(file)
        return

    def work(start: int, stop: int, spool: Spool) -> list[Any]:
        return [_plain(str(file), read_file(file)) for file in files[start:stop]]

    # Contiguous shards, returned in order as each is read: the caller validates the first documents while the
    # workers still read the last ones. They come back as plain data (`marshal`, several times cheaper than
    # pickling the documents); the parent reads a file again only if it needs its lines.
    for shard in Shards(work, len(files), workers=workers, codec=MARSHAL):
        for source, entries in shard:
            holder = SourceText(source)
            for entry in entries:
                if len(entry) == 4:
                    yield Document(source, entry[0], entry[1], entry[2], entry[3], holder)
                else:
                    yield LoadError(source, *entry[1:])


def _plain(source: str, entries: Iterable[Document | LoadError]) -> tuple[str, list[tuple[Any, ...]]]:
    """A file's entries as `marshal` writes them: (index, data, line, item) per document, (None, line, message,
    hint, path) per error."""
    return source, [(e.index, e.data, e.line, e.item) if isinstance(e, Document)
                    else (None, e.line, e.message, e.hint, e.path) for e in entries]


def read_file(file: Path) -> Iterator[Document | LoadError]:
    source = str(file)
    try:
        text = sys.stdin.read() if source == "-" else file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        yield LoadError(source, None, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                        "save it as UTF-8")
        return
    except OSError as exc:
        yield LoadError(source, None, f"cannot read the file: {exc.strerror or exc}", "check its permissions")
        return
    holder = SourceText(source, text)
    index = 0
    try:
        for node in compose_documents(text):
            try:
                data = build_document(node)
            except YamlProblem as problem:
                yield _refused(source, node, problem)
            else:
                if _is_list(data):
                    # `kubectl get ls -o yaml` prints a v1 List: its items are the documents.
                    items = _child(node, "items")
                    item_nodes = items[1].value if items and isinstance(items[1], SequenceNode) else []
                    for k, (item, item_node) in enumerate(zip(data["items"], item_nodes, strict=False)):
                        yield Document(source, index, item, item_node.start_mark.line + 1, k, holder)
                elif data is not None:
                    yield Document(source, index, data, node.start_mark.line + 1, None, holder)
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            what += f" ({context} that starts at line {context_mark.line + 1})"
        yield LoadError(source, line, f"invalid YAML: {what}")


def _refused(source: str, root: Node, problem: YamlProblem) -> LoadError:
    """A refused node as an error at its line and data path (a key's path ends in the key as written)."""
    if problem.key_of is not None:
        key = problem.node.value if isinstance(problem.node, ScalarNode) else "?"
        path = [*(path_to(root, problem.key_of) or []), key]
    else:
        path = path_to(root, problem.node) or []
    if len(path) > 12:  # a path 100 levels deep says nothing more than its start
        path = [*path[:12], "…"]
    return LoadError(source, problem.node.start_mark.line + 1, problem.message, problem.hint, join_path(*path))
