"""Resolving placeholders against the workload, its dependencies and the fleet.

Non-secret placeholders become text at compile time. Secret placeholders stay symbolic (`SecretRef`) so that
only the secret router can decide how their values reach the pod; they never become plain text here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lattice.api.endpoints import parse_endpoint
from lattice.api.workload import ANY_CALLER, Dependency, ServicePort
from lattice.compiler import naming, template
from lattice.compiler.context import CompileContext
from lattice.errors import Problem
from lattice.graph import target_of


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to one key of a secret dependency; its value only ever exists in a Secret."""

    resource: str
    key: str


Part = str | SecretRef

_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class ResolveError(Exception):
    """A placeholder that cannot be resolved: what is wrong and what to write instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Resolver:
    """Resolves the placeholders of one workload."""

    name: str
    namespace: str
    dependencies: dict[str, Dependency]
    context: CompileContext

    def resolve(self, text: str) -> tuple[Part, ...]:
        """Text with every non-secret placeholder replaced; adjacent literals merged."""
        try:
            segments = template.parse(text)
        except ValueError as exc:  # PydanticCustomError is a ValueError
            raise ResolveError(_message_of(exc), _hint_of(exc)) from None
        out: list[Part] = []
        for seg in segments:
            part = seg if isinstance(seg, str) else self._placeholder(seg)
            if isinstance(part, str) and out and isinstance(out[-1], str):
                out[-1] = out[-1] + part
            elif part != "":
                out.append(part)
        return tuple(out)

    def _placeholder(self, ph: template.Placeholder) -> Part:
        head, rest = ph.parts[0], ph.parts[1:]
        if head == "metadata":
            if rest == ("name",):
                return self.name
            if rest == ("namespace",):
                return self.namespace
            raise ResolveError(f"`{ph.text}` is not a known metadata field",
                               "use `${metadata.name}` or `${metadata.namespace}`")
        if head in ("resources", "secret"):
            if len(rest) < 2:
                raise ResolveError(f"`{ph.text}` names no key",
                                   f"write `${{{head}.NAME.KEY}}`, e.g. `${{{head}.db.host}}`")
            name, key = rest[0], ".".join(rest[1:])
            dep = self.dependencies.get(name)
            if dep is None:
                known = ", ".join(sorted(self.dependencies))
                raise ResolveError(
                    f"`{ph.text}` refers to the resource `{name}`, which is not declared",
                    f"declare it under `workload.resources`, e.g. `{name}: {{type: service}}`"
                    + (f" (declared: {known})" if known else ""),
                )
            if head == "secret" and dep.type != "secret":
                raise ResolveError(f"`{ph.text}` uses the secret alias for `{name}`, a `{dep.type}` resource",
                                   f"write `${{resources.{name}.{key}}}`")
            return self._output(ph, name, key, dep)
        raise ResolveError(f"`{ph.text}` is not a placeholder Lattice knows",
                           "write `${resources.NAME.KEY}`, `${secret.NAME.KEY}` or `${metadata.name}`; "
                           "`$${` writes a literal `${`")

    def _output(self, ph: template.Placeholder, name: str, key: str, dep: Dependency) -> Part:
        if dep.type == "secret":
            keys = dep.params.keys
            if keys is not None and key not in keys:
                raise ResolveError(f"`{ph.text}` reads the key `{key}`, which secret `{name}` does not list",
                                   f"add `{key}` to `resources.{name}.params.keys` (listed: {', '.join(keys)})")
            if not _SECRET_KEY.fullmatch(key):
                raise ResolveError(f"`{ph.text}` reads the key `{key}`, which a Secret key cannot be",
                                   "use letters, digits, '-', '_' and '.'")
            return SecretRef(name, key)
        if dep.type == "service":
            return self._service_output(ph, name, key, dep)
        if dep.type == "external-service":
            return self._external_output(ph, name, key, dep)
        raise ResolveError(f"`{ph.text}`: a `{dep.type}` resource has no values to interpolate",
                           f"use `{name}` as a volume source or remove the placeholder")

    def _service_output(self, ph: template.Placeholder, name: str, key: str, dep: Dependency) -> str:
        if dep.id == ANY_CALLER:
            raise ResolveError(f"`{ph.text}`: `{name}` stands for any caller (`id: \"{ANY_CALLER}\"`), which has no "
                               "host or port", f"remove the placeholder, or name one service in `resources.{name}.id`")
        namespace, target = target_of(self.namespace, name, dep)
        host = naming.service_host(target, namespace, self.context.platform.cluster_domain)
        if key == "host":
            return host
        if key not in ("port", "url"):
            raise ResolveError(f"`{ph.text}`: a service resource has no key `{key}`", "use `host`, `port` or `url`")
        ports = self.context.ports_of(namespace, target)
        if ports is None and (namespace, target) in self.context.failed:
            raise ResolveError(
                f"`{ph.text}` needs the port of service `{namespace}/{target}`, which failed to compile "
                "(its errors are reported with it)",
                f"fix the errors of `{namespace}/{target}`, or write `${{resources.{name}.host}}` and the port",
            )
        if ports is None:
            raise ResolveError(
                f"`{ph.text}` needs the port of service `{namespace}/{target}`, "
                "which is not in the fleet being compiled",
                f"compile `{target}` together with this service, or write `${{resources.{name}.host}}` and the port",
            )
        port = primary_port(ports)
        if port is None:
            raise ResolveError(f"`{ph.text}`: service `{namespace}/{target}` declares no ports",
                               f"declare a port on `{target}` under `workload.service.ports`")
        return str(port.port) if key == "port" else f"http://{host}:{port.port}"

    def _external_output(self, ph: template.Placeholder, name: str, key: str, dep: Dependency) -> str:
        endpoints = dep.params.endpoints or {}
        if key in endpoints:
            return parse_endpoint(endpoints[key]).url
        if key in ("host", "port", "url"):
            if len(endpoints) != 1:
                raise ResolveError(
                    f"`{ph.text}` is ambiguous: `{name}` has {len(endpoints)} endpoints",
                    f"name one: {', '.join(f'${{resources.{name}.{e}}}' for e in sorted(endpoints))}",
                )
            endpoint = parse_endpoint(next(iter(endpoints.values())))
            return {"host": endpoint.host, "port": str(endpoint.port), "url": endpoint.url}[key]
        raise ResolveError(f"`{ph.text}`: external service `{name}` has no key `{key}`",
                           f"use host, port, url or an endpoint name ({', '.join(sorted(endpoints))})")


def primary_port_name(ports: Mapping[str, ServicePort]) -> str | None:
    """The port others reach a service on by default: the one named `http`, else the first declared."""
    return "http" if "http" in ports else next(iter(ports), None)


def primary_port(ports: Mapping[str, ServicePort]) -> ServicePort | None:
    name = primary_port_name(ports)
    return ports[name] if name is not None else None


def _message_of(exc: ValueError) -> str:
    return str(getattr(exc, "message", lambda: str(exc))())


def _hint_of(exc: ValueError) -> str:
    context = getattr(exc, "context", None) or {}
    return str(context.get("hint", ""))


def as_problem(path: str, exc: ResolveError) -> Problem:
    return Problem(path, exc.message, exc.hint)
