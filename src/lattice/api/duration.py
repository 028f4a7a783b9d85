"""Durations in the two syntaxes the emitted objects are read with, checked before anything is emitted.

- ExternalSecret `refreshInterval` is a Go `metav1.Duration`, parsed by Go's `time.ParseDuration`: numbers with
  units `ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`, at most 2^63-1 nanoseconds (Go: `src/time/format.go`).
- A scrape `interval` is a Prometheus duration: whole numbers with units `y w d h m s ms`, each at most once and in
  that order (the `pattern` of prometheus-operator's ServiceMonitor CRD; vmagent reads the same syntax). Go's
  `1.5h` or `90us` would be refused there, so the platform's interval is held to this syntax.

Lattice accepts the positive subset of each (a zero interval would mean "never" or "the default").
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from lattice.errors import invalid

_MAX_NANOSECONDS = 2**63 - 1  # Go's time.Duration is an int64 count of nanoseconds

_GO_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|μs|ms|s|m|h)")  # µ U+00B5 and μ U+03BC, as Go accepts
_GO_DURATION = re.compile(f"(?:{_GO_PART.pattern})+")
_GO_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}

_PROM_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?"
                            r"(?:([0-9]+)ms)?")
_PROM_UNIT_NS = (365 * 86400 * 10**9, 7 * 86400 * 10**9, 86400 * 10**9, 3600 * 10**9, 60 * 10**9, 10**9, 10**6)


def go_duration_ns(text: str) -> int | None:
    """Nanoseconds of a positive Go duration (`1h30m`, `1.5h`), or None when Go would refuse it or it is zero."""
    if not _GO_DURATION.fullmatch(text):
        return None
    total = sum(Decimal(number) * _GO_UNIT_NS[unit] for number, unit in _GO_PART.findall(text))
    nanoseconds = int(total)
    return nanoseconds if 0 < nanoseconds <= _MAX_NANOSECONDS else None


def prometheus_duration_ns(text: str) -> int | None:
    """Nanoseconds of a positive Prometheus duration (`30s`, `1m30s`), or None when it is not one or is zero."""
    match = _PROM_DURATION.fullmatch(text)
    if match is None or not text:
        return None
    nanoseconds = sum(int(n) * unit for n, unit in zip(match.groups(), _PROM_UNIT_NS, strict=True) if n)
    return nanoseconds if 0 < nanoseconds <= _MAX_NANOSECONDS else None


def _go_duration(value: str) -> str:
    if go_duration_ns(value) is None:
        raise invalid(f"`{value}` is not a positive duration",
                      "write a number and a unit (ns, us, ms, s, m, h), e.g. `1h`, `30m` or `1h30m`")
    return value


def _prometheus_duration(value: str) -> str:
    if prometheus_duration_ns(value) is None:
        raise invalid(
            f"`{value}` is not a positive Prometheus duration",
            "write whole numbers with units in the order y, w, d, h, m, s, ms, e.g. `30s` or `1m30s`",
        )
    return value


GoDuration = Annotated[str, AfterValidator(_go_duration)]
"""A positive Go duration: what External Secrets' `refreshInterval` is parsed with."""

PrometheusDuration = Annotated[str, AfterValidator(_prometheus_duration)]
"""A positive Prometheus duration: what a scrape `interval` is parsed with."""
