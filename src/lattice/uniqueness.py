"""No two things the fleet emits may share a name: the safety net under every naming rule.

Generated names join parts with `-` (`<service>-<resource>`), so distinct inputs can meet: service `a-b` with
secret `c` and service `a` with secret `b-c` both yield ExternalSecret and Secret `a-b-c`, and one would read
the other's secret. Whatever the naming rules miss, this check sees, because it reads the emitted objects: their
(API group, kind, namespace, name), the Secrets that ExternalSecrets (`spec.target.name`, else their own name) and
Certificates (`spec.secretName`) create, the hosts routes claim, and inside each pod template the volume names,
each container's mount paths and each volume's item keys.

Pure: objects in, conflicts out. Which side fails is decided here, never by file order: when two workloads
collide both fail (neither may silently own the name); a workload colliding with the platform's own objects
fails alone (the platform's objects are not optional).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lattice.errors import Problem

Obj = dict[str, Any]
PLATFORM = -1  # the owner index of the platform's own objects (cluster-wide and per-namespace)


@dataclass(frozen=True, slots=True)
class Claim:
    """One name an object takes: `key` identifies what must be unique; `what` says it as users read it."""

    key: tuple[str, ...]
    kind: str  # the kind named (`Secret` for a created Secret, `host` for a route's host)
    name: str
    namespace: str = ""
    created_by: tuple[str, str] | None = None  # (kind, name) of the object that creates this Secret
    shared_within_owner: bool = False  # one workload's routes (and its redirect) may all claim one host

    @property
    def what(self) -> str:
        if self.kind == "host":
            return f"host `{self.name}`"
        shown = _shown(self.kind, self.namespace, self.name)
        if self.created_by is None:
            return shown
        creator_kind, creator = self.created_by
        return f"{shown} (created by {_shown(creator_kind, self.namespace, creator)})"


@dataclass(frozen=True, slots=True)
class Conflict:
    """`claim` of `owner` is also taken by `other` (`PLATFORM`, or the owner itself for a twice-generated name)."""

    owner: int
    other: int
    claim: Claim
    other_claim: Claim


@dataclass(frozen=True, slots=True)
class PodProblem:
    """Two entries of one pod template that Kubernetes requires to differ (`volume` names the repeated volume)."""

    owner: int
    what: str
    volume: str | None = None


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _shown(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def claims(obj: Obj) -> Iterator[Claim]:
    """Every name one emitted object takes."""
    kind, meta = obj["kind"], obj["metadata"]
    namespace, name = meta.get("namespace") or "", meta["name"]
    yield Claim(("object", _group(obj["apiVersion"]), kind, namespace, name), kind, name, namespace)
    if kind == "ExternalSecret":
        created = (obj["spec"].get("target") or {}).get("name") or name
    elif kind == "Certificate":
        created = obj["spec"].get("secretName")
    elif kind in ("HTTPRoute", "GRPCRoute"):
        for host in obj["spec"].get("hostnames") or ():
            yield Claim(("host", host), "host", host, shared_within_owner=True)
        return
    else:
        return
    if created is not None:
        yield Claim(("object", "", "Secret", namespace, created), "Secret", created, namespace, (kind, name))


def _keys(obj: Obj) -> Iterator[tuple[str, ...]]:
    """The keys of `claims(obj)`, without building claims: the check's hot path over every emitted object."""
    kind, meta = obj["kind"], obj["metadata"]
    if kind in _MORE_THAN_A_NAME:
        yield from (claim.key for claim in claims(obj))
    else:
        yield ("object", _group(obj["apiVersion"]), kind, meta.get("namespace") or "", meta["name"])


_MORE_THAN_A_NAME = frozenset({"ExternalSecret", "Certificate", "HTTPRoute", "GRPCRoute"})


def _claim(obj: Obj, key: tuple[str, ...]) -> Claim:
    return next(claim for claim in claims(obj) if claim.key == key)


def conflicts(owners: Sequence[tuple[int, Iterable[Obj]]]) -> list[Conflict]:
    """Every claim taken twice: by two owners, or twice by one. Reported once per (owner, other, name)."""
    first: dict[tuple[str, ...], tuple[int, Obj]] = {}
    out: list[Conflict] = []
    reported: set[tuple[int, int, tuple[str, ...]]] = set()

    def report(owner: int, other: int, claim: Claim, other_claim: Claim) -> None:
        ident = (owner, other, claim.key[-1:] if claim.key[0] == "host" else claim.key[3:])
        if owner != PLATFORM and ident not in reported:
            reported.add(ident)
            out.append(Conflict(owner, other, claim, other_claim))

    for owner, objects in owners:
        for obj in objects:
            for key in _keys(obj):
                seen = first.get(key)
                if seen is None:
                    first[key] = (owner, obj)
                    continue
                other, other_obj = seen
                claim, other_claim = _claim(obj, key), _claim(other_obj, key)
                if other == owner and claim.shared_within_owner:
                    continue
                report(owner, other, claim, other_claim)
                if other != owner:
                    report(other, owner, other_claim, claim)
    return out


