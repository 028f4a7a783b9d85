"""When the controller asks the registry again about a service an image gate refused. Pure (time is passed in).

No watch event tells of a registry back up or a signature pushed later, so a refused service is checked again
on a timer: first after `base` seconds, then, each time a recheck finds it still refused, after twice as long,
up to `cap` (as client-go's workqueue backs off a failing item, `ItemExponentialFailureRateLimiter`). A service
that changed (its spec, its gate decision reached by another change) starts again at `base`, and so does every
refused service when the registry logins change: that is news the registry may answer differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from lattice.graph import Key


@dataclass(frozen=True, slots=True)
class Due:
    at: float
    """When to check again (`math.inf` while a recheck is under way)."""
    interval: float
    """The wait that led to `at`: the next one doubles it."""


@dataclass(slots=True)
class RecheckSchedule:
    base: float = 30.0
    cap: float = 600.0
    due: dict[Key, Due] = field(default_factory=dict)
    rechecking: set[Key] = field(default_factory=set)
    """Marked by `take_due` and not yet decided again by a burst."""

    def take_due(self, now: float) -> set[Key]:
        """The services whose recheck is due: they are marked as under way until `decided` sees them."""
        keys = {key for key, due in self.due.items() if due.at <= now}
        for key in keys:
            self.due[key] = Due(math.inf, self.due[key].interval)
        self.rechecking |= keys
        return keys

    def restart(self) -> set[Key]:
        """Every refused service, to be checked now and then again from `base` (the logins changed)."""
        keys = set(self.due)
        self.due = {key: Due(math.inf, 0.0) for key in keys}
        self.rechecking -= keys
        return keys

    def decided(self, refused: Iterable[Key], decided: Set[Key], now: float) -> None:
        """After a burst: `refused` are the services an image gate refused now, `decided` those whose images the
        burst checked. A recheck that found the service still refused doubles its wait; any other new
        decision starts at `base`; a service no longer refused is forgotten."""
        kept: dict[Key, Due] = {}
        for key in refused:
            before = self.due.get(key)
            if before is not None and key not in decided:
                kept[key] = before  # not checked in this burst: its clock runs on
            elif before is not None and key in self.rechecking:
                interval = min(self.cap, before.interval * 2)
                kept[key] = Due(now + interval, interval)
            else:
                kept[key] = Due(now + self.base, self.base)
        self.due = kept
        self.rechecking -= set(decided)
