"""External endpoints as users write them: `https://api.stripe.com`, `tcp://10.0.0.5:5432`, `db.example.com:5432`.

Parsed once into host, port and protocol so that egress policy, service entries and `${resources.X.url}`
all agree on what an endpoint means.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from lattice.errors import invalid

_DEFAULT_PORTS = {"https": 443, "http": 80, "grpc": 443, "tls": 443}
_HOST = re.compile(r"(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Schemes whose traffic names its destination host (SNI for TLS, Host for HTTP): the only ones a wildcard
# host can be matched on.
_NAMED_ON_THE_WIRE = frozenset({"https", "http", "grpc", "tls"})
_FORM = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>\[[^\]]+\]|[^:/?#]+)(?::(?P<port>[0-9]+))?(?P<rest>[/?#].*)?")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One external endpoint: where it is and how it is spoken to."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def is_address(self) -> bool:
        """True for an IP address or CIDR (egress by `toCIDR`), False for a DNS name (`toFQDNs`)."""
        try:
            ipaddress.ip_network(self.host, strict=False)
        except ValueError:
            return False
        return True

    @property
    def is_wildcard(self) -> bool:
        """True for `*.example.com`: any one name directly under `example.com`."""
        return self.host.startswith("*.")

    @property
    def url(self) -> str:
        default = _DEFAULT_PORTS.get(self.scheme)
        port = "" if default == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"


@lru_cache(maxsize=4096)
def parse_endpoint(text: str) -> Endpoint:
    """Parse an endpoint, or raise a validation error that says which forms are accepted."""
    hint = "write `https://host`, `http://host:8080`, `host:port` or `tcp://host:port`"
    match = _FORM.fullmatch(text.strip())
    if match is None or text != text.strip():
        raise invalid(f"endpoint `{text}` is not a URL or host:port", hint)
    if not text.isascii():  # `.lower()` would turn some non-ASCII letters (the Kelvin sign) into ASCII ones
        raise invalid(f"endpoint `{text}` has non-ASCII characters",
                      "write an internationalized host name in its ASCII (`xn--`) form")
    scheme = (match["scheme"] or "tcp").lower()
    host = match["host"].strip("[]").lower()
    port_text = match["port"]
    if scheme not in ("https", "http", "tcp", "grpc", "tls"):
        raise invalid(f"endpoint `{text}` uses the unsupported scheme `{scheme}` "
                      "(supported: https, http, grpc, tls, tcp)", hint)
    if port_text is None:
        if scheme not in _DEFAULT_PORTS:
            raise invalid(f"endpoint `{text}` has no port", f"write `{text}:<port>`")
        port = _DEFAULT_PORTS[scheme]
    else:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise invalid(f"endpoint `{text}` has port {port}, outside 1-65535", hint)
    if "${" in text:
        raise invalid(f"endpoint `{text}` contains a placeholder; endpoints are never resolved",
                      "write the plain address; pass credentials through a secret resource")
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        if not _HOST.fullmatch(host):
            raise invalid(f"endpoint `{text}` has an invalid host name `{host}`", hint) from None
        labels = host.split(".")
        if len(labels) == 1:
            # The resolver tries the search path first (`<name>.<namespace>.svc.<domain>`: a Service of this
            # cluster), and Cilium's `toFQDNs` matches the name as queried, so no answer for a bare name is ever
            # admitted, and the DNS rule's search forms would name in-cluster Services.
            raise invalid(
                f"endpoint `{text}` names the single-label host `{host}`, which resolves through the cluster's "
                "search path (to a Service of this cluster first), never as written",
                f"write the fully qualified name, e.g. `{host}.example.com`; for a Service of this cluster, declare "
                f"a service dependency (`{host}: {{type: service}}`), which its owner must agree to",
            ) from None
        if "svc" in labels[1:]:
            # `<service>.<namespace>.svc[.<cluster domain>]` is a Service of this cluster (Kubernetes' DNS
            # specification): as an endpoint it would skip the callee's agreement, and a ServiceEntry for a
            # cluster host shadows the real Service in the caller's namespace.
            at = labels.index("svc", 1)
            service = labels[0] if at > 0 and labels[0] != "*" else "<service>"
            namespace = labels[1] if at == 2 else "<namespace>"
            raise invalid(
                f"endpoint `{text}` names a Service inside the cluster; external-service endpoints are for "
                "destinations outside it",
                f"declare it as a service dependency, which its owner must agree to: "
                f"`{service}: {{type: service, namespace: {namespace}}}`",
            ) from None
        if host.startswith("*.") and scheme not in _NAMED_ON_THE_WIRE:
            # The mesh tells wildcard destinations apart only by the name the client sends (TLS SNI, HTTP Host);
            # "for all other protocols the hosts will be ignored" (istio/api, ServiceEntry `hosts`), so a
            # wildcard TCP entry would match every destination on its port.
            raise invalid(
                f"endpoint `{text}` has a wildcard host, but plain TCP carries no host name the mesh could match "
                "it against",
                f"name the host exactly (e.g. `{scheme}://{host.removeprefix('*.')}:{port}` or one endpoint per "
                "host), or write `tls://` or `https://` if it speaks TLS",
            ) from None
    else:
        if "/" in host and not host.rpartition("/")[2].isdigit():
            # Cilium reads `toCIDR` with Go's net.ParseCIDR, which takes a prefix length, never a netmask.
            raise invalid(f"endpoint `{text}` writes its range with a netmask",
                          f"write the prefix length: `{network}`")
        if network.prefixlen == 0:
            # As a Cilium `toCIDR` rule this admits every address outside the cluster (the `world` entity):
            # not an endpoint but the whole internet.
            raise invalid(f"endpoint `{text}` is every address (`{network}`), not an external service",
                          "name the hosts the service calls, or the narrowest address range it needs")
    return Endpoint(scheme=scheme, host=host, port=port, path=match["rest"] or "")
