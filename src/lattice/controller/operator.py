"""`lattice controller`: kopf watches every Lattice kind and every kind Lattice writes and feeds the reconciler;
lightkube writes. kopf's peering elects one active replica (the others keep watching and take over when it
stops), so two replicas never both write. `/healthz` and `/metrics` are served on one port; logs are JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
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
from lattice.controller.metrics import Metrics
from lattice.controller.rechecks import RecheckSchedule
from lattice.controller.reconciler import Reconciler
from lattice.registry.auth_file import AuthFile, auth_file_path
from lattice.registry.client import RegistryClient
from lattice.registry.signatures import VerificationCache

log = logging.getLogger("lattice.controller")
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


async def _serve_health(current: Callable[[], Reconciler], port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def metrics(_: web.Request) -> web.Response:
        reconciler = current()
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


WATCHER_TASK_PREFIX = "watcher for "
"""How kopf names the task of each watch-stream (`orchestration.spawn_missing_watchers`)."""
GRACE = 5.0
"""Seconds kopf has to stop after a watch failed, and again after it is cancelled, before the process exits."""


@contextlib.contextmanager
def watch_failures(on_failure: Callable[[str, BaseException], None]) -> Iterator[None]:
    """Calls `on_failure(task name, error)` as soon as a kopf watch-stream task ends with an error. kopf ends a
    watch on an ERROR event other than 410 Gone (`watching.continuous_watch`) or on an unreadable line, and
    nothing starts that watch again; the operator then either stops or keeps running blind to that kind
    (https://github.com/nolar/kopf/issues/1276). Seen through the event loop's task factory, so that no
    failure is missed however quickly it follows the task's start."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def check(task: asyncio.Future[Any]) -> None:
        if isinstance(task, asyncio.Task) and not task.cancelled() and task.get_name().startswith(
                WATCHER_TASK_PREFIX):
            error = task.exception()
            if error is not None:
                on_failure(task.get_name(), error)

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        task.add_done_callback(check)
        return task

    loop.set_task_factory(factory)
    try:
        yield
    finally:
        loop.set_task_factory(previous)


async def _operate(make: Callable[[], Reconciler], running: list[Reconciler], *, standalone: bool, priority: int,
                   stop: asyncio.Event | None) -> None:
    """kopf until it is stopped (`stop`, SIGTERM, SIGINT); when one of its watch-streams fails, kopf is stopped
    and started again in this process with a new reconciler (`make`): a start as after a restart of the pod
    (what Lattice applied is listed again, every kind is watched afresh, so an object deleted while the watch
    was down is not remembered), without the pod's restart back-off. `running[0]` is the reconciler of now."""
    restarts = 0
    while await _kopf_until_a_watch_fails(running[0], standalone=standalone, priority=priority, stop=stop):
        restarts += 1
        running[0].metrics.failures.labels(reason="watch").inc()
        await asyncio.sleep(min(30.0, 0.5 * 2 ** min(restarts, 6)))
        running[0] = make()


async def _kopf_until_a_watch_fails(reconciler: Reconciler, *, standalone: bool, priority: int,
                                    stop: asyncio.Event | None) -> bool:
    """One run of kopf; whether it ended because a watch-stream failed (else it was stopped on purpose). A
    kopf that does not stop within GRACE after the failure is cancelled, and one that does not end within
    GRACE after that leaves the process nothing but to exit (the kubelet starts it again)."""
    halt = asyncio.Event()
    failed: list[str] = []

    def on_failure(name: str, error: BaseException) -> None:
        if not failed:
            log.error("the %s ended (%s: %s); starting the watches again", name, type(error).__name__, error)
        failed.append(name)
        halt.set()

    relay = asyncio.create_task(stop.wait()) if stop is not None else None
    if relay is not None:
        relay.add_done_callback(lambda _: halt.set())
    with watch_failures(on_failure):
        operator = asyncio.create_task(kopf.operator(
            registry=registry_for(reconciler), clusterwide=True, standalone=standalone,
            peering_name=None if standalone else PEERING_NAME, priority=priority, stop_flag=halt))
        await _end(operator, failed)
    if relay is not None and not relay.done():
        relay.cancel()
    stopped = stop is not None and stop.is_set()
    if operator.cancelled():
        return not stopped
    error = operator.exception()
    if error is not None and not stopped and not failed:
        log.error("the watches ended (%s: %s); starting them again", type(error).__name__, error)
    return (bool(failed) or error is not None) and not stopped


async def _end(operator: asyncio.Task[None], failed: list[str]) -> None:
    """Wait for kopf to end: for ever while nothing failed; after a watch failed, GRACE, then it is cancelled,
    and GRACE more before the process exits (kopf's shutdown awaits its tasks with no time limit)."""
    deadline: float | None = None
    cancelled = False
    while not operator.done():
        await asyncio.wait({operator}, timeout=1.0)
        if not failed or operator.done():
            continue
        now = time.monotonic()
        if deadline is None:
            deadline = now + GRACE
        elif now > deadline and not cancelled:
            log.error("kopf has not stopped %.0f s after the watch failed; cancelling it", GRACE)
            operator.cancel()
            cancelled, deadline = True, now + GRACE
        elif now > deadline:
            log.critical("kopf did not end after it was cancelled; exiting, to be started again")
            logging.shutdown()
            os._exit(1)


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
    cluster, metrics = Cluster(client), Metrics()
    registry, verification_cache = RegistryClient(), VerificationCache()  # caches of the registry, kept

    def make() -> Reconciler:
        return Reconciler(cluster, metrics=metrics, registry=registry, verification_cache=verification_cache,
                          auth_file=AuthFile(auth_path, missing_ok=True) if auth_path else None,
                          rechecks=RecheckSchedule(base=image_recheck, cap=20 * image_recheck))

    running = [make()]
    runner = await _serve_health(lambda: running[0], metrics_port)
    try:
        await _operate(make, running, standalone=standalone, priority=priority, stop=stop)
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
