"""What every Lattice kind shares: the pydantic base, object metadata and reusable field checks.

Models are strict about unknown fields (a typo must not silently become a no-op) and speak the
camelCase of Kubernetes on the wire while Python code uses snake_case.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from lattice.api.quantity import parse_quantity
from lattice.errors import invalid

API_GROUP = "lattice.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_KEY_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


INT32_MAX = 2**31 - 1
"""The largest value of a Kubernetes int32 field (replicas, probe timings, user ids, KEDA replica counts)."""


class Model(BaseModel):
    """Base of every input model: unknown fields are errors, camelCase on the wire, and no type is coerced into
    another (`runAsUser: no` is YAML's false, never user 0; `replicas: "3"` is text, which Kubernetes refuses)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        str_strip_whitespace=False,
        use_attribute_docstrings=True,  # field docstrings become CRD descriptions (`kubectl explain`)
    )


def _suggest_label(value: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    return cleaned[:63].rstrip("-") or "my-name"


def check_dns_label(value: str, what: str = "name", max_len: int = 63) -> str:
    """Kubernetes DNS-1123 label: lower-case alphanumerics and '-', at most `max_len` characters."""
    if len(value) > max_len:
        raise invalid(
            f"{what} `{value}` is {len(value)} characters long; at most {max_len} are allowed",
            f"shorten it, e.g. `{_suggest_label(value)[:max_len].rstrip('-')}`",
        )
    if not DNS_LABEL.fullmatch(value):
        raise invalid(
            f"{what} `{value}` is not a DNS label (lower-case letters, digits and '-', starting and "
            "ending with a letter or digit)",
            f"write `{_suggest_label(value)}`",
        )
    return value


def _dns_label(value: str) -> str:
    return check_dns_label(value)


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        raise invalid(
            f"`{value}` is not a DNS subdomain (lower-case letters, digits, '-' and '.')",
            f"write `{_suggest_label(value)}`",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]


def _label_key(key: str, what: str = "label key") -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        raise invalid(f"{what} `{key}` has an invalid prefix `{prefix}`", "use a DNS subdomain prefix")
    if len(name) > 63 or not LABEL_KEY_NAME.fullmatch(name):
        raise invalid(
            f"{what} `{key}` is invalid",
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric",
        )


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        _label_key(key)
        if "${" in val:
            raise invalid(
                f"label `{key}` holds the placeholder `{val}`; labels are never resolved: they are copied as plain "
                "text to every derived object and readable by anyone who may list them",
                "remove it; read a secret in the container instead, from `variables` or `files`",
                (key,),
            )
        if len(val) > 63 or not LABEL_VALUE.fullmatch(val):
            raise invalid(
                f"label `{key}` has the invalid value `{val}`",
                "use at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric",
            )
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]


def _qualified_name(value: str) -> str:
    _label_key(value, "qualified name")
    return value


LabelKey = Annotated[str, AfterValidator(_qualified_name)]
"""A label key, or what Kubernetes calls a qualified name (`appProtocol`, a topology key)."""


def _quantity(text: str) -> str:
    if parse_quantity(text) is None:
        if text.endswith("B") and parse_quantity(text[:-1].replace("K", "k")) is not None:
            unit = text[:-1].replace("K", "k")
            binary = unit[:-1] + unit[-1].upper() + "i" if unit[-1:].isalpha() else unit
            raise invalid(f"`{text}` is not a Kubernetes quantity (quantities take no `B`)",
                          f"write `{binary}` (binary units) or `{unit}` (decimal units)")
        raise invalid(
            f"`{text}` is not a Kubernetes quantity",
            "write a number with an optional unit, e.g. `500m` or `2` for CPU, `512Mi` or `1Gi` for memory",
        )
    return text


def _number_to_text(value: object) -> object:
    """YAML reads `cpu: 2` as a number; a quantity is text, so accept numbers (never booleans) as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Quantity = Annotated[str, BeforeValidator(_number_to_text, json_schema_input_type=int | str), AfterValidator(_quantity)]


class ObjectMeta(Model):
    """The part of Kubernetes metadata that inputs may carry; server-set fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    name: DnsSubdomain
    namespace: DnsLabel | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resource(Model):
    """A whole Lattice object as read from YAML: apiVersion, kind, metadata and a typed spec."""

    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    NAMESPACED: ClassVar[bool] = True
    CATEGORY_DESCRIPTION: ClassVar[str] = ""

    model_config = ConfigDict(extra="forbid")

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"
