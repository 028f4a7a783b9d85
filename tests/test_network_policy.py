"""Unit cases for the parts of the network policy the guarantee checker does not see (DNS names)."""

from __future__ import annotations

import pytest

from lattice.api.platform import LatticePlatformSpec
from lattice.compiler.network_policy import resolvable_names

PLATFORM = LatticePlatformSpec.model_validate({"dns": {"searchDomains": ["ec2.internal"]}})


@pytest.mark.parametrize(("name", "expected"), [
    # Fewer dots than ndots (5): the resolver tries every search domain first, and each query must pass.
    ("api.stripe.com", ["api.stripe.com", "api.stripe.com.cluster.local", "api.stripe.com.ec2.internal",
                        "api.stripe.com.shop.svc.cluster.local", "api.stripe.com.svc.cluster.local"]),
    ("orders.shop.svc.cluster.local", ["orders.shop.svc.cluster.local", "orders.shop.svc.cluster.local.cluster.local",
                                       "orders.shop.svc.cluster.local.ec2.internal",
                                       "orders.shop.svc.cluster.local.shop.svc.cluster.local",
                                       "orders.shop.svc.cluster.local.svc.cluster.local"]),
    # ndots (5) dots or more: asked as written, once.
    ("a.b.c.d.e.example.com", ["a.b.c.d.e.example.com"]),
    ("b.c.d.e.example.com", ["b.c.d.e.example.com"]),
    # one dot short of ndots: searched first
    ("c.d.e.example.com", ["c.d.e.example.com", "c.d.e.example.com.cluster.local", "c.d.e.example.com.ec2.internal",
                           "c.d.e.example.com.shop.svc.cluster.local", "c.d.e.example.com.svc.cluster.local"]),
])
def test_dns_rules_cover_the_resolvers_search_path(name: str, expected: list[str]) -> None:
    assert resolvable_names([name], "shop", PLATFORM) == expected
