"""The pod template: hardened by default, configured from the derived config, spread across zones.

Restricted is the default (Pod Security Standards "restricted"); every deviation comes from an explicit
`security` block, on the container or on the workload (the pod-level settings), never from a flag that is off
by default; `lattice.compiler.security` lists them for the authorization gate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lattice.api.platform import DefaultResources, LatticePlatformSpec
from lattice.api.workload import Container, Dependency, Probe, ServicePort, Workload
from lattice.compiler import gpu as gpus
from lattice.compiler import naming, security, storage
from lattice.compiler.budget import Budget, budget
from lattice.compiler.config import ContainerConfig, WorkloadConfig
from lattice.compiler.meta import Obj

GPU_RESOURCE = "nvidia.com/gpu"
FILES_GROUP = 65534
# The user (and primary group) a non-root container runs as unless it names its own. With `runAsNonRoot` and
# no `runAsUser`, the kubelet must check the image's USER before starting it, and refuses an image whose USER
# is a name ("container has runAsNonRoot and image has non-numeric user (...), cannot verify user is
# non-root": `verifyRunAsNonRoot`, kubernetes pkg/kubelet/kuberuntime/security_context_others.go); with a
# numeric `runAsUser` it starts every image, never as root. 65532 is the "nonroot" user of distroless images.
# An image that needs its own numeric user (files it owns with mode 0600, say) sets `security.runAsUser`.
NON_ROOT_USER = 65532


def config_hash(items: Any) -> str:
    """A short, stable digest of everything the pod reads, so that a config change rolls the pods."""
    blob = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pod_template(
    *,
    name: str,
    workload: Workload,
    config: WorkloadConfig,
    platform: LatticePlatformSpec,
    user_labels: dict[str, str],
    hash_input: Any,
) -> Obj:
    ports = workload.ports
    host_network = security.host_network(workload)
    containers = []
    for index, (cname, container) in enumerate(workload.containers.items()):
        containers.append(
            _container(cname, container, config.containers[cname], ports if index == 0 else {},
                       gpu=_gpu(workload.resources) if index == 0 else None, defaults=platform.defaults.resources,
                       host_network=host_network)
        )
    pod_security = workload.security
    spec: Obj = {
        "serviceAccountName": naming.service_account(name),
        "automountServiceAccountToken": bool(pod_security and pod_security.automount_service_account_token),
        "enableServiceLinks": False,
        **_host_namespaces(workload),
        "securityContext": {
            "runAsNonRoot": _pod_runs_as_non_root(workload),
            "seccompProfile": {"type": "RuntimeDefault"},
            # Mounted files (ConfigMaps, Secrets, volumes) are group-owned by this group, which every
            # container process holds, so a non-root process can read a file of mode 0440.
            "fsGroup": FILES_GROUP,
            "fsGroupChangePolicy": "OnRootMismatch",
        },
        "containers": containers,
        "volumes": _volumes(name, workload, config),
        **({"imagePullSecrets": [{"name": secret} for secret in config.image_pull_secrets]}
           if config.image_pull_secrets else {}),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": naming.selector(name)},
                "matchLabelKeys": ["pod-template-hash"],
            }
            for key in (platform.topology.zone_key, platform.topology.host_key)
        ],
    }
    gpu = _gpu(workload.resources)
    if gpu is not None:
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
        if gpu.params.model:
            spec["affinity"] = gpus.node_affinity(gpu.params.model, platform.gpu)
    # Istio enrolls no host-networked pod (see `security.warnings`): labels saying otherwise would mislead.
    labels, annotations = mesh_enrollment(platform) if not host_network else ({}, {})
    return {
        "metadata": {
            # The pods carry the workload's own labels too (`spec.workload.labels`, pod-only); ours win.
            "labels": {**naming.labels(name, {**user_labels, **workload.labels}), **labels},
            "annotations": {naming.CONFIG_HASH_ANNOTATION: config_hash(hash_input), **annotations},
        },
        "spec": spec,
    }


def mesh_enrollment(platform: LatticePlatformSpec) -> tuple[dict[str, str], dict[str, str]]:
    """The pod labels and annotations that put a compiled pod in the mesh; without them no policy and no
    STRICT mTLS applies to it.

    Ambient: the pod label `istio.io/dataplane-mode: ambient` (Istio enrolls a labelled pod as it does a
    labelled namespace; Lattice does not own namespaces). ztunnel's DNS capture (on by default since Istio
    1.25) is turned off per pod: ztunnel would answer ServiceEntry hosts with addresses of its own and dial
    them itself, so Cilium's DNS proxy would never see the lookups that `toFQDNs` learns addresses from, and
    the egress rules to external hosts would match nothing. With capture off, Cilium's DNS proxy is the one
    resolver path, and the DNS rules are exactly what the pod can resolve (Istio 1.25 release notes:
    `ambient.istio.io/dns-capture`).

    Sidecar: the pod label `sidecar.istio.io/inject: "true"`. The restricted pod security holds only with
    the Istio CNI node agent installed: it sets up traffic redirection instead of the `istio-init` container,
    which needs NET_ADMIN and NET_RAW (https://istio.io/latest/docs/setup/additional-setup/cni/); the injected
    containers then run as non-root UID 1337 with every capability dropped."""
    if platform.mesh.mode == "ambient":
        return {naming.DATAPLANE_MODE_LABEL: "ambient"}, {naming.DNS_CAPTURE_ANNOTATION: "false"}
    return {naming.SIDECAR_INJECT_LABEL: "true"}, {}


def probe_ports(workload: Workload) -> tuple[tuple[int, str], ...]:
    """The ports the kubelet connects to for the workload's probes (named ports resolved through the first
    container's ports, which carry the service ports; exec probes use no port)."""
    by_name = {name: port.container_port for name, port in workload.ports.items()}
    found: set[int] = set()
    for index, container in enumerate(workload.containers.values()):
        probes = [container.liveness_probe, container.readiness_probe, container.startup_probe]
        for probe in probes:
            port: int | str | None = None
            if probe is None:
                continue
            if probe.http_get is not None:
                port = probe.http_get.port
            elif probe.tcp_socket is not None:
                port = probe.tcp_socket.port
            elif probe.grpc is not None:
                port = probe.grpc.port
            if isinstance(port, str):
                port = by_name.get(port) if index == 0 else None
            if port is not None:
                found.add(port)
        if index == 0 and container.readiness_probe is None and workload.ports:
            found.add(next(iter(workload.ports.values())).container_port)  # the default TCP readiness probe
    return tuple((port, "TCP") for port in sorted(found))


def _host_namespaces(workload: Workload) -> Obj:
    """The pod-level deviations asked for, and only those (a field left out is Kubernetes' default, false).

    A host-networked pod resolves names through the node's resolver unless its DNS policy says
    `ClusterFirstWithHostNet` (Kubernetes "DNS for Services and Pods", Pod's DNS Policy: `ClusterFirst` falls
    back to `Default` for a hostNetwork pod); with it, the pod still finds its peers by their Service names."""
    sec = workload.security
    if sec is None:
        return {}
    out: Obj = {}
    if sec.host_network:
        out["hostNetwork"] = True
        out["dnsPolicy"] = "ClusterFirstWithHostNet"
    if sec.host_pid:
        out["hostPID"] = True
    if sec.share_process_namespace:
        out["shareProcessNamespace"] = True
    return out


def _pod_runs_as_non_root(workload: Workload) -> bool:
    for container in workload.containers.values():
        sec = container.security
        if sec is not None and (sec.run_as_non_root is False or sec.run_as_user == 0):
            return False
    return True


def _gpu(resources: dict[str, Dependency]) -> Dependency | None:
    return next((dep for dep in resources.values() if dep.type == "gpu"), None)


def _container(cname: str, container: Container, cfg: ContainerConfig, ports: dict[str, ServicePort],
               gpu: Dependency | None, defaults: DefaultResources, host_network: bool) -> Obj:
    out: Obj = {
        "name": cname,
        "image": container.image,
        "imagePullPolicy": "IfNotPresent" if "@" in container.image else "Always",
        "resources": _resources(budget(container, defaults), gpu),
        "securityContext": _security_context(container),
        "volumeMounts": _mounts(cname, container, cfg),
    }
    if cfg.command is not None:
        out["command"] = cfg.command
    if cfg.args is not None:
        out["args"] = cfg.args
    env_from: list[Obj] = [{"configMapRef": {"name": cfg.env_config_map}}] if cfg.env_config_map else []
    env_from += [{"secretRef": {"name": secret}} for secret in cfg.env_from_secrets]
    if env_from:
        out["envFrom"] = env_from
    if cfg.secret_env:  # explicit env wins over envFrom, so a routed secret variable is never shadowed
        out["env"] = [{"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret, "key": e.key}}}
                      for e in sorted(cfg.secret_env, key=lambda e: e.name)]
    if ports:
        # A host-networked container listens on the node itself: Kubernetes sets (and requires) hostPort equal
        # to containerPort (core defaulting and validation, validateHostNetwork). Written out, the scheduler's
        # view is in the output: two such pods never share a node.
        out["ports"] = [
            {"name": pname, "containerPort": p.container_port, "protocol": p.protocol,
             **({"hostPort": p.container_port} if host_network else {})}
            for pname, p in sorted(ports.items())
        ]
    for field, probe in (("livenessProbe", container.liveness_probe),
                         ("readinessProbe", container.readiness_probe),
                         ("startupProbe", container.startup_probe)):
        if probe is not None:
            out[field] = _probe(cfg.probes.get(field, probe))
    if container.readiness_probe is None and ports:
        first = next(iter(ports))
        out["readinessProbe"] = {"tcpSocket": {"port": first}, "periodSeconds": 10}
    return out


def _resources(plan: Budget, gpu: Dependency | None) -> Obj:
    limits, requests = dict(plan.limits), dict(plan.requests)
    if gpu is not None and gpu.params.count:
        limits[GPU_RESOURCE] = str(gpu.params.count)
        requests[GPU_RESOURCE] = str(gpu.params.count)
    return {"limits": limits, "requests": requests}


def _security_context(container: Container) -> Obj:
    sec = container.security
    ctx: Obj = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if sec is None:
        return {**ctx, "runAsUser": NON_ROOT_USER, "runAsGroup": NON_ROOT_USER}
    if sec.capabilities:
        ctx["capabilities"]["add"] = sorted(set(sec.capabilities))
    for field, value in (("allowPrivilegeEscalation", sec.allow_privilege_escalation),
                         ("privileged", sec.privileged),
                         ("readOnlyRootFilesystem", sec.read_only_root_filesystem),
                         ("runAsNonRoot", sec.run_as_non_root),
                         ("runAsUser", sec.run_as_user),
                         ("runAsGroup", sec.run_as_group)):
        if value is not None:
            ctx[field] = value
    if sec.run_as_user == 0 and sec.run_as_non_root is None:
        ctx["runAsNonRoot"] = False
    if ctx["runAsNonRoot"] and sec.run_as_user is None:
        ctx["runAsUser"] = NON_ROOT_USER
        if sec.run_as_group is None:
            ctx["runAsGroup"] = NON_ROOT_USER
    if sec.privileged:
        ctx["allowPrivilegeEscalation"] = True
    if sec.seccomp_profile is not None:
        ctx["seccompProfile"] = {"type": sec.seccomp_profile}  # the container's own wins over the pod's
    return ctx


def _probe(probe: Probe) -> Obj:
    out: Obj
    if probe.http_get is not None:
        http: Obj = {"path": probe.http_get.path, "port": probe.http_get.port, "scheme": probe.http_get.scheme}
        if probe.http_get.host:
            http["host"] = probe.http_get.host
        if probe.http_get.http_headers:
            http["httpHeaders"] = [{"name": h.name, "value": h.value} for h in probe.http_get.http_headers]
        out = {"httpGet": http}
    elif probe.exec is not None:
        out = {"exec": {"command": list(probe.exec.command)}}
    elif probe.tcp_socket is not None:
        out = {"tcpSocket": {"port": probe.tcp_socket.port}}
    else:
        assert probe.grpc is not None
        grpc: Obj = {"port": probe.grpc.port}
        if probe.grpc.service is not None:
            grpc["service"] = probe.grpc.service
        out = {"grpc": grpc}
    for field in ("initial_delay_seconds", "period_seconds", "timeout_seconds", "failure_threshold",
                  "success_threshold"):
        value = getattr(probe, field)
        if value is not None:
            out[Probe.model_fields[field].alias or field] = value
    return out


def _mounts(cname: str, container: Container, cfg: ContainerConfig) -> list[Obj]:
    mounts: list[Obj] = [{"name": naming.TMP_VOLUME, "mountPath": "/tmp"}]
    for target, key, _mode in cfg.file_mounts:
        mounts.append({"name": naming.files_volume(cname), "mountPath": target, "subPath": key, "readOnly": True})
    for file in cfg.secret_files:
        mounts.append({"name": file.volume, "mountPath": file.target, "subPath": file.key, "readOnly": True})
    mounts.extend(storage.mounts(cname, container))
    return sorted(mounts, key=lambda m: (m["mountPath"], m["name"]))


def _volumes(name: str, workload: Workload, config: WorkloadConfig) -> list[Obj]:
    volumes: list[Obj] = [{"name": naming.TMP_VOLUME, "emptyDir": {}}]
    for cname, cfg in config.containers.items():
        if cfg.files_config_map:
            items = []
            for _target, key, mode in cfg.file_mounts:
                item: Obj = {"key": key, "path": key}
                if mode is not None:
                    item["mode"] = mode
                items.append(item)
            volumes.append({"name": naming.files_volume(cname),
                            "configMap": {"name": cfg.files_config_map, "items": items}})
        secret_volumes: dict[str, tuple[str, list[Obj]]] = {}
        for file in cfg.secret_files:
            secret_item: Obj = {"key": file.key, "path": file.key}
            if file.mode is not None:
                secret_item["mode"] = file.mode
            secret_volumes.setdefault(file.volume, (file.secret, []))[1].append(secret_item)
        for volume, (secret, items) in secret_volumes.items():
            volumes.append({"name": volume, "secret": {"secretName": secret, "items": items}})
    volumes.extend(storage.pod_volumes(name, workload))
    return sorted(volumes, key=lambda v: v["name"])
