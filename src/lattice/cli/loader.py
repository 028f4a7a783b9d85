"""Reading inputs: every YAML document in the files and directories given, with line numbers for errors.

Documents are composed into nodes first so that a problem at `spec.workload.containers.api.image` can be
reported at the line where the user wrote it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

SUFFIXES = (".yaml", ".yml")


class UsageError(Exception):
    """The command line itself is wrong (a path that does not exist): exit code 2."""


@dataclass(frozen=True, slots=True)
class Document:
    source: str
    index: int
    data: Any
    node: yaml.Node | None

    @property
    def document_line(self) -> int | None:
        return self.node.start_mark.line + 1 if self.node is not None else None

    def line_of(self, path: str) -> int | None:
        """The 1-based line where the field at `path` (e.g. `spec.replicas`) was written, or the nearest parent."""
        node = self.node
        if node is None:
            return None
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


def _child(node: yaml.Node, seg: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node whose line to report, the node to descend into): a mapping entry is reported at its key."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(seg):
                return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(seg, int) and seg < len(node.value):
        item: yaml.Node = node.value[seg]
        return item, item
    return None


def _is_list(data: Any) -> bool:
    return (isinstance(data, dict) and data.get("apiVersion") == "v1" and data.get("kind") == "List"
            and isinstance(data.get("items"), list))


def collect_files(paths: Iterable[str]) -> list[Path]:
    """The YAML files named, and those found recursively under directories, in a stable order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        elif raw == "-":
            files.append(path)  # standard input
        else:
            raise UsageError(f"no such file or directory: {raw}")
        if path.is_dir() and not any(f.is_relative_to(path) for f in files):
            raise UsageError(f"no *.yaml or *.yml files under {raw}")
    return files


def read_documents(files: Iterable[Path]) -> Iterator[Document | LoadError]:
    for file in files:
        yield from _read_file(file)


def _read_file(file: Path) -> Iterator[Document | LoadError]:
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
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if _is_list(data):
                # `kubectl get ls -o yaml` prints a v1 List: its items are the documents.
                items = _child(node, "items")
                item_nodes = items[1].value if items and isinstance(items[1], yaml.SequenceNode) else []
                for item, item_node in zip(data["items"], item_nodes, strict=False):
                    yield Document(source, index, item, item_node)
            elif data is not None:
                yield Document(source, index, data, node)
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            problem += f" ({context} that starts at line {context_mark.line + 1})"
        yield LoadError(source, line, f"invalid YAML: {problem}")
    finally:
        loader.dispose()
