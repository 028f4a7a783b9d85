"""The controller's writes to the cluster, through lightkube's async client: server-side apply with field
manager `lattice`, deletes, status patches and Events. The only module of the controller that talks HTTP
(besides kopf's watches). Objects stay plain dicts end to end, as the compiler produces them."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from lattice.api.base import API_GROUP, API_VERSION
from lattice.compiler import naming
from lattice.controller.plan import KINDS, Kind, ObjectId

Obj = dict[str, Any]
T = TypeVar("T")
SOURCE_API_VERSION = f"{API_GROUP}/{API_VERSION}"
TRANSIENT_CODES = frozenset({409, 429, 500, 502, 503, 504})
"""Answers after which the same idempotent request is sent again: a conflict, too many requests (the API
server's priority and fairness, or storage re-initialising after a CRD change) and the server's own errors."""
ATTEMPTS = 3


def status_code(error: BaseException) -> int | None:
    """The HTTP status of a failed request: lightkube raises ApiError for a Kubernetes Status body and the HTTP
    client's own error for anything else (an unserved API group answers a plain-text 404)."""
    if isinstance(error, ApiError):
        return error.status.code
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def transient(error: BaseException) -> bool:
    """Worth sending again: a transient answer, a timeout or a dropped connection (lightkube's HTTP client,
    httpx2, raises TransportError for the last two)."""
    return status_code(error) in TRANSIENT_CODES or isinstance(error, httpx2.TransportError)


def _pause(error: BaseException, attempt: int) -> float:
    """The server's Retry-After when it gave one (capped), else an exponential backoff with jitter."""
    if isinstance(error, ApiError) and error.status.details is not None and error.status.details.retryAfterSeconds:
        return float(min(error.status.details.retryAfterSeconds, 2))
    return float(0.1 * 2 ** (attempt - 1) * (0.5 + random.random()))


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """`call()`, sent again after a transient failure; only for idempotent requests (server-side apply, delete,
    a merge patch of status), where a second delivery cannot duplicate anything."""
    for attempt in range(1, attempts):
        try:
            return await call()
        except Exception as error:
            if not transient(error):
                raise
            await asyncio.sleep(_pause(error, attempt))
    return await call()


@cache  # lightkube registers each generic class once: asking twice for a core kind's would clash
def _resource(kind: Kind) -> Any:
    make = create_namespaced_resource if kind.namespaced else create_global_resource
    return make(kind.group, kind.version, kind.kind, kind.plural)


_EVENTS: Any = create_namespaced_resource("", "v1", "Event", "events")


@cache
def source_kind(kind: str, plural: str, namespaced: bool) -> Any:
    """The generic lightkube class of a Lattice kind (for its status subresource)."""
    make = create_namespaced_resource if namespaced else create_global_resource
    return make(API_GROUP, API_VERSION, kind, plural)


class Cluster:
    """Writes for the controller. Every method raises lightkube's ApiError for the caller to retry."""

    def __init__(self, client: AsyncClient, remembered_events: int = 4096, in_flight: int = 16) -> None:
        self.client = client
        self._in_flight = asyncio.Semaphore(in_flight)
        """Requests sent at once. Above the HTTP client's kept-alive connections (httpx keeps 20) every burst
        opened and closed TLS connections, and its pool's bookkeeping grows with the requests queued in it:
        at 1,000 services that was half of the controller's CPU. The API server gains nothing from more."""
        self._events: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()
        """(involved uid, type, reason, message) -> (namespace, name, count) of the Events written lately."""
        self._remembered_events = remembered_events

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply, taking the fields over from anyone who edited them by hand (drift is reverted)."""
        res = _resource(KINDS[(obj["apiVersion"], obj["kind"])])
        applied = await self._retried(
            lambda: self.client.apply(res(obj), field_manager=naming.FIELD_MANAGER, force=True))
        return dict(applied)

    async def _send(self, call: Callable[[], Awaitable[T]]) -> T:
        """One request, once a slot of the in-flight limit is free."""
        async with self._in_flight:
            return await call()

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """An idempotent request, sent again after a transient failure; each attempt takes its own slot."""
        return await retrying(lambda: self._send(call))

    async def delete(self, oid: ObjectId) -> None:
        api_version, kind, namespace, name = oid
        res = _resource(KINDS[(api_version, kind)])
        try:
            await self._retried(lambda: self.client.delete(res, name, namespace=namespace or None))
        except Exception as error:
            if status_code(error) != 404:  # already gone is what we wanted
                raise

    async def list_managed(self, kind: Kind) -> AsyncIterator[Obj]:
        """Every object of `kind` carrying Lattice's label, in all namespaces; nothing when the kind is not
        served (its CRD is not installed)."""
        res = _resource(kind)
        try:
            async for obj in self.client.list(res, namespace="*" if kind.namespaced else None,
                                              labels={naming.MANAGED_BY_LABEL: naming.MANAGER}):
                # The items of a list carry no apiVersion and kind (the list does): put them back.
                yield {**dict(obj), "apiVersion": kind.api_version, "kind": kind.kind}
        except Exception as error:
            if status_code(error) != 404:
                raise

    async def patch_status(self, source: Any, name: str, namespace: str | None, status: Obj) -> None:
        """Replace the source's status (a merge patch of `status` on the status subresource)."""
        await self._retried(lambda: self.client.patch(
            source.Status, name, {"status": status}, namespace=namespace or None, patch_type=PatchType.MERGE))

    async def event(self, involved: Obj, type_: str, reason: str, message: str, now: dt.datetime) -> None:
        """A core/v1 Event about a source object (what `kubectl describe` shows). The same event again (a
        condition flapping) raises the existing Event's count and lastTimestamp, as client-go's event
        correlator does, instead of writing one Event per repeat."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        message = message[:1024]
        seen_key = (meta.get("uid") or "", type_, reason, message)
        seen = self._events.get(seen_key)
        if seen is not None:
            seen_namespace, name, count = seen
            try:  # not retried: a count raised twice would be wrong, a lost one only a missed repeat
                await self._send(lambda: self.client.patch(
                    _EVENTS, name, {"count": count + 1, "lastTimestamp": stamp}, namespace=seen_namespace,
                    patch_type=PatchType.MERGE))
                self._remember(seen_key, (seen_namespace, name, count + 1))
                return
            except Exception as error:
                if status_code(error) != 404:  # expired (the API server keeps Events an hour): write it anew
                    raise
        event = _EVENTS({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {"apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": meta["name"],
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "type": type_, "reason": reason, "message": message,
            "source": {"component": "lattice-controller"}, "reportingComponent": "lattice.dev/controller",
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        })
        created = await self._send(lambda: self.client.create(event))  # not retried: a create sent twice may write two
        self._remember(seen_key, (namespace, created.metadata.name, 1))

    def _remember(self, key: tuple[str, str, str, str], value: tuple[str, str, int]) -> None:
        self._events[key] = value
        self._events.move_to_end(key)
        while len(self._events) > self._remembered_events:
            self._events.popitem(last=False)
