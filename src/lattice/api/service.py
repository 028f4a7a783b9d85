"""`LatticeService`: one long-running service, the kind application teams write."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from lattice.api.base import INT32_MAX, DnsLabel, DnsSubdomain, Model, Resource
from lattice.api.workload import Workload
from lattice.errors import invalid

DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


class ScalingMetric(Model):
    metric: Literal["cpu", "memory"]
    target: int = Field(ge=1, le=100, description="Target average utilization in percent of the request.")


class Autoscaling(Model):
    """Scale between `min` (default: `replicas`) and `max` on CPU or memory utilization."""

    min: int | None = Field(default=None, ge=0, le=INT32_MAX)
    max: int = Field(ge=1, le=INT32_MAX)
    metrics: list[ScalingMetric] = Field(default_factory=lambda: [ScalingMetric(metric="cpu", target=80)])


class PathMatch(Model):
    type: Literal["PathPrefix", "Exact"] = "PathPrefix"
    value: str = Field(default="/", max_length=1024)

    @field_validator("value")
    @classmethod
    def _http_path(cls, value: str) -> str:
        # The rules Gateway API's HTTPRoute CRD states as CEL validations on `path.value` (which a JSON schema
        # check does not run): absolute, RFC 3986 path characters, no `//`, dot segments, `%2f` or `#`.
        if "${" in value:
            raise invalid(f"the path `{value}` contains a placeholder; route paths are never resolved, and a "
                          "secret in one would be plain text in the route and in every proxy's access log",
                          "write the plain path")
        if not value.startswith("/"):
            raise invalid(f"the path `{value}` does not start with `/`", f"write `/{value}`")
        if not _HTTP_PATH.fullmatch(value):
            raise invalid(f"the path `{value}` has characters an HTTP path cannot have",
                          "percent-encode them (a space is `%20`)")
        bad = next((part for part in ("//", "/./", "/../", "%2f", "%2F", "#") if part in value), None)
        ending = next((end for end in ("/..", "/.") if value.endswith(end)), None)
        if bad is not None or ending is not None:
            raise invalid(f"the path `{value}` " + (f"contains `{bad}`" if bad else f"ends with `{ending}`")
                          + ", which Gateway API does not allow in a path match",
                          "write the path without it (routes match normalized paths)")
        return value


_HTTP_PATH = re.compile(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+")


class RouteTls(Model):
    """TLS for a route: a certificate from the platform's issuer unless a Secret is named."""

    secret_name: DnsLabel | None = None
    issuer: DnsSubdomain | None = None


# Gateway API's HTTPRoute and GRPCRoute CRDs: at most 16 `hostnames` and 64 `matches` per rule (maxItems).
MAX_ROUTE_HOSTS = 16
MAX_ROUTE_PATHS = 64


def _hosts(value: list[str]) -> list[str]:
    if len(value) > MAX_ROUTE_HOSTS:
        raise invalid(f"a route has {len(value)} hosts; Gateway API allows at most {MAX_ROUTE_HOSTS} in one route",
                      "split the hosts over several routes")
    seen: dict[str, int] = {}
    for i, host in enumerate(value):
        if host in seen:
            # Each host attaches the route to its listener once; a second parentRef to the same listener is
            # refused by the route CRD's CEL rule ("sectionName or port must be unique").
            raise invalid(f"host `{host}` is listed twice (first at [{seen[host]}])", "list each host once", (i,))
        seen[host] = i
        if len(host) > 253 or not _HOSTNAME.fullmatch(host):
            raise invalid(f"host `{host}` is not a DNS name", "write e.g. `shop.example.com` or `*.example.com`",
                          (i,))
        if _is_ip_address(host):  # Gateway API's Hostname: "IPs are not allowed"
            raise invalid(f"host `{host}` is an IP address; routes match host names only",
                          "write the DNS name clients use, e.g. `shop.example.com`", (i,))
    return value


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Route(Model):
    """One ingress route: hosts and paths routed to one of the service's ports."""

    kind: Literal["HTTPRoute", "GRPCRoute"] = "HTTPRoute"
    hosts: Annotated[list[str], AfterValidator(_hosts)] = Field(min_length=1)
    """Host names the route answers for."""
    port: str | None = None
    """The service port (by name) to route to; defaults to `http`, else the first."""
    paths: list[PathMatch] = Field(default_factory=lambda: [PathMatch()])
    """HTTP path matches (default: every path)."""
    tls: RouteTls | None = None
    """Serve HTTPS: a certificate from `issuer` (or the platform's), or the named Secret; plain HTTP redirects."""

    @field_validator("paths")
    @classmethod
    def _at_most_64(cls, value: list[PathMatch]) -> list[PathMatch]:
        if len(value) > MAX_ROUTE_PATHS:
            raise invalid(
                f"a route has {len(value)} paths; Gateway API allows at most {MAX_ROUTE_PATHS} in one route",
                "match a common prefix instead of listing every path (a `PathPrefix` match covers every path below it)")
        return value


class Ingress(Model):
    routes: dict[DnsLabel, Route] = Field(min_length=1)

    @field_validator("routes")
    @classmethod
    def _one_tls_per_host(cls, value: dict[str, Route]) -> dict[str, Route]:
        # The Gateway has one listener per host and protocol, with one certificate: routes of one service may
        # share a plain-HTTP host (split by paths), but a TLS host's certificate, and the HTTP redirect that
        # goes with it, belong to one route, else the Gateway would take one route's certificate and ignore the
        # other's, or serve a host both redirected and plain on port 80.
        first: dict[str, tuple[str, Route]] = {}
        for name, route in value.items():
            for i, host in enumerate(route.hosts):
                if host not in first:
                    first[host] = (name, route)
                    continue
                other, earlier = first[host]
                if route.tls is not None or earlier.tls is not None:
                    raise invalid(f"host `{host}` is also routed by route `{other}`, and one of the two sets `tls`: "
                                  "the Gateway has one certificate and one redirect per host",
                                  f"route every path of `{host}` from one route (add them to `{other}`'s `paths`)",
                                  (name, "hosts", i))
        return value


