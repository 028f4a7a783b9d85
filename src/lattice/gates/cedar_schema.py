"""The Cedar schema Lattice ships (`lattice.cedarschema`, package data), parsed once, and what it declares.

The declarations (entity types, their attributes, which resource each action takes) are read back from the
schema Cedar itself normalized (`str(cedarpy.Schema)`), so hints and entities never drift from the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import cedarpy

NAMESPACE = "Lattice"
SCHEMA_FILE = "lattice.cedarschema"

# Cedar's normalized form: `entity Name = { attr: Type, ... } tags Type;` or `entity Name;`, and
# `action "Name" appliesTo { principal: [T], resource: [T], context: {} };`.
_ENTITY = re.compile(r"^  entity (\w+)(?: = \{(.*?)\n  \})?(?: tags (\w+))?;", re.S | re.M)
_ATTRIBUTE = re.compile(r"^\s*\"?(\w+)\"?\??: (.+?),?$", re.M)
_ACTION = re.compile(r'^  action "(\w+)" appliesTo \{\s*principal: \[(\w+)\],\s*resource: \[(\w+)\]', re.M)


@dataclass(frozen=True, slots=True)
class EntityType:
    name: str
    attributes: dict[str, str]
    """Attribute name -> its Cedar type (`String`, `Long`, `Set<String>`)."""
    tags: str | None = None

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE}::{self.name}"


@dataclass(frozen=True, slots=True)
class Declarations:
    entities: dict[str, EntityType]
    actions: dict[str, tuple[str, str]]
    """Action name -> (principal entity type, resource entity type)."""


def text() -> str:
    """The schema as shipped (with its comments)."""
    return resources.files("lattice.gates").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def schema() -> cedarpy.Schema:
    return cedarpy.Schema.from_str(text())


@cache
def declarations() -> Declarations:
    normalized = str(schema())
    entities = {}
    for match in _ENTITY.finditer(normalized):
        attributes = dict(_ATTRIBUTE.findall(match[2] or ""))
        entities[match[1]] = EntityType(match[1], attributes, match[3])
    actions = {m[1]: (m[2], m[3]) for m in _ACTION.finditer(normalized)}
    return Declarations(entities, actions)
