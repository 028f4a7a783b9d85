"""Configuration a container reads: variables, files, command and args, with placeholders resolved.

Plain values go into ConfigMaps (one for env, one for files per container). A secret placeholder never
becomes text here; until secret routing exists it is refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lattice.api.workload import Container
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned
from lattice.compiler.resolve import Part, ResolveError, Resolver, SecretRef
from lattice.errors import Problem


@dataclass(slots=True)
class ContainerConfig:
    """What the pod template needs to know about one container's configuration."""

    command: list[str] | None = None
    args: list[str] | None = None
    env_config_map: str | None = None
    files_config_map: str | None = None
    file_mounts: list[tuple[str, str, int | None]] = field(default_factory=list)  # (path, key, mode)


@dataclass(slots=True)
class WorkloadConfig:
    containers: dict[str, ContainerConfig] = field(default_factory=dict)
    config_maps: list[Obj] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


_SECRET_ROUTING_HINT = (
    "secret routing through External Secrets is not available in this version yet: remove the placeholder "
    "for now; the same spec will compile unchanged once routing lands"
)


def derive_config(
    containers: dict[str, Container], resolver: Resolver, *, base_path: str, user_labels: dict[str, str]
) -> WorkloadConfig:
    out = WorkloadConfig()
    workload, namespace = resolver.name, resolver.namespace
    for cname, container in containers.items():
        cfg = ContainerConfig()
        path = f"{base_path}.{cname}"
        cfg.command = _plain_list(container.command, f"{path}.command", cname, resolver, out.problems)
        cfg.args = _plain_list(container.args, f"{path}.args", cname, resolver, out.problems)
        for i, secret in enumerate(container.env_from):
            out.problems.append(Problem(f"{path}.envFrom[{i}]", f"the container reads all of secret `{secret}`",
                                        _SECRET_ROUTING_HINT))

        env: dict[str, str] = {}
        for var, value in container.variables.items():
            text = _plain(value, f"{path}.variables.{var}", "variable", resolver, out.problems)
            if text is not None:
                env[var] = text
        if env:
            cfg.env_config_map = naming.env_config_map(workload, cname)
            out.config_maps.append(_config_map(cfg.env_config_map, env, workload, namespace, user_labels))

        files: dict[str, str] = {}
        used_keys: set[str] = set()
        for target, spec in container.files.items():
            where = f"{path}.files.{target}"
            content = spec.content if spec.no_expand else _plain(
                spec.content, f"{where}.content", "file", resolver, out.problems)
            if content is None:
                continue
            key = naming.file_key(target)
            if key in used_keys:
                key = naming.fit(f"{key}-{len(used_keys)}", 253)
            used_keys.add(key)
            files[key] = content
            cfg.file_mounts.append((target, key, int(spec.mode, 8) if spec.mode else None))
        if files:
            cfg.files_config_map = naming.files_config_map(workload, cname)
            out.config_maps.append(_config_map(cfg.files_config_map, files, workload, namespace, user_labels))
        out.containers[cname] = cfg
    return out


def _config_map(name: str, data: dict[str, str], workload: str, namespace: str, user_labels: dict[str, str]) -> Obj:
    obj = owned("v1", "ConfigMap", name, workload=workload, namespace=namespace, user_labels=user_labels)
    obj["data"] = data
    return obj


def _plain(text: str, path: str, what: str, resolver: Resolver, problems: list[Problem]) -> str | None:
    """Resolve text that must end up plain; record a problem and return None otherwise."""
    try:
        parts = resolver.resolve(text)
    except ResolveError as exc:
        problems.append(Problem(path, exc.message, exc.hint))
        return None
    secret = next((p for p in parts if isinstance(p, SecretRef)), None)
    if secret is not None:
        problems.append(Problem(path, f"the {what} reads secret `{secret.resource}` (key `{secret.key}`)",
                                _SECRET_ROUTING_HINT))
        return None
    return _join(parts)


def _plain_list(values: list[str] | None, path: str, cname: str, resolver: Resolver,
                problems: list[Problem]) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for i, value in enumerate(values):
        text = _plain(value, f"{path}[{i}]", path.rsplit(".", 1)[-1], resolver, problems)
        out.append(text if text is not None else "")
    return out


def _join(parts: tuple[Part, ...]) -> str:
    return "".join(p for p in parts if isinstance(p, str))


def config_data(config_maps: list[Obj]) -> list[tuple[str, Any]]:
    """What the config hash covers: every generated ConfigMap's name and data, in a stable order."""
    return sorted((cm["metadata"]["name"], cm["data"]) for cm in config_maps)
