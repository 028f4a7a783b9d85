"""Every name and label Lattice gives a generated object, in one place.

Later code (the controller's pruning, policies selecting pods, the secret router) finds objects by these
names and labels, so they must never be spelled anywhere else.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable

NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "lattice"
CONFIG_HASH_ANNOTATION = "lattice.dev/config-hash"
TMP_VOLUME = "tmp"
FIELD_MANAGER = "lattice"
SHARED_LABEL = "lattice.dev/shared"
"""Set by the controller on the cluster-wide and per-namespace objects it applies for the whole fleet (default
deny, secret stores, gateways), which no single source owns: only objects carrying it are pruned as shared."""


def selector(workload: str) -> dict[str, str]:
    """The labels that select a workload's pods (and nothing else)."""
    return {NAME_LABEL: workload}


def labels(workload: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Labels of every object derived from a workload: the user's own, then ours (ours win)."""
    out = dict(extra) if extra else {}
    out[NAME_LABEL] = workload
    out[MANAGED_BY_LABEL] = MANAGER
    return out


def fit(name: str, max_len: int = 63) -> str:
    """`name` if it fits, else a truncated prefix plus a stable hash so distinct inputs stay distinct."""
    if len(name) <= max_len:
        return name
    return f"{name[: max_len - 9].rstrip('-.')}-{_digest(name)}"


def service_account(workload: str) -> str:
    return workload


def deployment(workload: str) -> str:
    return workload


def service(workload: str) -> str:
    return workload


def disruption_budget(workload: str) -> str:
    return workload


def scaled_object(workload: str) -> str:
    return workload


def scrape(workload: str) -> str:
    return workload


def env_config_map(workload: str, container: str) -> str:
    return fit(f"{workload}-{container}-env", 253)


def files_config_map(workload: str, container: str) -> str:
    return fit(f"{workload}-{container}-files", 253)


def files_volume(container: str) -> str:
    return fit(f"files-{container}")


def external_secret(workload: str, resource: str) -> str:
    """The ExternalSecret (and the Secret it syncs) of one secret resource."""
    return fit(f"{workload}-{resource}", 253)


def templated_env_secret(workload: str, container: str, store: str) -> str:
    """The templated ExternalSecret rendering a container's mixed-content variables read from one store."""
    return fit(f"{workload}-{container}-env-{store}", 253)


def templated_files_secret(workload: str, container: str, store: str) -> str:
    """The templated ExternalSecret rendering a container's files that read secrets from one store."""
    return fit(f"{workload}-{container}-files-{store}", 253)


def pull_secret(workload: str, image_provider: str) -> str:
    """The dockerconfigjson ExternalSecret holding the pull credentials of one ImageProvider."""
    return fit(f"{workload}-pull-{image_provider}", 253)


def secret_files_volume(container: str, store: str) -> str:
    return fit(f"secret-files-{container}-{store}")


def secret_remote_key(namespace: str, resource: str, shared_id: str | None) -> str:
    """Where a secret resource lives in its provider: the resource's `id`, else `<namespace>/<resource>`."""
    return shared_id if shared_id else f"{namespace}/{resource}"


def template_input_key(resource: str, key: str) -> str:
    """The key a templated ExternalSecret fetches one secret value under (never a key of the synced Secret).

    Resource names are DNS labels (no dots), so `<resource>.<key>` cannot be read two ways."""
    return f"{resource}.{key}"


def cluster_secret_store(provider: str) -> str:
    return provider


def claim(workload: str, resource: str, shared_id: str | None) -> str:
    """A volume's PersistentVolumeClaim: the shared id when given, else owned by the workload."""
    return fit(shared_id if shared_id else f"{workload}-{resource}", 253)


def volume(resource: str) -> str:
    return fit(f"vol-{resource}")


def empty_dir_volume(container: str, target: str) -> str:
    """A container's own emptyDir (`/cache: {}`): readable, and distinct for paths that read alike
    (`/a-b`, `/a/b`) through a digest of the exact path."""
    slug = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")
    digest = hashlib.sha256(target.encode()).hexdigest()[:6]
    return fit(f"empty-{container}-{slug}-{digest}")


_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]+")


