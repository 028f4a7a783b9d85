"""Storage: claims, pod volumes and their mounts, and the rollout a single-attach claim needs.

A `volume` resource is one of three things:
- with a `size`: a PersistentVolumeClaim this workload owns (created here);
- with an `id` and no size: a claim someone else owns (nothing is created);
- with neither: an emptyDir the pod's containers share (Score's meaning for a volume nobody provisions).
A mount without `source` (`/cache: {}`) is an emptyDir of that container alone.

A ReadWriteOnce claim attaches to one node at a time, and a ReadWriteOncePod claim to one pod
(https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes): a second pod on another node
waits in ContainerCreating on a Multi-Attach error. So a Deployment mounting one runs exactly one pod (more
replicas or an autoscaler are refused when the service is parsed, `LatticeServiceSpec`), and rolls out with
`strategy: Recreate`, which stops the old pod before it starts the new one
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#recreate-deployment); the default
rolling update would surge a second pod that never starts, and the rollout would hang.
"""

from __future__ import annotations

from lattice.api.workload import TMP_PATH, Container, Dependency, VolumeMount, Workload
from lattice.compiler import naming
from lattice.compiler.meta import Obj, owned
from lattice.errors import Problem


def claims(name: str, namespace: str, resources: dict[str, Dependency], user_labels: dict[str, str]) -> list[Obj]:
    out = []
    for rname, dep in sorted(resources.items()):
        if dep.type != "volume" or dep.params.size is None:
            continue
        obj = owned("v1", "PersistentVolumeClaim", naming.claim(name, rname, dep.id), workload=name,
                    namespace=namespace, user_labels=user_labels)
        spec: Obj = {
            "accessModes": [dep.access_mode],
            "resources": {"requests": {"storage": dep.params.size}},
        }
        if dep.params.storage_class:
            spec["storageClassName"] = dep.params.storage_class
        obj["spec"] = spec
        out.append(obj)
    return out


def mounts(cname: str, container: Container) -> list[Obj]:
    """The container's mounts of volume resources and of its own emptyDirs (the platform's /tmp aside)."""
    out: list[Obj] = []
    for target, vol in container.volumes.items():
        if target == TMP_PATH:
            continue  # `/tmp: {}` is the platform's own /tmp (see Container._platform_tmp)
        if vol.is_empty_dir:
            out.append({"name": naming.empty_dir_volume(cname, target), "mountPath": target})
            continue
        mount: Obj = {"name": naming.volume(vol.resource), "mountPath": target, "readOnly": vol.read_only}
        if vol.path:
            mount["subPath"] = vol.path
        out.append(mount)
    return out


def pod_volumes(name: str, workload: Workload) -> list[Obj]:
    """The pod's volumes for every mounted volume resource and every container's own emptyDirs."""
    out: list[Obj] = []
    mounted = {vol.resource for container in workload.containers.values()
               for vol in container.volumes.values() if not vol.is_empty_dir}
    for resource in sorted(mounted):
        dep = workload.resources[resource]
        source: Obj = ({"persistentVolumeClaim": {"claimName": naming.claim(name, resource, dep.id)}}
                       if dep.is_claim else {"emptyDir": {}})
        out.append({"name": naming.volume(resource), **source})
    for cname, container in workload.containers.items():
        for target, vol in container.volumes.items():
            if vol.is_empty_dir and target != TMP_PATH:
                out.append({"name": naming.empty_dir_volume(cname, target), "emptyDir": _empty_dir(vol)})
    return out


def _empty_dir(vol: VolumeMount) -> Obj:
    spec: Obj = {}
    if vol.medium is not None:
        spec["medium"] = vol.medium
    if vol.size_limit is not None:
        spec["sizeLimit"] = vol.size_limit
    return spec


def warnings(workload: Workload, base_path: str = "spec.workload.containers") -> list[Problem]:
    """`/tmp: {}` changes nothing: said so, so that nobody believes it configures anything."""
    return [
        Problem(f"{base_path}.{cname}.volumes.{TMP_PATH}",
                f"the platform already mounts a writable emptyDir at `{TMP_PATH}` in every container, so this "
                "entry changes nothing",
                f"remove `{TMP_PATH}: {{}}`")
        for cname, container in workload.containers.items() if TMP_PATH in container.volumes
    ]
