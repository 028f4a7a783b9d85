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

# Cedar's normalized form, one declaration part a line: `entity Name = {` (or `entity Name;`), `attr: Type,`,
# `} tags Type;`, and `action "Name" appliesTo {`, `principal: [T],`, `resource: [T],`.
_ENTITY = re.compile(r'entity (\w+)( = \{|;)')
_ATTRIBUTE = re.compile(r'"?(\w+)"?\??: ([^,]+),?')
_CLOSE = re.compile(r'\}(?: tags (\w+))?;')
_ACTION = re.compile(r'action "(\w+)" appliesTo \{')
_APPLIES = re.compile(r'(principal|resource): \[(\w+)\],?')


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
    entities: dict[str, EntityType] = {}
    actions: dict[str, tuple[str, str]] = {}
    entity: str | None = None
    attributes: dict[str, str] = {}
    action: str | None = None
    applies: dict[str, str] = {}
    for raw in str(schema()).splitlines():
        line = raw.strip()
        if match := _ENTITY.fullmatch(line):
            if match[2] == ";":
                entities[match[1]] = EntityType(match[1], {})
            else:
                entity, attributes = match[1], {}
        elif entity is not None and (match := _ATTRIBUTE.fullmatch(line)):
            attributes[match[1]] = match[2]
        elif entity is not None and (match := _CLOSE.fullmatch(line)):
            entities[entity] = EntityType(entity, attributes, match[1])
            entity = None
        elif match := _ACTION.fullmatch(line):
            action, applies = match[1], {}
        elif action is not None and (match := _APPLIES.fullmatch(line)):
            applies[match[1]] = match[2]
            if len(applies) == 2:
                actions[action] = (applies["principal"], applies["resource"])
                action = None
    return Declarations(entities, actions)
