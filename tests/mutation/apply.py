"""Putting a mutant into a running interpreter: the new code replaces the old inside the existing function
objects (`__code__`), so every reference to them, `from x import f` included, runs the mutant.

Module-level values (constants, compiled patterns) are rebound in the module; a name another module copied
with `from x import NAME` keeps the old value (none of the mutated modules' constants are copied that way).
"""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any


def _patch_function(old: types.FunctionType, new: types.FunctionType) -> None:
    old.__code__ = new.__code__  # raises ValueError when the closures differ: the mutant is not applied
    old.__defaults__ = new.__defaults__
    old.__kwdefaults__ = new.__kwdefaults__


def _patch_attribute(old: Any, new: Any) -> None:
    if inspect.isfunction(old) and inspect.isfunction(new):
        _patch_function(old, new)
    elif isinstance(old, staticmethod | classmethod) and isinstance(new, type(old)):
        _patch_function(old.__func__, new.__func__)
    elif isinstance(old, property) and isinstance(new, property):
        for accessor in ("fget", "fset", "fdel"):
            if getattr(old, accessor) is not None:
                _patch_function(getattr(old, accessor), getattr(new, accessor))
    elif isinstance(old, functools._lru_cache_wrapper) and isinstance(new, functools._lru_cache_wrapper):
        _patch_function(old.__wrapped__, new.__wrapped__)  # type: ignore[attr-defined]
        old.cache_clear()


def apply_source(module: types.ModuleType, source: str) -> None:
    """Run `source` as the new text of `module`, in place."""
    scratch: dict[str, Any] = {"__name__": module.__name__, "__file__": module.__file__,
                               "__builtins__": __builtins__}
    exec(compile(source, str(module.__file__), "exec"), scratch)
    for name, new in scratch.items():
        if name.startswith("__"):
            continue
        old = module.__dict__.get(name)
        if old is new:
            continue  # an imported name
        if isinstance(old, type) and isinstance(new, type) and new.__module__ == module.__name__:
            for attr, value in vars(new).items():
                if attr in vars(old):
                    _patch_attribute(vars(old)[attr], value)
        elif inspect.isfunction(old) or isinstance(old, functools._lru_cache_wrapper):
            _patch_attribute(old, new)
        else:
            module.__dict__[name] = new


def clear_caches(modules: list[types.ModuleType]) -> None:
    """Results cached by the unmutated code would hide the mutant."""
    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()
