"""Admission: every gate a service must pass before it is derived, run over the fleet in the compile order.

Per-service gates first (authorization, images), then quota over the services that passed them, in order, so a
service refused for another reason never takes quota from the ones after it. A service that fails any gate
gets every reason at once and produces nothing; the others still compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lattice.api.base import Resource
from lattice.api.cedar_policy import CedarPolicy
from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import LatticePlatformSpec
from lattice.api.quota import LatticeQuota
from lattice.api.service import LatticeService
from lattice.compiler import security
from lattice.errors import Problem
from lattice.gates.authorization import Decision, PolicySet, Principal, Request, build_policy_set, decide
from lattice.gates.images import ImageCheck, State, decide_image
from lattice.gates.quota import Demand, Quota, admit, demand
from lattice.gates.requests import fleet_requests, image_resource

ServiceKey = tuple[str, str]
ImageChecks = Mapping[ServiceKey, Mapping[str, ImageCheck]]
"""What the registry said, per service and container, when the edge asked it (`registry.check.check_images`)."""

# The weakest trust among a service's containers is what its summary shows.
_TRUST_ORDER = (State.VERIFIED, State.PINNED, State.NOT_ENFORCED, State.NOT_VERIFIED)

GATE_CONDITIONS = {"Authorized": "Denied", "ImagesVerified": "ImageRefused", "QuotaAvailable": "OverQuota"}
"""The status condition each gate reports on, and the reason it gives when the gate refuses."""


@dataclass(slots=True)
class GateReport:
    """What the gates decided for one service: its refusals, and the cells of the compile summary."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    demand: Demand | None = None
    authorized: str = "-"
    """`yes (N)` for N decisions allowed, `denied (N)`, or `-` when the service asks for nothing."""
    images: str = "-"
    """How its images were admitted: `pinned`, `verified`, `not verified`, `not enforced`, `refused`."""
    quota: str = "-"
    """`ok`, `over`, or `-` when no quota applies to the namespace."""
    overrides: tuple[str, ...] = ()
    """The security deviations a policy permitted (`capability:NET_ADMIN`, ...)."""
    pinned_images: dict[str, str] = field(default_factory=dict)
    """Container -> the digest-pinned reference its Deployment runs, where it differs from the input."""
    image_notes: tuple[str, ...] = ()
    """What the image gate did not check (`signatures not verified`), for the summary."""
    denied_secrets: frozenset[tuple[str, str]] = frozenset()
    """(provider, path) of each secret authorization denied: the controller deletes their ExternalSecrets."""
    by_condition: dict[str, list[Problem]] = field(default_factory=dict)
    """The refusals again, by the condition of the gate that refused (GATE_CONDITIONS)."""

    def refuse(self, condition: str, problems: list[Problem]) -> None:
        assert condition in GATE_CONDITIONS, condition
        if problems:
            self.errors.extend(problems)
            self.by_condition.setdefault(condition, []).extend(problems)

    @property
    def cost(self) -> str:
        """The hourly cost at the baseline pod count, and at the most pods when it autoscales."""
        if self.demand is None:
            return "-"
        base, top = self.demand.cost_per_hour, self.demand.max_cost_per_hour
        shown = f"{base:.2f}/h"
        return shown if top == base else f"{shown} (max {top:.2f}/h)"


@dataclass(frozen=True, slots=True)
class FleetGates:
    """What the gates read of the fleet besides the services: quotas (and, with them, the policies and image
    providers), gathered once."""

    quotas: tuple[Quota, ...] = ()

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> FleetGates:
        quotas = [Quota(res.namespace, res.name, res.spec) for res in resources if isinstance(res, LatticeQuota)]
        return cls(quotas=tuple(quotas))


def admit_services(services: Sequence[LatticeService], gates: FleetGates, platform: LatticePlatformSpec,
                   image_providers: Mapping[str, ImageProviderSpec],
                   image_checks: ImageChecks | None = None,
                   authorization: FleetAuthorization | None = None) -> list[GateReport]:
    """One report per service, in the order given (the admission order). `image_checks` holds what the registry
    said when the edge asked it; a service without it is decided offline (digest, registry, trust rules).
    `authorization` holds the fleet's Cedar decisions (`authorize_fleet`)."""
    reports = [GateReport(demand=demand(svc, platform)) for svc in services]
    for svc, report in zip(services, reports, strict=True):
        if authorization is not None:
            _authorization(report, authorization.decisions.get((svc.namespace, svc.name), ()))
        checks = (image_checks or {}).get((svc.namespace, svc.name)) or offline_image_checks(
            svc, image_providers, platform)
        _images(report, svc, checks)
    limited = {quota.namespace for quota in gates.quotas}
    candidates = [report.demand for report in reports if not report.errors and report.demand is not None]
    refused = admit(candidates, gates.quotas)
    for svc, report in zip(services, reports, strict=True):
        if svc.namespace not in limited:
            continue
        over = refused.get((svc.namespace, svc.name))
        if over:
            report.refuse("QuotaAvailable", over)
        report.quota = "over" if over else "ok" if not report.errors else "-"
    return reports


