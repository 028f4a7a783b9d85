"""Kubernetes resource quantities (`500m`, `512Mi`, `1.5`, `2e3`), parsed exactly with Decimal.

Why not floats: `requests <= limits` and quota sums must not be off by a rounding error. Why a bound: no
Kubernetes quantity may exceed 2^63-1 in magnitude (the Quantity reference,
https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/), and an unbounded exponent
(`1e1000000`) overflows Decimal itself.
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from functools import lru_cache

from lattice.errors import invalid

_QUANTITY = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                       r"(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?")

_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


MAX_QUANTITY = Decimal(2**63 - 1)
# Exponents beyond this are decided without arithmetic: above it any non-zero number is too large, below it
# the value is far under Kubernetes' smallest unit (1n), which it rounds up anyway.
_EXPONENT_LIMIT = 100


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Decimal | None:
    """The exact value of a non-negative quantity, or None when `text` is not one.

    Raises a validation error (with a hint) for a quantity larger than Kubernetes can hold."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    suffix = match["suffix"] or ""
    number = Decimal(match["num"])  # exact, whatever its length
    exact = Context(prec=len(match["num"]) + 40, Emax=MAX_EMAX, Emin=MIN_EMIN)
    if match["exponent"] is not None:
        digits = match["exponent"].lstrip("+-").lstrip("0") or "0"
        negative = match["exponent"][:1] == "-"
        exponent = _EXPONENT_LIMIT + 1 if len(digits) > 3 else int(digits)
        exponent = max(-exponent, -_EXPONENT_LIMIT) if negative else exponent
        if exponent > _EXPONENT_LIMIT and number:
            raise _too_large(text)
        value = number.scaleb(min(exponent, _EXPONENT_LIMIT), context=exact)
    else:
        value = exact.multiply(number, _SUFFIX[suffix])
    if value > MAX_QUANTITY:
        raise _too_large(text)
    return value


def _too_large(text: str) -> Exception:
    shown = text if len(text) <= 40 else f"{text[:20]}…{text[-10:]}"
    return invalid(f"`{shown}` is larger than any Kubernetes quantity (at most 2^63-1)",
                   "write the amount you need, e.g. `500m` or `2` for CPU, `512Mi` or `1Gi` for memory")


def format_cpu(cores: Decimal) -> str:
    """Cores as Kubernetes writes them: whole cores plainly, the rest in millicores."""
    if cores == cores.to_integral_value():
        return str(int(cores))
    return f"{int((cores * 1000).to_integral_value())}m"


def format_memory(count: Decimal) -> str:
    """Bytes in the largest binary unit that divides them exactly (`512Mi`), else plain bytes."""
    for unit in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        size = _SUFFIX[unit]
        if count >= size and count % size == 0:
            return f"{int(count / size)}{unit}"
    return str(int(count))
