"""The pure derivation pipeline: a resolved context and a LatticeService in, plain Kubernetes dicts out.

Purely data-manipulative: no files, no network, no clock, no randomness. The CLI and the controller own I/O.
"""

from lattice.compiler.context import CompileContext
from lattice.compiler.pipeline import CompileResult, compile_service

__all__ = ["CompileContext", "CompileResult", "compile_service"]
