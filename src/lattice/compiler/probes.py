"""A container's probes with their placeholders resolved, as `args` are; a probe never reads a secret.

A probe is plain text in the pod spec (its command, path, host and headers), readable by anyone who may read the
pod, so a secret placeholder there is refused rather than routed.
"""

from __future__ import annotations

from lattice.api.workload import Container, Probe
from lattice.compiler.resolve import ResolveError, Resolver, SecretRef
from lattice.errors import Problem


def resolved_probes(container: Container, path: str, resolver: Resolver,
                    problems: list[Problem]) -> dict[str, Probe]:
    """Each probe the container declares, by field (`livenessProbe`), resolved; problems are appended."""
    declared = {"livenessProbe": container.liveness_probe, "readinessProbe": container.readiness_probe,
                "startupProbe": container.startup_probe}
    out = {}
    for field, probe in declared.items():
        if probe is not None:
            before = len(problems)
            resolved = _resolve_probe(probe, f"{path}.{field}", resolver, problems)
            if len(problems) == before:
                out[field] = resolved
    return out


def _resolve_probe(probe: Probe, path: str, resolver: Resolver, problems: list[Problem]) -> Probe:
    def text(value: str, where: str) -> str:
        return _plain_text(value, where, resolver, problems)

    update: dict[str, object] = {}
    if probe.exec is not None:
        update["exec"] = probe.exec.model_copy(update={"command": [
            text(arg, f"{path}.exec.command[{i}]") for i, arg in enumerate(probe.exec.command)]})
    if probe.http_get is not None:
        http = probe.http_get
        update["http_get"] = http.model_copy(update={
            "path": text(http.path, f"{path}.httpGet.path"),
            "host": None if http.host is None else text(http.host, f"{path}.httpGet.host"),
            "http_headers": [h.model_copy(update={"value": text(h.value, f"{path}.httpGet.httpHeaders[{i}].value")})
                             for i, h in enumerate(http.http_headers)],
        })
    if probe.grpc is not None and probe.grpc.service is not None:
        update["grpc"] = probe.grpc.model_copy(update={"service": text(probe.grpc.service, f"{path}.grpc.service")})
    return probe.model_copy(update=update)


def _plain_text(value: str, where: str, resolver: Resolver, problems: list[Problem]) -> str:
    try:
        parts = resolver.resolve(value)
    except ResolveError as exc:
        problems.append(Problem(where, exc.message, exc.hint))
        return ""
    secret = next((p for p in parts if isinstance(p, SecretRef)), None)
    if secret is not None:
        problems.append(Problem(
            where,
            f"the probe reads secret `{secret.resource}` (key `{secret.key}`); a probe is plain text in the pod "
            "spec, visible to anyone who can read the pod",
            "probe an endpoint that needs no secret, or use an `exec` probe whose program reads the secret from "
            "the container's environment or a file under `files`",
        ))
    return "".join(p for p in parts if isinstance(p, str))
