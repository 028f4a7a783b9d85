"""Configuration a container reads: variables, files, command and args, with placeholders resolved.

Plain values go into ConfigMaps (one for env, one for files per container). A value that reads a secret never
becomes text here: the secret router (`secrets.py`) turns it into a `secretKeyRef`, a templated
ExternalSecret or an `envFrom`, and `command`/`args` may not read secrets at all, neither by placeholder nor by
Kubernetes' `$(VAR)` expansion (`expansion.py`); probes are resolved by `probes.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lattice.api.workload import Container, Probe
from lattice.compiler import expansion, naming, probes
from lattice.compiler.meta import Obj, owned
from lattice.compiler.resolve import Part, ResolveError, Resolver, SecretRef
from lattice.compiler.secrets import SecretRouter, secret_refs
from lattice.errors import Problem


@dataclass(frozen=True, slots=True)
class SecretEnv:
    """An environment variable read from one key of a synced Secret."""

    name: str
    secret: str
    key: str


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A file rendered into a synced Secret, mounted read-only through the volume `volume`."""

    target: str
    volume: str
    secret: str
    key: str
    mode: int | None


@dataclass(slots=True)
class ContainerConfig:
    """What the pod template needs to know about one container's configuration."""

    command: list[str] | None = None
    args: list[str] | None = None
    env_config_map: str | None = None
    files_config_map: str | None = None
    file_mounts: list[tuple[str, str, int | None]] = field(default_factory=list)  # (path, key, mode)
    secret_env: list[SecretEnv] = field(default_factory=list)
    env_from_secrets: list[str] = field(default_factory=list)
    secret_files: list[SecretFile] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)  # by field (`livenessProbe`), placeholders resolved


@dataclass(slots=True)
class WorkloadConfig:
    containers: dict[str, ContainerConfig] = field(default_factory=dict)
    config_maps: list[Obj] = field(default_factory=list)
    external_secrets: list[Obj] = field(default_factory=list)
    image_pull_secrets: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def derive_config(
    containers: dict[str, Container], resolver: Resolver, *, base_path: str, user_labels: dict[str, str]
) -> WorkloadConfig:
    out = WorkloadConfig()
    workload, namespace = resolver.name, resolver.namespace
    platform = resolver.context.platform
    router = SecretRouter(
        workload=workload, namespace=namespace, dependencies=resolver.dependencies,
        secret_providers=resolver.context.secret_providers, image_providers=resolver.context.image_providers,
        default_provider=platform.secrets.default_provider, default_refresh=platform.secrets.refresh_interval,
        user_labels=user_labels,
    )
    for cname, container in containers.items():
        cfg = ContainerConfig()
        path = f"{base_path}.{cname}"
        cfg.command = _plain_list(container.command, f"{path}.command", resolver, out.problems)
        cfg.args = _plain_list(container.args, f"{path}.args", resolver, out.problems)
        for resource in container.env_from:  # route 5: the whole Secret
            if router.store_of(resource) is not None:
                cfg.env_from_secrets.append(naming.external_secret(workload, resource))

        env: dict[str, str] = {}
        secret_vars: set[str] = set()
        for var, value in container.variables.items():
            where = f"{path}.variables.{var}"
            parts = _resolve(value, where, resolver, out.problems)
            if parts is None:
                continue
            refs = secret_refs(parts)
            if refs:
                secret_vars.add(var)
            if not refs:
                env[var] = _join(parts)
            elif parts == (refs[0],):  # route 1: exactly one secret key
                if router.store_of(refs[0].resource) is not None:
                    cfg.secret_env.append(
                        SecretEnv(var, naming.external_secret(workload, refs[0].resource), refs[0].key))
            else:  # route 2: mixed content, rendered by a templated ExternalSecret
                store = router.common_store(refs, where)
                if store is not None:
                    secret = naming.templated_env_secret(workload, cname, store)
                    router.add_templated(secret, store, var, list(parts))
                    cfg.secret_env.append(SecretEnv(var, secret, var))
        out.problems.extend(expansion.secret_expansions(
            {"command": cfg.command or [], "args": cfg.args or []}, path, secret_vars=secret_vars,
            whole_secrets={name: resolver.dependencies[name].params.keys for name in container.env_from}))
        cfg.probes = probes.resolved_probes(container, path, resolver, out.problems)
        if env:
            out.problems.extend(_too_large(env, f"{path}.variables", "variables"))
            cfg.env_config_map = naming.env_config_map(workload, cname)
            out.config_maps.append(_config_map(cfg.env_config_map, env, workload, namespace, user_labels))

        files: dict[str, str] = {}
        keys = naming.file_keys(container.files)
        secret_text: dict[str, dict[str, str]] = {}  # templated Secret -> file key -> the file's own text
        for target, spec in container.files.items():
            where = f"{path}.files.{target}"
            parts = (spec.content,) if spec.no_expand else _resolve(spec.content, f"{where}.content", resolver,
                                                                     out.problems)
            if parts is None:
                continue
            key = keys[target]
            mode = int(spec.mode, 8) if spec.mode else None
            refs = secret_refs(parts)
            if not refs:
                files[key] = _join(parts)
                cfg.file_mounts.append((target, key, mode))
                continue
            store = router.common_store(refs, f"{where}.content")  # route 3: a templated, mounted Secret
            if store is not None:
                secret = naming.templated_files_secret(workload, cname, store)
                router.add_templated(secret, store, key, list(parts))
                secret_text.setdefault(secret, {})[key] = _join(parts)
                cfg.secret_files.append(
                    SecretFile(target, naming.secret_files_volume(cname, store), secret, key, mode))
        for text in secret_text.values():
            out.problems.extend(_too_large(text, f"{path}.files", "files that read secrets", kind="Secret"))
        if files:
            out.problems.extend(_too_large(files, f"{path}.files", "files"))
            cfg.files_config_map = naming.files_config_map(workload, cname)
            out.config_maps.append(_config_map(cfg.files_config_map, files, workload, namespace, user_labels))
        out.containers[cname] = cfg

    # route 4: registry credentials of the ImageProviders the images come from
    out.image_pull_secrets, pull = router.pull_secrets({c: spec.image for c, spec in containers.items()},
                                                       base_path)
    out.external_secrets = [*router.external_secrets(), *pull]
    out.problems.extend(router.problems)
    out.problems.extend(_name_clashes(out.external_secrets, resolver))
    out.warnings.extend(router.warnings)
    return out