def offline_image_checks(svc: LatticeService, providers: Mapping[str, ImageProviderSpec],
                         platform: LatticePlatformSpec) -> dict[str, ImageCheck]:
    """The image gate without a registry: digest, listed registry and trust rules only."""
    return {name: decide_image(container=name, reference=container.image, providers=providers,
                               images=platform.images)
            for name, container in svc.spec.workload.containers.items()}


def _images(report: GateReport, svc: LatticeService, checks: Mapping[str, ImageCheck]) -> None:
    problems = [problem for check in checks.values() for problem in check.problems]
    report.refuse("ImagesVerified", problems)
    if problems:
        report.images = "refused"
        return
    states = {check.state for check in checks.values()}
    report.images = next((str(state) for state in reversed(_TRUST_ORDER) if state in states), "-")
    report.image_notes = tuple(dict.fromkeys(note for check in checks.values() for note in check.notes))
    report.pinned_images = {name: check.pinned for name, check in checks.items()
                            if check.pinned != svc.spec.workload.containers[name].image}


@dataclass(frozen=True, slots=True)
class FleetAuthorization:
    """Every Cedar decision of the fleet, made in one batch before the graph is built (a wildcard caller edge
    exists only with its `AllowWildcard` permit)."""

    policy_set: PolicySet
    decisions: Mapping[ServiceKey, tuple[Decision, ...]] = field(default_factory=dict)

    @property
    def wildcard_callees(self) -> frozenset[ServiceKey]:
        return frozenset(key for key, decisions in self.decisions.items()
                         if any(d.allowed and d.request.action == "AllowWildcard" for d in decisions))


def service_deviations(service: LatticeService) -> list[tuple[str, str, str]]:
    """(override id, category, field path) of each deviation from the restricted defaults: OverrideSecurity asks."""
    return [(d.id, d.category, d.path) for d in security.deviations(service.spec.workload)]


def authorize_fleet(resources: Iterable[Resource], platform: LatticePlatformSpec) -> FleetAuthorization:
    """The CedarPolicies of the fleet as one policy set, and every request its services make, decided."""
    listed = list(resources)
    policy_set = build_policy_set(r for r in listed if isinstance(r, CedarPolicy))
    services = [r for r in listed if isinstance(r, LatticeService)]
    if not services:
        return FleetAuthorization(policy_set)
    requests = fleet_requests(services, default_provider=platform.secrets.default_provider,
                              deviations=service_deviations)
    by_service: dict[ServiceKey, list[Decision]] = {}
    for decision in decide(policy_set, requests):
        principal = decision.request.principal
        by_service.setdefault((principal.namespace, principal.name), []).append(decision)
    return FleetAuthorization(policy_set, {key: tuple(ds) for key, ds in by_service.items()})


def skip_verification(service: LatticeService, policy_set: PolicySet) -> frozenset[str]:
    """The containers whose image a `SkipImageVerification` permit exempts from signature checks (asked only
    when signatures are checked: the CLI's --verify-images and the controller)."""
    principal = Principal(service.namespace, service.name, "service", dict(service.metadata.labels))
    requests = [Request(principal, "SkipImageVerification", image_resource(c.image),
                        f"spec.workload.containers.{name}.image")
                for name, c in service.spec.workload.containers.items()]
    return frozenset(d.request.path.split(".")[3] for d in decide(policy_set, requests) if d.allowed)


def _authorization(report: GateReport, decisions: Sequence[Decision]) -> None:
    denied = [d for d in decisions if not d.allowed]
    report.refuse("Authorized", [d.problem for d in denied if d.problem is not None])
    asked = [d for d in decisions if d.request.action != "DeployImage"]  # images need no permit: not counted
    if denied:
        report.authorized = f"denied ({len(denied)} of {len(decisions)})"
    elif asked:
        report.authorized = f"yes ({len(asked)})"
    report.overrides = tuple(d.request.resource.id for d in decisions
                             if d.allowed and d.request.action == "OverrideSecurity")
    report.denied_secrets = frozenset(
        (str(d.request.resource.attrs["provider"]), str(d.request.resource.attrs["path"]))
        for d in denied if d.request.action == "AccessSecret")
