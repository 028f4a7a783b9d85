"""What a compile may know about the world, resolved beforehand so that compiling stays pure.

The CLI builds it from the files it read; the controller from the cluster. The compiler only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lattice.api.platform import DEFAULT_PLATFORM, LatticePlatformSpec
from lattice.api.workload import ServicePort

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class CompileContext:
    """The platform's opinions and what the fleet knows about other services."""

    platform: LatticePlatformSpec = DEFAULT_PLATFORM
    service_ports: Mapping[ServiceKey, Mapping[str, ServicePort]] = field(default_factory=dict)

    def ports_of(self, namespace: str, name: str) -> Mapping[str, ServicePort] | None:
        """The ports another service in the fleet declares, or None when it is not in the fleet."""
        return self.service_ports.get((namespace, name))