class LatticeServiceSpec(Model):
    replicas: int = Field(default=1, ge=0, le=INT32_MAX)
    """Pods to run (the autoscaling floor when `autoscaling` is set); more than one gets a disruption budget."""
    workload: Workload
    """The Score-compatible workload: containers, service ports and resources."""
    autoscaling: Autoscaling | None = None
    """Scale on CPU or memory utilization between `min` (default: `replicas`) and `max`."""
    ingress: Ingress | None = None
    """Routes from outside the cluster through the namespace's Gateway."""

    @model_validator(mode="after")
    def _consistent(self) -> LatticeServiceSpec:
        scaling = self.autoscaling
        if scaling is not None:
            if self.replicas > scaling.max:
                raise invalid(
                    f"replicas ({self.replicas}) is larger than autoscaling.max ({scaling.max})",
                    f"raise autoscaling.max to at least {self.replicas} or lower replicas",
                    ("replicas",),
                )
            if scaling.min is not None and scaling.min > scaling.max:
                raise invalid(
                    f"autoscaling.min ({scaling.min}) is larger than autoscaling.max ({scaling.max})",
                    "make min at most max",
                    ("autoscaling", "min"),
                )
            floor = scaling.min if scaling.min is not None else self.replicas
            if floor < 1:
                raise invalid(
                    "autoscaling on cpu or memory cannot scale from zero replicas",
                    "set `autoscaling.min` (or `replicas`) to at least 1",
                    ("autoscaling", "min") if scaling.min is not None else ("replicas",),
                )
            seen = [m.metric for m in scaling.metrics]
            if len(seen) != len(set(seen)):
                raise invalid("autoscaling.metrics names a metric twice", "give each metric one target",
                              ("autoscaling", "metrics"))
        if self.ingress is not None:
            ports = self.workload.ports
            for name, route in self.ingress.routes.items():
                if not ports:
                    raise invalid(
                        f"ingress route `{name}` has no port to route to",
                        "declare one under `workload.service.ports`, e.g. `http: {port: 8080}`",
                        ("ingress", "routes", name),
                    )
                if route.port is not None and route.port not in ports:
                    raise invalid(
                        f"port `{route.port}` is not a port of this service",
                        f"use one of: {', '.join(ports)}",
                        ("ingress", "routes", name, "port"),
                    )
        return self

    @model_validator(mode="after")
    def _single_attach_claims_run_one_pod(self) -> LatticeServiceSpec:
        """A ReadWriteOnce (or ReadWriteOncePod) claim attaches to one node (one pod) at a time: the pods after
        the first would wait on a Multi-Attach error. One pod works (the Deployment then rolls out with
        `Recreate`, see `compiler/storage.py`); more pods, or an autoscaler, are refused here."""
        claims = self.workload.single_attach_claims()
        most = self.autoscaling.max if self.autoscaling is not None else 1
        if not claims or (self.replicas <= 1 and most <= 1):
            return self
        many = f"{self.replicas} replicas" if self.replicas > 1 else f"autoscaling up to {most} pods"
        names = [f"`{name}` ({self.workload.resources[name].access_mode})" for name in claims]
        shown = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        shared = [f"`{name}`" for name in claims if self.workload.resources[name].params.size is None]
        raise invalid(
            f"{many} would mount the claim{'s' if len(claims) > 1 else ''} {shown}, which "
            f"attach{'' if len(claims) > 1 else 'es'} to one node at a time: a pod scheduled on another node waits "
            "forever on a Multi-Attach error",
            "run one pod (`replicas: 1` without `autoscaling`; each rollout then stops the old pod before it "
            "starts the new one), or use claims that many nodes can attach: `accessMode: ReadWriteMany` "
            "(`ReadOnlyMany` if every mount is read-only) with a storage class that provides it"
            + (f" (for the shared claim{'s' if len(shared) > 1 else ''} {', '.join(shared)}, declare the access "
               "mode its owner gave it)" if shared else ""),
            ("replicas",) if self.replicas > 1 else ("autoscaling", "max"),
        )


class LatticeService(Resource):
    """A long-running service: containers, ports, dependencies, replicas, autoscaling and ingress."""

    KIND: ClassVar[str] = "LatticeService"
    PLURAL: ClassVar[str] = "latticeservices"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ls",)

    kind: Literal["LatticeService"]
    spec: LatticeServiceSpec

    @model_validator(mode="after")
    def _name_is_service_name(self) -> LatticeService:
        # The name becomes a Service (DNS-1035: starts with a letter, no dots, at most 63 characters).
        name = self.metadata.name
        if len(name) > 63 or not DNS_1035.fullmatch(name):
            suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
            if not suggestion[:1].isalpha():
                suggestion = f"svc-{suggestion}"
            raise invalid(
                f"`{name}` cannot name a Kubernetes Service (a letter first, then lower-case letters, "
                "digits and '-', at most 63 characters)",
                f"rename it, e.g. `{suggestion[:63].rstrip('-')}`",
                ("metadata", "name"),
            )
        return self
