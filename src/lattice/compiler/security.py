"""Every deviation of a workload from the restricted defaults, named as the authorization gate asks about it.

The platform's defaults are Pod Security Standards "restricted" and more (every capability dropped, no service
account token). Each deviation is a `Lattice::SecurityOverride::"<id>"` that needs an `OverrideSecurity` permit;
the ids and categories are those of the public Rust implementation (`evan-hines-js/lattice`,
`lattice-workload/src/authorization/security.rs`), so its policies carry over: pod-level ids have the category
`pod`, capabilities `capability`, the other container settings `container`, a seccomp profile `profile`.
(Lattice writes `privilegeEscalation` where the Rust code says `allowPrivilegeEscalation`: DESIGN §1 names the ids.)

Also the warnings a deviation needs beyond its permit: what `hostNetwork` does to the workload's policies.
Pure: a parsed workload in, values out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lattice.api.workload import Container, Workload
from lattice.errors import Problem

WORKLOAD_PATH = "spec.workload"

# (input field, override id, model attribute), in the order they are reported: the pod's before any container's.
_POD_FIELDS = (
    ("hostNetwork", "hostNetwork", "host_network"),
    ("hostPID", "hostPID", "host_pid"),
    ("shareProcessNamespace", "shareProcessNamespace", "share_process_namespace"),
    ("automountServiceAccountToken", "automountServiceAccountToken", "automount_service_account_token"),
)


@dataclass(frozen=True, slots=True)
class Deviation:
    """One deviation: the override id a permit names, its category, and the input field that asks for it."""

    id: str
    category: str
    path: str


def capability_name(name: str) -> str:
    """A capability as Kubernetes writes it, and as the override id names it: upper case, no `CAP_` prefix."""
    return name.upper().removeprefix("CAP_")


def deviations(workload: Workload, *, base: str = WORKLOAD_PATH) -> list[Deviation]:
    """The workload's deviations, one per distinct id and place (the pod, or one container), in a stable order:
    the pod's, then each container's in declaration order (capabilities as declared, then privileged, runAsRoot,
    readWriteRootFilesystem, privilegeEscalation, seccomp). `base` is where the workload sits in its object."""
    out: list[Deviation] = []
    pod = workload.security
    if pod is not None:
        for field, override, attr in _POD_FIELDS:
            if getattr(pod, attr) is True:
                out.append(Deviation(override, "pod", f"{base}.security.{field}"))
    for cname, container in workload.containers.items():
        out.extend(_container_deviations(container, f"{base}.containers.{cname}.security"))
    return out


def _container_deviations(container: Container, at: str) -> Iterator[Deviation]:
    sec = container.security
    if sec is None:
        return
    seen: set[str] = set()
    for index, cap in enumerate(sec.capabilities):
        name = capability_name(cap)
        if name not in seen:
            seen.add(name)
            yield Deviation(f"capability:{name}", "capability", f"{at}.capabilities[{index}]")
    if sec.privileged is True:
        # Privileged implies escalation (the pod spec says so, as Kubernetes requires): one permit covers both.
        yield Deviation("privileged", "container", f"{at}.privileged")
    if sec.run_as_user == 0:
        yield Deviation("runAsRoot", "container", f"{at}.runAsUser")
    elif sec.run_as_non_root is False:
        yield Deviation("runAsRoot", "container", f"{at}.runAsNonRoot")
    if sec.read_only_root_filesystem is False:
        yield Deviation("readWriteRootFilesystem", "container", f"{at}.readOnlyRootFilesystem")
    if sec.allow_privilege_escalation is True:
        yield Deviation("privilegeEscalation", "container", f"{at}.allowPrivilegeEscalation")
    if sec.seccomp_profile == "Unconfined":
        yield Deviation("seccomp:Unconfined", "profile", f"{at}.seccompProfile")


def host_network(workload: Workload) -> bool:
    return workload.security is not None and workload.security.host_network is True


def problems(workload: Workload, *, routed: bool, base: str = WORKLOAD_PATH) -> list[Problem]:
    """Deviations the rest of the spec cannot work with: the ingress Gateway reaches a backend only through a
    rule naming the backend's pods (`ingress.gateways`), which never matches a host-networked pod."""
    if routed and host_network(workload):
        return [Problem(f"{base}.security.hostNetwork",
                        "a host-networked workload cannot be routed: the ingress Gateway's policy admits its backends "
                        "by their pods' identity, which host-networked pods do not have, so the route would never "
                        "connect",
                        "remove `hostNetwork`, or remove `spec.ingress`")]
    return []


def warnings(workload: Workload, *, base: str = WORKLOAD_PATH) -> list[Problem]:
    """What a permitted deviation changes beyond the pod spec, said where it is asked for."""
    out = []
    pod = workload.security
    if pod is not None and pod.host_network:
        out.append(Problem(
            f"{base}.security.hostNetwork",
            # Cilium gives host-networked pods the node's identity (its "Entities" policy docs: `host` includes
            # the containers in host networking mode on the local node, `remote-node` those on other nodes), and
            # Istio enrolls no host-networked pod (the sidecar injector skips them; ambient's CNI agent cannot
            # redirect the node's own namespace), so neither a CiliumNetworkPolicy nor an AuthorizationPolicy
            # applies to them, and no peer's policy can tell them apart from any other process on a node.
            "with `hostNetwork: true` the pods share their node's network: they are not in the mesh (no mTLS "
            "identity) and Cilium sees their traffic as the node's (`host`, `remote-node`), so no per-service "
            "policy applies to them: Lattice emits no CiliumNetworkPolicy or AuthorizationPolicy for this "
            "workload, and no peer's policy admits it (its agreed callers and callees exchange no traffic with it)"
            + ("; each pod also takes its ports on its node, so at most one pod runs per node" if workload.ports
               else ""),
            "remove `hostNetwork` unless the workload must act on the node's network; its traffic is then governed "
            "by the cluster's Cilium host policies, which the platform team owns",
        ))
    if pod is not None and pod.automount_service_account_token and not pod.host_network:
        out.append(Problem(
            f"{base}.security.automountServiceAccountToken",
            "the pods get the service account's API token, but its policy admits no traffic to the Kubernetes API "
            "server, and the service account holds no RBAC role unless one is bound to it",
            "bind the Role it needs to the ServiceAccount, and have the platform team admit the API server "
            "(Cilium entity `kube-apiserver`) for it",
        ))
    return out
