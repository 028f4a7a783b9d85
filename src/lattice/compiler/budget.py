"""A container's CPU and memory budget: its own limits, else the platform's defaults; requests default to limits.

Most Score files set no limits. Such a container still gets limits (the platform's
`spec.defaults.resources.limits`) and requests equal to them, so it never runs unbounded and a quota counts
what it may use; the compile warns, so that the team sets what it really needs. The pod and the quota gate
both read the budget from here, so they never disagree about a container.
"""

from __future__ import annotations

from dataclasses import dataclass

from lattice.api.platform import DefaultResources
from lattice.api.quantity import parse_quantity
from lattice.api.workload import Container
from lattice.errors import Problem

FIELDS = ("cpu", "memory")


@dataclass(frozen=True, slots=True)
class Budget:
    limits: dict[str, str]
    requests: dict[str, str]
    defaulted: tuple[str, ...]
    """The limits taken from the platform's defaults, in FIELDS order."""


def budget(container: Container, defaults: DefaultResources) -> Budget:
    own_limits, own_requests = container.resources.limits, container.resources.requests
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    defaulted = []
    for field in FIELDS:
        limit = getattr(own_limits, field)
        if limit is None:
            limit = getattr(defaults.limits, field)
            defaulted.append(field)
        limits[field] = limit
        requested = getattr(own_requests, field) if own_requests is not None else None
        requests[field] = requested or limit
    return Budget(limits, requests, tuple(defaulted))


def problems(containers: dict[str, Container], defaults: DefaultResources,
             base_path: str) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings): a request above the default limit it would run under is an error; a container
    running under a default limit gets a warning naming the values."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for cname, container in containers.items():
        plan = budget(container, defaults)
        if not plan.defaulted:
            continue
        path = f"{base_path}.{cname}.resources"
        for field in plan.defaulted:
            requested, limit = plan.requests[field], plan.limits[field]
            req_value, limit_value = parse_quantity(requested), parse_quantity(limit)
            if req_value is not None and limit_value is not None and req_value > limit_value:
                errors.append(Problem(
                    f"{path}.requests.{field}",
                    f"the request ({requested}) is larger than the platform's default {field} limit ({limit}), "
                    "which applies because the container sets no limit",
                    f"set `limits: {{{field}: {requested}}}` (or more) under `resources`, or lower the request",
                ))
        shown = ", ".join(f"{field}: {plan.limits[field]}" for field in plan.defaulted)
        both = len(plan.defaulted) > 1
        what = "no limits are set" if both else f"no {plan.defaulted[0]} limit is set"
        example = ", ".join(f"{field}: {plan.limits[field]}" for field in FIELDS)
        warnings.append(Problem(
            f"{path}.limits",
            f"{what}, so the container runs under the platform's default{'s' if both else ''} ({shown}), and quotas "
            f"count {'them' if both else 'it'}; a request not given equals its limit",
            f"set what the container needs, e.g. `limits: {{{example}}}` under `resources`",
        ))
    return errors, warnings
