"""The Lattice input language (`lattice.dev/v1alpha1`): one pydantic model per kind.

Purely data: no I/O. The CRD schemas served to Kubernetes are generated from these models (see `crd`).
"""

from lattice.api.base import GROUP_VERSION, Resource
from lattice.api.parse import KINDS, is_lattice_document, parse_resource

__all__ = ["GROUP_VERSION", "KINDS", "Resource", "is_lattice_document", "parse_resource"]