def _config_map(name: str, data: dict[str, str], workload: str, namespace: str, user_labels: dict[str, str]) -> Obj:
    obj = owned("v1", "ConfigMap", name, workload=workload, namespace=namespace, user_labels=user_labels)
    obj["data"] = data
    return obj


def _resolve(text: str, path: str, resolver: Resolver, problems: list[Problem]) -> tuple[Part, ...] | None:
    try:
        return resolver.resolve(text)
    except ResolveError as exc:
        problems.append(Problem(path, exc.message, exc.hint))
        return None


def _plain_list(values: list[str] | None, path: str, resolver: Resolver,
                problems: list[Problem]) -> list[str] | None:
    """Command or args: resolved to plain text; a secret here is refused (the pod spec and `ps` show it)."""
    if values is None:
        return None
    what = path.rsplit(".", 1)[-1]
    out: list[str] = []
    for i, value in enumerate(values):
        parts = _resolve(value, f"{path}[{i}]", resolver, problems)
        secret = next((p for p in parts or () if isinstance(p, SecretRef)), None)
        if secret is not None:
            problems.append(Problem(
                f"{path}[{i}]",
                f"`{what}` reads secret `{secret.resource}` (key `{secret.key}`); command and args are plain text in "
                "the pod spec, visible to anyone who can read the pod or run `ps` on the node",
                "pass it through a variable (e.g. `variables: {SECRET: \""
                f"${{secret.{secret.resource}.{secret.key}}}\"}}`) or a file under `files`, and have the program "
                "read it from there",
            ))
        out.append(_join(parts) if parts is not None and secret is None else "")
    return out


CONFIG_MAP_MAX_BYTES = 1024 * 1024
"""What Kubernetes admits in one ConfigMap's or Secret's values (core validation ValidateConfigMap and
ValidateSecret: `MaxSecretSize`, 1 MiB)."""


def _too_large(data: dict[str, str], path: str, what: str, *, kind: str = "ConfigMap") -> list[Problem]:
    """A ConfigMap over the limit; for a templated Secret, the files' own text alone (the secret values that
    ESO fills in only add to it)."""
    size = sum(len(value.encode()) for value in data.values())
    if size <= CONFIG_MAP_MAX_BYTES:
        return []
    amount = f"{size} bytes" if kind == "ConfigMap" else f"at least {size} bytes"
    return [Problem(path, f"the {what} of this container add up to {amount}; they become one {kind}, and "
                          f"Kubernetes refuses a {kind} over 1 MiB ({CONFIG_MAP_MAX_BYTES} bytes)",
                    "ship large content in the image or on a volume, and keep configuration small")]


def _join(parts: tuple[Part, ...]) -> str:
    return "".join(p for p in parts if isinstance(p, str))


def _name_clashes(external_secrets: list[Obj], resolver: Resolver) -> list[Problem]:
    """Generated ExternalSecret names must be distinct; a secret resource named like a generated one clashes."""
    seen: set[str] = set()
    problems = []
    for obj in external_secrets:
        name = obj["metadata"]["name"]
        if name in seen:
            resource = next((r for r in resolver.dependencies if naming.external_secret(resolver.name, r) == name),
                            None)
            problems.append(Problem(
                f"spec.workload.resources.{resource}" if resource else "spec.workload.resources",
                f"the ExternalSecret `{name}` would be generated twice (a secret resource's name clashes with a "
                "generated secret of a container or an image provider)",
                "rename the secret resource (and set `id` to keep its path in the provider)",
            ))
        seen.add(name)
    return problems


def config_data(objects: list[Obj]) -> list[tuple[str, Any]]:
    """What the config hash covers: every generated ConfigMap's name and data and every ExternalSecret's name
    and spec (the Secrets the pod reads), in a stable order."""
    items = [(obj["metadata"]["name"], obj["data"]) if obj["kind"] == "ConfigMap"
             else (f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]) for obj in objects]
    return sorted(items, key=lambda item: item[0])
