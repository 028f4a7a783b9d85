"""Which documents are meant for Lattice although they do not say `lattice.dev`.

Documents of other API groups are skipped with a warning, so a misspelt group (`lattice.io/v1alpha1`) would
silently drop a whole service from the fleet. A Lattice kind under another group, or a group one typo away
from ours, is an error instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from lattice.api import GROUP_VERSION, KINDS
from lattice.api.base import API_GROUP
from lattice.errors import Problem


def misspelt_group(doc: Mapping[str, Any]) -> Problem | None:
    """The problem with a document that names a Lattice kind (or a group close to ours) under another group."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str):
        return None
    group = api_version.split("/")[0] if "/" in api_version else ""
    ours_kind = isinstance(kind, str) and kind in KINDS
    close_group = bool(group) and difflib.SequenceMatcher(None, group, API_GROUP).ratio() >= 0.8
    if not ours_kind and not close_group:
        return None
    return Problem("apiVersion", f"`{api_version}` is not the API group of Lattice kinds (`{API_GROUP}`), so "
                   "this document would be skipped", f"write `{GROUP_VERSION}`")
