"""`lattice controller`: kopf watches every Lattice kind and every kind Lattice writes and feeds the reconciler;
lightkube writes. kopf's peering elects one active replica (the others keep watching and take over when it
stops), so two replicas never both write. `/healthz` and `/metrics` are served on one port; logs are JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web
from lightkube import AsyncClient, KubeConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lattice.api.base import API_GROUP, API_VERSION
from lattice.api.parse import KINDS as SOURCE_KINDS
from lattice.compiler import naming
from lattice.controller import plan
from lattice.controller.cluster import Cluster
from lattice.controller.rechecks import RecheckSchedule
from lattice.controller.reconciler import Reconciler
from lattice.registry.auth_file import AuthFile, auth_file_path

PEERING_NAME = "lattice"
QUIET_LOGGERS = ("httpx2", "httpx", "kopf.objects", "aiohttp.access")
"""Loggers kept to warnings: lightkube's HTTP client and the registry client's (each request), kopf's
per-object logger (each handled event) and the health server's access log (each probe)."""


class _NoDiffBase(kopf.DiffBaseStorage):
    """No last-handled state. kopf builds an object's "essence" (a deep copy of its body) on every watch event
    to diff it for on-change handlers; Lattice has only on-event handlers, which get no diff, and the copies of
    every Deployment status update were a tenth of the controller's CPU at 1,000 services."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def registry_for(reconciler: Reconciler) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> Any:
        if os.environ.get("KUBECONFIG"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        settings.posting.enabled = False  # our Events are written by the reconciler, about the source objects
        settings.persistence.diffbase_storage = _NoDiffBase()
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        memo.task = asyncio.get_running_loop().create_task(reconciler.run())

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Any, **_: Any) -> None:
        task = getattr(memo, "task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    for kind, cls in SOURCE_KINDS.items():
        def source_handler(kind: str = kind) -> Any:
            async def handler(event: Any, **_: Any) -> None:
                reconciler.observe_source(kind, event["object"], deleted=event["type"] == "DELETED")
            return handler
        kopf.on.event(API_GROUP, API_VERSION, cls.PLURAL, registry=registry, id=f"source-{cls.PLURAL}")(
            source_handler())

    async def owned(event: Any, **_: Any) -> None:
        reconciler.observe_owned(event["object"], deleted=event["type"] == "DELETED")

    for written in plan.WRITTEN_KINDS:
        kopf.on.event(group=written.group, version=written.version, plural=written.plural, registry=registry,
                      labels={naming.MANAGED_BY_LABEL: naming.MANAGER}, id=f"owned-{written.plural}")(owned)
    return registry


async def _serve_health(reconciler: Reconciler, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def metrics(_: web.Request) -> web.Response:
        reconciler.metrics.queue_depth.set(len(reconciler.dirty))
        return web.Response(body=generate_latest(reconciler.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()  # all interfaces: the pod's probes and scraper reach it
    return runner


async def run(kubeconfig: Path | None, *, metrics_port: int, standalone: bool, priority: int = 0,
              stop: asyncio.Event | None = None, registry_auth: Path | None = None, image_recheck: float = 30.0
              ) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT, which kopf handles): the controller's whole lifetime."""
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)
        config = KubeConfig.from_file(kubeconfig)
    else:
        config = KubeConfig.from_env()
    client = AsyncClient(config, field_manager=naming.FIELD_MANAGER)
    auth_path = registry_auth or auth_file_path()
    reconciler = Reconciler(Cluster(client), auth_file=AuthFile(auth_path, missing_ok=True) if auth_path else None,
                            rechecks=RecheckSchedule(base=image_recheck, cap=20 * image_recheck))
    runner = await _serve_health(reconciler, metrics_port)
    try:
        await kopf.operator(registry=registry_for(reconciler), clusterwide=True, standalone=standalone,
                            peering_name=None if standalone else PEERING_NAME, priority=priority, stop_flag=stop)
    finally:
        await runner.cleanup()
        await client.close()


def configure_logging() -> None:
    """JSON lines (kopf's formatter), with the object's namespace/name where a handler gives one."""
    kopf.configure(log_format=kopf.LogFormat.JSON, verbose=False)
    logging.getLogger("lattice").setLevel(logging.INFO)
    # A line per request, per handled watch event and per probe: at 1,000 services 31,000 lines in a minute
    # (a tenth of the controller's CPU) saying only that things worked. Their warnings and errors still show.
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