def file_key(path: str) -> str:
    """A ConfigMap key for a file path: `/etc/app/config.yaml` -> `etc-app-config.yaml`."""
    return fit(_KEY_CHARS.sub("-", path.strip("/").replace("/", "-")) or "file", 253)


def file_keys(paths: Iterable[str]) -> dict[str, str]:
    """The keys of one container's files. Where two paths would share a key (`/etc/x`, `/etc-x`), each gets a
    hash of its own path appended, so a key never depends on which other files exist or on their order."""
    readable = {path: file_key(path) for path in paths}
    counts = Counter(readable.values())
    return {path: key if counts[key] == 1 else f"{fit(key, 244)}-{_digest(path)}" for path, key in readable.items()}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def service_host(name: str, namespace: str, cluster_domain: str) -> str:
    return f"{name}.{namespace}.svc.{cluster_domain}"


# --- the service graph: policies, identities, ingress ---------------------------------------------------

NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# Mesh enrollment (https://istio.io/latest/docs/ambient/usage/add-workloads/ and
# https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#controlling-the-injection-policy).
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"
SIDECAR_INJECT_LABEL = "sidecar.istio.io/inject"
DNS_CAPTURE_ANNOTATION = "ambient.istio.io/dns-capture"
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
HBONE_PORT = 15008
MESH_CONTROL_PLANE_PORT = 15012
CLUSTER_DEFAULT_DENY = "lattice-default-deny"
MESH_PEER_AUTHENTICATION = "default"
MESH_ALLOW_NOTHING = "allow-nothing"


def network_policy(workload: str) -> str:
    return workload


def authorization_policy(workload: str) -> str:
    return workload


def acme_solver_policy(gateway_name: str) -> str:
    """The network policy of cert-manager's HTTP-01 solver pods in a namespace with a Gateway."""
    return fit(f"{gateway_name}-acme-solver")


def service_entry(workload: str, resource: str, endpoint: str) -> str:
    return fit(f"{workload}-{resource}-{endpoint}", 253)


def spiffe_principal(trust_domain: str, namespace: str, service_account: str) -> str:
    """An Istio principal (the SPIFFE id without its scheme): `<trust domain>/ns/<ns>/sa/<sa>`."""
    return f"{trust_domain}/ns/{namespace}/sa/{service_account}"


def gateway(namespace: str) -> str:
    """The namespace's ingress Gateway: one per namespace that has routes."""
    return "lattice-ingress"


def gateway_service_account(gateway_name: str, gateway_class: str) -> str:
    """The identity Istio gives a Gateway's deployment: `<gateway>-<class>`."""
    return fit(f"{gateway_name}-{gateway_class}")


def listener(host: str, tls: bool) -> str:
    """A Gateway listener's name: distinct hosts never share one. A `.` becomes `-` and a `-` becomes `--` (a
    host never has `-` beside `.`), and the wildcard `*.` becomes `wildcard---` (no host yields three dashes), so
    `a-b.example.com` (`http-a--b-example-com`) and `a.b-example.com` (`http-a-b--example-com`) stay apart."""
    body = host.replace("-", "--").replace(".", "-")
    if body.startswith("*-"):
        body = "wildcard---" + body[2:]
    return fit(("https-" if tls else "http-") + body)


def route(workload: str, route_name: str) -> str:
    return fit(f"{workload}-{route_name}", 253)


def redirect_route(workload: str, route_name: str) -> str:
    return fit(f"{workload}-{route_name}-redirect", 253)


def certificate(workload: str, route_name: str) -> str:
    return fit(f"{workload}-{route_name}", 253)


def tls_secret(workload: str, route_name: str) -> str:
    return fit(f"{workload}-{route_name}-tls", 253)
