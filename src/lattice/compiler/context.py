"""What a compile may know about the world, resolved beforehand so that compiling stays pure.

The CLI builds it from the files it read; the controller from the cluster. The compiler only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lattice.api.image_provider import ImageProviderSpec
from lattice.api.platform import DEFAULT_PLATFORM, LatticePlatformSpec
from lattice.api.secret_provider import SecretProviderSpec
from lattice.api.workload import ServicePort
from lattice.graph import FleetGraph

if TYPE_CHECKING:
    from lattice.gates.admission import FleetAuthorization

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class CompileContext:
    """The platform's opinions and what the fleet knows about other workloads (the graph)."""

    platform: LatticePlatformSpec = DEFAULT_PLATFORM
    graph: FleetGraph = field(default_factory=FleetGraph)
    # SecretProviders by name (each becomes a ClusterSecretStore of that name).
    secret_providers: Mapping[str, SecretProviderSpec] = field(default_factory=dict)
    # ImageProviders by name: which registries the platform knows and how to pull from them.
    image_providers: Mapping[str, ImageProviderSpec] = field(default_factory=dict)
    # Workloads of the fleet that are not in the graph because they failed (did not parse, or are defined
    # twice): peers learn that they failed rather than that they are missing or have not agreed.
    failed: frozenset[ServiceKey] = frozenset()
    # The fleet's Cedar decisions (the gates read them; the derivation does not).
    authorization: FleetAuthorization | None = None

    def ports_of(self, namespace: str, name: str) -> Mapping[str, ServicePort] | None:
        """The ports another workload in the fleet declares, or None when it is not in the fleet."""
        node = self.graph.nodes.get((namespace, name))
        return node.ports if node is not None else None
