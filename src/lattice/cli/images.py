"""`--resolve` and `--verify-images`: the CLI asks the registries about every service's images before the gates
decide (the only network calls the CLI makes, and only when asked). Shows progress on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.progress import Progress

from lattice.api.service import LatticeService
from lattice.errors import ObjectRef
from lattice.fleet import Sourced, check_fleet
from lattice.gates.admission import ImageChecks, skip_verification
from lattice.registry.auth_file import auth_file_path, read_credentials
from lattice.registry.check import check_images
from lattice.registry.client import RegistryClient
from lattice.registry.signatures import VerificationCache


def registry_facts(items: list[Sourced], failed: Iterable[ObjectRef], *, resolve: bool, verify: bool) -> ImageChecks:
    """Per service and container, what its registry says (digest; signatures when `verify`). Logins come from
    the auth file `docker login` writes (`lattice.registry.auth_file`); LatticeError when it is unreadable."""
    auth_file = auth_file_path()
    credentials = read_credentials(auth_file) if auth_file is not None else {}
    _, context, _ = check_fleet(items, failed)
    services = [item.resource for item in items if isinstance(item.resource, LatticeService)]
    out = {}
    cache = VerificationCache()
    console = Console(stderr=True)
    with RegistryClient(credentials=credentials) as client, Progress(console=console, transient=True,
                                               disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("verifying images" if verify else "resolving tags", total=len(services))
        for svc in services:
            refs = {name: container.image for name, container in svc.spec.workload.containers.items()}
            skip = skip_verification(svc, context.authorization.policy_set) \
                if verify and context.authorization is not None else frozenset()
            out[(svc.namespace, svc.name)] = check_images(
                refs, context.image_providers, context.platform.images, resolve=resolve, verify=verify,
                client=client, cache=cache, skip_verification=skip)
            progress.advance(task)
    return out