def pod_problems(owner: int, objects: Iterable[Obj]) -> list[PodProblem]:
    """Inside each pod template: volume names, each container's mount paths, each volume's item keys and paths."""
    out: list[PodProblem] = []
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        template = (obj.get("spec") or {}).get("template")
        if not template:
            continue
        pod = template.get("spec") or {}
        where = _shown(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        volumes = pod.get("volumes") or []
        for name in _repeated(v["name"] for v in volumes):
            out.append(PodProblem(owner, f"the pod of {where} would have two volumes named `{name}`", name))
        for volume in volumes:
            source = volume.get("configMap") or volume.get("secret") or {}
            items = source.get("items") or []
            for field in ("key", "path"):
                for value in _repeated(item[field] for item in items):
                    out.append(PodProblem(owner, f"the volume `{volume['name']}` of {where} would hold two files "
                                                 f"under the {field} `{value}`"))
        for container in pod.get("containers") or []:
            for path in _repeated(m["mountPath"] for m in container.get("volumeMounts") or []):
                out.append(PodProblem(owner, f"the container `{container['name']}` of {where} would mount two "
                                             f"things at `{path}`"))
    return out


def _repeated(values: Iterable[str]) -> list[str]:
    values = list(values)
    if len(set(values)) == len(values):
        return []
    seen: set[str] = set()
    twice: list[str] = []
    for value in values:
        if value in seen and value not in twice:
            twice.append(value)
        seen.add(value)
    return twice


@dataclass(frozen=True, slots=True)
class Owner:
    """A compiled workload as the check needs it: what it is, where it was written, what it emits, and which of
    its input fields generates a (kind, name), so that a conflict points at the field to rename."""

    ref: str
    location: str
    objects: list[Obj]
    paths: Callable[[str, str], list[str]]


def check(owners: Sequence[Owner], platform_objects: Iterable[Obj]) -> dict[int, list[Problem]]:
    """The problems of each owner (by index) whose emitted names collide; owners not in the answer are clean."""
    found = conflicts([(PLATFORM, list(platform_objects)), *enumerate(o.objects for o in owners)])
    out: dict[int, list[Problem]] = {}
    for conflict in found:
        out.setdefault(conflict.owner, []).append(_problem(conflict, owners))
    for index, owner in enumerate(owners):
        for pod in pod_problems(index, owner.objects):
            paths = owner.paths("volume", pod.volume) if pod.volume else []
            sources = [p for p in paths if p != "metadata.name"]
            what = pod.what + (f" (from `{'` and `'.join(sources)}`)" if len(sources) > 1 else "")
            out.setdefault(index, []).append(Problem(
                sources[-1] if sources else "spec.workload.containers", what,
                f"rename a container, secret provider or volume resource so that the names differ ({_JOIN_HINT})"))
    return out


_JOIN_HINT = "generated names join their parts with `-`, so service `a-b` with `c` meets service `a` with `b-c`"


def _problem(conflict: Conflict, owners: Sequence[Owner]) -> Problem:
    owner, claim, other_claim = owners[conflict.owner], conflict.claim, conflict.other_claim
    path = owner.paths(claim.kind, claim.name)[0]
    if conflict.other == PLATFORM:
        return Problem(path, f"{claim.what} is one of the platform's own objects; a workload may not take it",
                       "rename the workload or this field so that the generated name differs")
    if conflict.other == conflict.owner:
        paths = list(dict.fromkeys([*owner.paths(other_claim.kind, other_claim.name),
                                    *owner.paths(claim.kind, claim.name)]))
        first, second = paths[0], paths[-1]
        return Problem(second, f"{claim.what} would be generated twice, from `{first}` and from `{second}`",
                       f"rename one of them so that the generated names differ ({_JOIN_HINT})")
    other = owners[conflict.other]
    other_path = other.paths(other_claim.kind, other_claim.name)[0]
    if claim.key[0] == "host":
        return Problem(path, f"{claim.what} is also routed by {other.ref} ({other.location}, `{other_path}`); "
                             "one host is served by one service, so neither is compiled",
                       "route the host from one of the two services only, or give one of the routes another host")
    hint = f"rename this field or the service so that the generated names differ ({_JOIN_HINT})"
    if claim.kind == "PersistentVolumeClaim" and path.endswith(".id"):
        hint = ("a shared claim has one owner: keep `params.size` on one of them and remove it from the other, "
                "which then mounts the claim by its `id`")
    if claim.kind in ("ExternalSecret", "Secret") and path.startswith("spec.workload.resources."):
        resource = path.split(".")[3]
        hint = (f"rename the secret resource `{resource}` (set `id` to keep its path in the provider) or the "
                f"service ({_JOIN_HINT})")
    return Problem(path, f"{claim.what} is also generated by {other.ref} ({other.location}, `{other_path}`); "
                         "neither is compiled, so that neither can read or overwrite the other's", hint)
