"""Lattice: a platform compiler from one short LatticeService to a production set of Kubernetes objects."""

__version__ = "0.1.0"
