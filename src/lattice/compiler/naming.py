"""Every name and label Lattice gives a generated object, in one place.

Later code (the controller's pruning, policies selecting pods, the secret router) finds objects by these
names and labels, so they must never be spelled anywhere else.
"""

from __future__ import annotations

import hashlib
import re

NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "lattice"
CONFIG_HASH_ANNOTATION = "lattice.dev/config-hash"
TMP_VOLUME = "tmp"
FIELD_MANAGER = "lattice"


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
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_len - 9].rstrip('-.')}-{digest}"


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
    return fit(f"{workload}-{resource}", 253)


def claim(workload: str, resource: str, shared_id: str | None) -> str:
    """A volume's PersistentVolumeClaim: the shared id when given, else owned by the workload."""
    return fit(shared_id if shared_id else f"{workload}-{resource}", 253)


def volume(resource: str) -> str:
    return fit(f"vol-{resource}")


_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]+")


def file_key(path: str) -> str:
    """A ConfigMap key for a file path: `/etc/app/config.yaml` -> `etc-app-config.yaml`."""
    return fit(_KEY_CHARS.sub("-", path.strip("/").replace("/", "-")) or "file", 253)


def service_host(name: str, namespace: str, cluster_domain: str) -> str:
    return f"{name}.{namespace}.svc.{cluster_domain}"
