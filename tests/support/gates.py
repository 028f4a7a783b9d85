"""Tests of the derivation open the gates explicitly: they are about what a service compiles to, not whether it
may. `compile_fleet` here is `lattice.fleet.compile_fleet` over the fleet plus what admits it: an ImageProvider
(trust not enforced) for every registry its services use, and a platform that accepts tags. The gates' own
tests (tests/test_gates.py, test_quota.py, test_image_gate.py, ...) use the real defaults, closed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

from lattice.api import parse_resource
from lattice.api.platform import LatticePlatform
from lattice.api.service import LatticeService
from lattice.errors import ObjectRef
from lattice.fleet import FleetResult, Sourced
from lattice.fleet import compile_fleet as _compile_fleet
from lattice.gates.admission import ImageChecks
from lattice.gates.images import InvalidReference, parse_reference

SOURCE = "tests/support/gates.py"
GATES = Path(__file__).resolve().parent.parent / "inputs" / "gates"


def admitting(*paths: str | Path) -> list[str]:
    """`paths` plus the files that admit them, for CLI tests: the registry, and a platform accepting tags when
    none of the inputs brings its own LatticePlatform."""
    files = [f for p in map(Path, paths) if p.exists() for f in ([p] if p.is_file() else sorted(p.rglob("*.y*ml")))]
    own_platform = any("kind: LatticePlatform" in f.read_text(errors="replace") for f in files)
    return [*map(str, paths), str(GATES / "admit.yaml"), *([] if own_platform else [str(GATES / "platform.yaml")])]


def open_gates(items: list[Sourced]) -> list[Sourced]:
    registries: set[str] = set()
    platform_seen = False
    out = []
    for item in items:
        res = item.resource
        if isinstance(res, LatticeService):
            for container in res.spec.workload.containers.values():
                with contextlib.suppress(InvalidReference):
                    registries.add(parse_reference(container.image).registry)
        if isinstance(res, LatticePlatform):
            platform_seen = True
            images = res.spec.images.model_copy(update={"require_digest": False})
            item = Sourced(item.source, res.model_copy(update={"spec": res.spec.model_copy(
                update={"images": images})}), item.line)
        out.append(item)
    for registry in sorted(registries):
        out.append(Sourced(SOURCE, parse_resource({
            "apiVersion": "lattice.dev/v1alpha1", "kind": "ImageProvider",
            "metadata": {"name": "test-" + registry.replace(".", "-").replace(":", "-").replace("/", "-")},
            "spec": {"registry": registry, "trust": {"enforce": False}}})))
    if not platform_seen:
        out.append(Sourced(SOURCE, parse_resource({
            "apiVersion": "lattice.dev/v1alpha1", "kind": "LatticePlatform", "metadata": {"name": "default"},
            "spec": {"images": {"requireDigest": False}}})))
    return out


def compile_fleet(items: list[Sourced], failed: Iterable[ObjectRef] = (),
                  image_checks: ImageChecks | None = None) -> FleetResult:
    return _compile_fleet(open_gates(items), failed, image_checks)
