"""Small code changes (mutants) of one module, made on its syntax tree.

Each kind of change is one a careless edit could make: flip a boolean or a comparison, swap `and`/`or`,
drop a `not`, negate a condition, change a constant, drop a dict key or a list item, swap `min`/`max` or
`any`/`all`, swap `+`/`-` or `|`/`&`, delete a statement. Only code that runs is changed: function bodies and
module-level constants; docstrings, annotations, decorators, asserts and the text of error messages
(calls to `invalid`/`Problem`, which tests/test_errors.py pins exactly) are left alone.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from dataclasses import dataclass

MESSAGE_CALLS = frozenset({"invalid", "Problem", "LatticeError"})
SWAPPED_NAMES = {"min": "max", "max": "min", "any": "all", "all": "any"}
COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
}


@dataclass(frozen=True, slots=True)
class Mutant:
    module: str
    index: int
    line: int
    description: str

    @property
    def ident(self) -> str:
        return f"{self.module}:{self.line}#{self.index}"


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


class _Sites:
    """Walks a module in a fixed order and yields each place a mutation can be made, with a function that
    makes it (on this tree, in place)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree

    def __iter__(self) -> Iterator[tuple[int, str, object]]:
        for stmt in self.tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from self._function(stmt)
            elif isinstance(stmt, ast.ClassDef):
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        yield from self._function(item)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None and \
                    not isinstance(stmt.value, ast.Subscript | ast.BinOp):  # a type alias is no behaviour
                yield from self._expr(stmt.value)

    def _function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[tuple[int, str, object]]:
        for default in [*fn.args.defaults, *(d for d in fn.args.kw_defaults if d is not None)]:
            yield from self._expr(default)
        yield from self._body(fn.body)

    def _body(self, body: list[ast.stmt]) -> Iterator[tuple[int, str, object]]:
        for i, stmt in enumerate(body):
            if _is_docstring(stmt) or isinstance(stmt, ast.Assert | ast.Pass) or \
                    (isinstance(stmt, ast.AnnAssign) and stmt.value is None):  # a declaration does nothing
                continue
            if not isinstance(stmt, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
                def delete(body: list[ast.stmt] = body, i: int = i) -> None:
                    body[i] = ast.copy_location(ast.Pass(), body[i])
                yield stmt.lineno, f"delete `{ast.unparse(stmt).splitlines()[0][:60]}`", delete
            yield from self._stmt(stmt)

    def _stmt(self, stmt: ast.stmt) -> Iterator[tuple[int, str, object]]:
        if isinstance(stmt, ast.If | ast.While):
            yield from self._condition(stmt)
            yield from self._expr(stmt.test)
            yield from self._body(stmt.body)
            yield from self._body(stmt.orelse)
        elif isinstance(stmt, ast.For):
            yield from self._expr(stmt.iter)
            yield from self._body(stmt.body)
            yield from self._body(stmt.orelse)
        elif isinstance(stmt, ast.With):
            yield from self._body(stmt.body)
        elif isinstance(stmt, ast.Try):
            yield from self._body(stmt.body)
            for handler in stmt.handlers:
                yield from self._body(handler.body)
        elif isinstance(stmt, ast.FunctionDef):
            yield from self._function(stmt)
        elif isinstance(stmt, ast.AugAssign):
            swap = BINOP_SWAPS.get(type(stmt.op))
            if swap is not None:
                def flip(node: ast.AugAssign = stmt, swap: type[ast.operator] = swap) -> None:
                    node.op = swap()
                yield stmt.lineno, f"`{type(stmt.op).__name__}=` -> `{swap.__name__}=`", flip
            yield from self._expr(stmt.value)
        elif isinstance(stmt, ast.Assign | ast.Return | ast.Expr | ast.Raise):
            if stmt.value is not None if not isinstance(stmt, ast.Raise) else stmt.exc is not None:
                yield from self._expr(stmt.value if not isinstance(stmt, ast.Raise) else stmt.exc)  # type: ignore[arg-type]
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            yield from self._expr(stmt.value)

    def _condition(self, node: ast.If | ast.While | ast.IfExp) -> Iterator[tuple[int, str, object]]:
        if isinstance(node.test, ast.Compare | ast.UnaryOp):
            return  # the comparison or `not` is mutated itself

        def negate(node: ast.If | ast.While | ast.IfExp = node) -> None:
            node.test = ast.UnaryOp(ast.Not(), node.test)
        yield node.lineno, f"negate `{ast.unparse(node.test)[:50]}`", negate

    def _expr(self, root: ast.expr) -> Iterator[tuple[int, str, object]]:
        stack: list[ast.AST] = [root]
        keys: set[int] = set()  # a dict key is dropped, not renamed: renaming it is the same mutant
        while stack:
            node = stack.pop(0)
            if isinstance(node, ast.Dict):
                keys |= {id(k) for k in node.keys if isinstance(k, ast.Constant)}
            if id(node) in keys:
                continue
            if isinstance(node, ast.Call) and _call_name(node) in MESSAGE_CALLS:
                continue
            if isinstance(node, ast.Lambda | ast.JoinedStr):
                children = list(ast.iter_child_nodes(node))
                stack[:0] = [c for c in children if not isinstance(c, ast.Constant)]
                continue
            yield from self._node(node)
            stack[:0] = list(ast.iter_child_nodes(node))

    def _node(self, node: ast.AST) -> Iterator[tuple[int, str, object]]:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swap = COMPARE_SWAPS.get(type(op))
                if swap is not None:
                    def flip(node: ast.Compare = node, i: int = i, swap: type[ast.cmpop] = swap) -> None:
                        node.ops[i] = swap()
                    yield line, f"`{type(op).__name__}` -> `{swap.__name__}` in `{ast.unparse(node)[:50]}`", flip
        elif isinstance(node, ast.BoolOp):
            def other(node: ast.BoolOp = node) -> None:
                node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            yield line, f"swap and/or in `{ast.unparse(node)[:50]}`", other
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            def drop_not(node: ast.UnaryOp = node) -> None:
                node.operand = ast.UnaryOp(ast.Not(), node.operand)  # `not not x`: the truth of x
            yield line, f"drop `not` in `{ast.unparse(node)[:50]}`", drop_not
        elif isinstance(node, ast.IfExp):
            yield from self._condition(node)
        elif isinstance(node, ast.BinOp):
            swap = BINOP_SWAPS.get(type(node.op))
            if swap is not None:
                def flip_op(node: ast.BinOp = node, swap: type[ast.operator] = swap) -> None:
                    node.op = swap()
                yield line, f"`{type(node.op).__name__}` -> `{swap.__name__}` in `{ast.unparse(node)[:50]}`", flip_op
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                def flip_bool(node: ast.Constant = node) -> None:
                    node.value = not node.value
                yield line, f"`{value}` -> `{not value}`", flip_bool
            elif isinstance(value, int):
                def bump(node: ast.Constant = node) -> None:
                    node.value = node.value + 1
                yield line, f"`{value}` -> `{value + 1}`", bump
            elif isinstance(value, str):
                def change(node: ast.Constant = node) -> None:
                    node.value = "XX" + node.value + "XX"
                yield line, f"`{value[:40]!r}` -> `'XX…XX'`", change
        elif isinstance(node, ast.Dict):
            for i, key in enumerate(node.keys):
                shown = ast.unparse(key) if key is not None else "**" + ast.unparse(node.values[i])

                def drop_key(node: ast.Dict = node, i: int = i) -> None:
                    del node.keys[i]
                    del node.values[i]
                yield line, f"drop key {shown[:40]}", drop_key
        elif isinstance(node, ast.List | ast.Tuple | ast.Set) and \
                isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            for i, element in enumerate(node.elts):
                def drop_item(node: ast.List | ast.Tuple | ast.Set = node, i: int = i) -> None:
                    del node.elts[i]
                yield line, f"drop item `{ast.unparse(element)[:40]}`", drop_item
        elif isinstance(node, ast.Name) and node.id in SWAPPED_NAMES and isinstance(node.ctx, ast.Load):
            def rename(node: ast.Name = node) -> None:
                node.id = SWAPPED_NAMES[node.id]
            yield line, f"`{node.id}` -> `{SWAPPED_NAMES[node.id]}`", rename


def enumerate_mutants(module: str, source: str) -> list[Mutant]:
    return [Mutant(module, i, line, text) for i, (line, text, _) in enumerate(_Sites(ast.parse(source)))]


def mutated_source(source: str, index: int) -> str:
    """The module's source with mutation `index` made (the tree is re-parsed, so each mutant is alone)."""
    tree = ast.parse(source)
    for i, (_, _, make) in enumerate(_Sites(tree)):
        if i == index:
            make()  # type: ignore[operator]
            return ast.unparse(ast.fix_missing_locations(copy.deepcopy(tree)))
    raise IndexError(index)
