"""External endpoints, pinned by what the emitted policy admits (read by tests/policy_checker.py) and by the
ServiceEntry's meaning: exactly the declared host or addresses, on exactly the declared port, over TCP.

An address is reached by `toCIDR`: a single IPv4 address is its /32, a single IPv6 address its /128, a CIDR
itself; a neighbouring address must stay unreachable, so a rule that widens, empties or vanishes fails here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattice.api import parse_resource
from lattice.fleet import FleetResult, Sourced
from tests.policy_checker import Outside, Pod, direction_matrix, dns_names_allowed, policy_ports
from tests.support.gates import compile_fleet
from tests.support.schemas import assert_valid

NAMESPACE, NAME = "shop", "caller"


def _service(endpoints: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "lattice.dev/v1alpha1", "kind": "LatticeService",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {"workload": {
                "containers": {"main": {"image": "registry.example.com/app:1",
                                        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}},
                "service": {"ports": {"http": {"port": 8080}}},
                "resources": {"partner": {"type": "external-service", "params": {"endpoints": endpoints}}}}}}


def _compile(endpoints: dict[str, str]) -> FleetResult:
    result = compile_fleet([Sourced("test", parse_resource(_service(endpoints)))])
    assert result.ok, [e.render() for s in result.services for e in s.errors]
    assert_valid(result.objects)
    return result


def _pod(result: FleetResult) -> Pod:
    deployment = next(o for o in result.objects if o["kind"] == "Deployment")
    labels = tuple(sorted(deployment["spec"]["template"]["metadata"]["labels"].items()))
    return Pod((NAMESPACE, NAME), NAMESPACE, labels, f"cluster.local/ns/{NAMESPACE}/sa/{NAME}")


def _reachable(result: FleetResult, peers: list[Outside], extra_ports: set[tuple[int, str]]) -> set[Any]:
    ports = policy_ports(result.objects) | extra_ports | {(1, "TCP"), (443, "TCP"), (443, "UDP")}
    return {(peer, port) for _, peer, port in direction_matrix(result.objects, "egress", [_pod(result)],
                                                               peers, ports)}


def _address(text: str) -> Outside:
    return Outside(("ip", text), "world", text)


def _neighbours(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """The addresses just outside the network (those that exist)."""
    out = []
    low, high = int(network.network_address), int(network.broadcast_address)
    limit = 2 ** network.max_prefixlen
    for value in (low - 1, high + 1):
        if 0 <= value < limit:
            out.append(str(ipaddress.ip_address(value) if network.version == 4 else ipaddress.IPv6Address(value)))
    return out


def _check_address(url: str, network_text: str, port: int) -> None:
    result = _compile({"db": url})
    network = ipaddress.ip_network(network_text, strict=False)
    inside = [str(network.network_address), str(network.broadcast_address)]
    outside = _neighbours(network)
    peers = [_address(a) for a in inside + outside]
    got = _reachable(result, peers, {(port, "TCP"), (port, "UDP"), (port + 1, "TCP")})
    assert got == {(("ip", a), (port, "TCP")) for a in inside}, (url, sorted(got))
    entry = next(o for o in result.objects if o["kind"] == "ServiceEntry")["spec"]
    assert [ipaddress.ip_network(a, strict=False) for a in entry["addresses"]] == [network]
    assert entry["resolution"] == "NONE"  # an address has nothing to resolve
    assert [p["number"] for p in entry["ports"]] == [port]
    assert entry["exportTo"] == ["."]


@pytest.mark.parametrize(("url", "network", "port"), [
    ("tcp://10.9.8.7:5432", "10.9.8.7/32", 5432),
    ("10.9.8.7:6379", "10.9.8.7/32", 6379),
    ("tcp://[2001:db8::5]:5432", "2001:db8::5/128", 5432),
    ("[2001:db8::5]:443", "2001:db8::5/128", 443),
    ("tcp://[10.20.0.0/16]:5432", "10.20.0.0/16", 5432),
    ("tcp://[2001:db8:1::/64]:9000", "2001:db8:1::/64", 9000),
])
def test_an_address_endpoint_opens_exactly_its_addresses_on_its_port(url: str, network: str, port: int) -> None:
    _check_address(url, network, port)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.ip_addresses(v=4, network="11.0.0.0/8"), st.ip_addresses(v=6, network="2001:db8::/32")),
       st.integers(1, 65534), st.booleans(), st.integers(0, 8))
def test_any_address_endpoint_opens_exactly_its_addresses(address: Any, port: int, as_cidr: bool,
                                                          shorter: int) -> None:
    bits = address.max_prefixlen - (shorter if as_cidr else 0)
    network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    host = str(network) if as_cidr else str(address)
    url = f"tcp://[{host}]:{port}" if as_cidr or address.version == 6 else f"tcp://{host}:{port}"
    _check_address(url, str(network), port)


_SCHEME_PROTOCOL = {"https": "TLS", "http": "HTTP", "tcp": "TCP", "grpc": "TLS", "tls": "TLS"}


@pytest.mark.parametrize(("url", "host", "port", "scheme"), [
    ("https://api.stripe.com", "api.stripe.com", 443, "https"),
    ("https://api.stripe.com:8443/v1", "api.stripe.com", 8443, "https"),
    ("http://metadata.partner.io", "metadata.partner.io", 80, "http"),
    ("db.example.net:5432", "db.example.net", 5432, "tcp"),
    ("grpc://rpc.partner.io", "rpc.partner.io", 443, "grpc"),
    ("tls://mq.partner.io:5671", "mq.partner.io", 5671, "tls"),
])
def test_a_host_endpoint_opens_exactly_its_name_on_its_port(url: str, host: str, port: int, scheme: str) -> None:
    result = _compile({"api": url})
    named = Outside(("fqdn", host), "world", "198.51.100.9", (host,))
    sibling = Outside(("fqdn", "x." + host), "world", "198.51.100.10", ("x." + host,))
    parent = Outside(("fqdn", host.split(".", 1)[1]), "world", "198.51.100.11", (host.split(".", 1)[1],))
    stranger = Outside(("fqdn", "evil.example.com"), "world", "203.0.113.7", ("evil.example.com",))
    got = _reachable(result, [named, sibling, parent, stranger], {(port, "TCP"), (port, "UDP"), (port + 1, "TCP")})
    assert got == {(named.key, (port, "TCP"))}
    # ... and the name resolves (every search-path form the resolver tries), nothing else does
    dns = Pod(("dns", "kube-dns"), "kube-system", (("k8s-app", "kube-dns"),), "")
    candidates = {host, "x." + host, "evil.example.com", f"{host}.{NAMESPACE}.svc.cluster.local"}
    assert dns_names_allowed(result.objects, _pod(result), dns, candidates) == {
        host, f"{host}.{NAMESPACE}.svc.cluster.local"}
    entry = next(o for o in result.objects if o["kind"] == "ServiceEntry")["spec"]
    assert entry["hosts"] == [host]
    assert entry["resolution"] == "DNS"
    assert entry["location"] == "MESH_EXTERNAL"
    assert entry["exportTo"] == ["."]
    assert [(p["number"], p["protocol"]) for p in entry["ports"]] == [(port, _SCHEME_PROTOCOL[scheme])]


def test_every_endpoint_of_a_resource_gets_its_own_rule() -> None:
    result = _compile({"a": "https://a.partner.io", "b": "tcp://10.1.2.3:5432", "c": "[2001:db8::9]:6379"})
    peers = [Outside(("fqdn", "a"), "world", "198.51.100.9", ("a.partner.io",)), _address("10.1.2.3"),
             _address("2001:db8::9"), _address("10.1.2.4"), _address("2001:db8::8")]
    got = _reachable(result, peers, {(5432, "TCP"), (6379, "TCP")})
    assert got == {(("fqdn", "a"), (443, "TCP")), (("ip", "10.1.2.3"), (5432, "TCP")),
                   (("ip", "2001:db8::9"), (6379, "TCP"))}
    assert len([o for o in result.objects if o["kind"] == "ServiceEntry"]) == 3


def test_a_wildcard_host_opens_exactly_its_subdomains() -> None:
    result = _compile({"s3": "https://*.s3.amazonaws.com"})
    bucket = Outside(("fqdn", "bucket"), "world", "198.51.100.9", ("bucket.s3.amazonaws.com",))
    apex = Outside(("fqdn", "apex"), "world", "198.51.100.10", ("s3.amazonaws.com",))
    deeper = Outside(("fqdn", "deeper"), "world", "198.51.100.11", ("s3.amazonaws.com.evil.io",))
    assert _reachable(result, [bucket, apex, deeper], set()) == {(bucket.key, (443, "TCP"))}
