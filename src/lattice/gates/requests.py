"""The authorization requests a workload makes, each with the input field it comes from.

Pure: read from the parsed workload, nothing looked up. Per workload:
- `AccessSecret` per secret resource: `Lattice::SecretPath::"<provider>:<path>"`, where the provider and the
  path are what its ExternalSecret reads (`secrets.secret_provider`, `naming.secret_remote_key`);
- `AccessExternalEndpoint` per endpoint of an external-service: `Lattice::ExternalEndpoint::"<host>:<port>"`;
- `AccessVolume` per claim it mounts but does not create: a `volume` resource with an `id` and no `size`
  (`lattice.compiler.storage`: a `size` creates the claim, so its workload owns it). The entity is
  `Lattice::Volume::"<namespace>/<id>"`; its `owner` is the workload that creates that claim, if one does;
- `DeployImage` per container image: `Lattice::Image::"<image as written>"`;
- `AllowWildcard` per inbound service dependency with `id: "*"` (any caller): `Lattice::Mesh::"inbound"`;
- `OverrideSecurity` per deviation from the restricted defaults, given by the caller as
  (id, category, field path): `Lattice::SecurityOverride::"<id>"`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from lattice.api.endpoints import parse_endpoint
from lattice.api.service import LatticeService
from lattice.api.workload import ANY_CALLER, Workload
from lattice.compiler import naming
from lattice.compiler.secrets import secret_provider
from lattice.gates.authorization import Principal, Request, Resource

Deviation = tuple[str, str, str]
"""A security deviation: (override id such as `capability:NET_ADMIN`, its category, the input field path)."""

WILDCARD_INBOUND = "inbound"
"""The `Lattice::Mesh` entity an inbound wildcard opens (the id the public Rust implementation uses)."""

_DOCKER_HUB = "docker.io"


def service_requests(service: LatticeService, *, default_provider: str | None,
                     volume_owners: Mapping[str, str] | None = None,
                     deviations: Iterable[Deviation] = ()) -> list[Request]:
    """Every request one LatticeService makes (see the module docstring); `default_provider` is the
    platform's `secrets.defaultProvider`, `volume_owners` what `volume_owners` returns for the fleet."""
    principal = Principal(service.namespace, service.name, "service", dict(service.metadata.labels))
    return workload_requests(principal, service.spec.workload, base_path="spec.workload",
                             default_provider=default_provider, volume_owners=volume_owners or {},
                             deviations=deviations)


def workload_requests(principal: Principal, workload: Workload, *, base_path: str, default_provider: str | None,
                      volume_owners: Mapping[str, str], deviations: Iterable[Deviation] = ()) -> list[Request]:
    """The requests of one workload whose fields are under `base_path` (`spec.workload` for a service)."""
    namespace = principal.namespace
    out: list[Request] = []
    owned = owned_claims(principal.name, workload)
    for rname, dep in sorted(workload.resources.items()):
        path = f"{base_path}.resources.{rname}"
        if dep.type == "secret":
            provider = secret_provider(dep, default_provider)
            if provider is None:
                continue  # no store to read from: the secret router reports it, and nothing is read
            remote = naming.secret_remote_key(namespace, rname, dep.id)
            out.append(Request(principal, "AccessSecret", secret_path(provider, remote), path))
        elif dep.type == "external-service":
            for ename, url in sorted((dep.params.endpoints or {}).items()):
                endpoint = parse_endpoint(url)
                out.append(Request(principal, "AccessExternalEndpoint",
                                   Resource("ExternalEndpoint", f"{endpoint.host}:{endpoint.port}",
                                            {"host": endpoint.host, "port": endpoint.port,
                                             "scheme": endpoint.scheme, "protocol": endpoint.scheme}),
                                   f"{path}.params.endpoints.{ename}"))
        elif dep.type == "volume" and dep.id is not None and dep.params.size is None and dep.id not in owned:
            volume = f"{namespace}/{dep.id}"
            out.append(Request(principal, "AccessVolume",
                               Resource("Volume", volume, {"namespace": namespace, "id": dep.id,
                                                           "volume_id": dep.id,
                                                           "owner": volume_owners.get(volume, "")}),
                               f"{path}.id"))
        elif dep.type == "service" and dep.id == ANY_CALLER and dep.effective_direction == "inbound":
            out.append(Request(principal, "AllowWildcard", Resource("Mesh", WILDCARD_INBOUND), f"{path}.id"))
    for cname, container in workload.containers.items():
        out.append(Request(principal, "DeployImage", image_resource(container.image),
                           f"{base_path}.containers.{cname}.image"))
    for override_id, category, path in deviations:
        out.append(Request(principal, "OverrideSecurity",
                           Resource("SecurityOverride", override_id,
                                    {"category": category, "id": override_id, "override_id": override_id}),
                           path))
    return out


def secret_path(provider: str, path: str) -> Resource:
    """`Lattice::SecretPath::"<provider>:<path>"`; its `namespace` is the path's first segment."""
    return Resource("SecretPath", f"{provider}:{path}",
                    {"provider": provider, "path": path, "namespace": path.split("/")[0]})


def owned_claims(name: str, workload: Workload) -> set[str]:
    """The claims a workload creates: one per `volume` resource with a `size`, named as `storage.claims`
    names it (its `id`, else `<workload>-<resource>`)."""
    return {naming.claim(name, rname, dep.id) for rname, dep in workload.resources.items()
            if dep.type == "volume" and dep.params.size is not None}


def volume_owners(workloads: Iterable[tuple[str, str, Workload]]) -> dict[str, str]:
    """`"<namespace>/<claim>"` -> `"<namespace>/<workload>"` that creates it, for (namespace, name, workload)
    of a fleet; the first in the order given when two claim one name (the compile refuses the collision)."""
    owners: dict[str, str] = {}
    for namespace, name, workload in workloads:
        for claim in sorted(owned_claims(name, workload)):
            owners.setdefault(f"{namespace}/{claim}", f"{namespace}/{name}")
    return owners


def image_resource(image: str) -> Resource:
    """`Lattice::Image::"<ref>"` with the parts of the reference as the distribution reference grammar reads
    them: the first component is a registry when it has a `.` or a `:` or is `localhost`, else the image is on
    Docker Hub (whose one-component names are under `library/`); `tag` and `digest` are "" when absent."""
    name, _, digest = image.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1:]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = _DOCKER_HUB, name if rest else f"library/{name}"
    return Resource("Image", image, {"registry": registry, "repository": repository, "tag": tag, "digest": digest})


def fleet_requests(services: Iterable[LatticeService], *, default_provider: str | None,
                   deviations: Callable[[LatticeService], Iterable[Deviation]] | None = None) -> list[Request]:
    """The requests of every service of a fleet, in the order given (`Request.principal` tells them apart);
    `deviations` gives each service's security deviations (none when not given)."""
    listed = list(services)
    owners = volume_owners((s.namespace, s.name, s.spec.workload) for s in listed)
    return [request for service in listed
            for request in service_requests(service, default_provider=default_provider, volume_owners=owners,
                                            deviations=deviations(service) if deviations else ())]
