"""Admission: every gate a service must pass before it is derived, run over the fleet in the compile order.

Per-service gates first (authorization, images), then quota over the services that passed them, in order, so a
service refused for another reason never takes quota from the ones after it. A service that fails any gate
gets every reason at once and produces nothing; the others still compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lattice.api.base import Resource
from lattice.api.platform import LatticePlatformSpec
from lattice.api.quota import LatticeQuota
from lattice.api.service import LatticeService
from lattice.errors import Problem
from lattice.gates.quota import Demand, Quota, admit, demand

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


def admit_services(services: Sequence[LatticeService], gates: FleetGates,
                   platform: LatticePlatformSpec) -> list[GateReport]:
    """One report per service, in the order given (the admission order)."""
    reports = [GateReport(demand=demand(svc, platform)) for svc in services]
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
