"""Which input field a generated name came from, so that a name conflict points at what to rename.

The names are recomputed with `naming` from the parsed input (never parsed back out of the output), so the
answer is exact wherever a naming rule is involved; anything else is the workload's own `metadata.name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lattice.api.base import Resource
from lattice.api.service import LatticeService
from lattice.compiler import naming


def input_paths(resource: Resource, kind: str, name: str, *, stores: Iterable[str] = (),
                image_providers: Iterable[str] = ()) -> list[str]:
    """The input fields that generate a `kind` named `name` (`host` for a route's host, `volume` for a pod
    volume); `metadata.name` when none does."""
    found = [path for kinds, candidate, path in _generated(resource, sorted(set(stores)), sorted(image_providers))
             if candidate == name and kind in kinds]
    return list(dict.fromkeys(found)) or ["metadata.name"]

_SECRET = frozenset({"ExternalSecret", "Secret"})
_CLAIM = frozenset({"PersistentVolumeClaim"})
_ENTRY = frozenset({"ServiceEntry"})
_CONFIG_MAP = frozenset({"ConfigMap"})
_HOST = frozenset({"host"})
_ROUTE = frozenset({"HTTPRoute", "GRPCRoute"})
_REDIRECT = frozenset({"HTTPRoute"})
_CERTIFICATE = frozenset({"Certificate"})
_TLS = frozenset({"Secret"})
_VOLUME = frozenset({"volume"})  # a volume of the pod template


Generated = tuple[frozenset[str], str, str]  # (kinds, name, input path)


def _generated(resource: Resource, stores: list[str], image_providers: list[str]) -> Iterator[Generated]:
    if not isinstance(resource, LatticeService):
        return
    svc, workload = resource.name, resource.spec.workload
    stores = sorted({*stores, *(d.params.provider for d in workload.resources.values() if d.params.provider)})
    for rname, dep in workload.resources.items():
        where = f"spec.workload.resources.{rname}"
        if dep.type == "secret":
            yield _SECRET, naming.external_secret(svc, rname), where
        elif dep.type == "volume":
            yield _VOLUME, naming.volume(rname), where
            if dep.params.size is not None:
                yield _CLAIM, naming.claim(svc, rname, dep.id), f"{where}.id" if dep.id else where
        elif dep.type == "external-service":
            for endpoint in dep.params.endpoints or {}:
                yield _ENTRY, naming.service_entry(svc, rname, endpoint), f"{where}.params.endpoints.{endpoint}"
    for cname in workload.containers:
        where = f"spec.workload.containers.{cname}"
        yield _CONFIG_MAP, naming.env_config_map(svc, cname), f"{where}.variables"
        yield _CONFIG_MAP, naming.files_config_map(svc, cname), f"{where}.files"
        yield _VOLUME, naming.files_volume(cname), f"{where}.files"
        for store in stores:
            yield _SECRET, naming.templated_env_secret(svc, cname, store), f"{where}.variables"
            yield _SECRET, naming.templated_files_secret(svc, cname, store), f"{where}.files"
            yield _VOLUME, naming.secret_files_volume(cname, store), f"{where}.files"
        for provider in image_providers:
            yield _SECRET, naming.pull_secret(svc, provider), f"{where}.image"
    if resource.spec.ingress is not None:
        for route_name, route in resource.spec.ingress.routes.items():
            where = f"spec.ingress.routes.{route_name}"
            for i, host in enumerate(route.hosts):
                yield _HOST, host, f"{where}.hosts[{i}]"
            yield _ROUTE, naming.route(svc, route_name), where
            yield _REDIRECT, naming.redirect_route(svc, route_name), where
            yield _CERTIFICATE, naming.certificate(svc, route_name), where
            if route.tls is not None:
                yield _TLS, route.tls.secret_name or naming.tls_secret(svc, route_name), f"{where}.tls"
