"""`LatticeJob`: a batch job of one or more gang-scheduled tasks, optionally on a schedule."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import INT32_MAX, DnsLabel, Model, Resource
from lattice.api.workload import Workload
from lattice.errors import invalid

# Five fields of printable ASCII separated by spaces or tabs (`\S`/`\s` would admit line breaks and non-ASCII).
_CRON = re.compile(r"@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([!-~]+[ \t]+){4}[!-~]+")


class JobTask(Model):
    replicas: int = Field(default=1, ge=1, le=INT32_MAX)
    workload: Workload
    restart_policy: Literal["Never", "OnFailure"] = "Never"


class LatticeJobSpec(Model):
    schedule: str | None = None
    min_available: int | None = Field(default=None, ge=1, le=INT32_MAX)
    max_retry: int = Field(default=3, ge=0, le=INT32_MAX)
    queue: DnsLabel | None = None
    tasks: dict[DnsLabel, JobTask] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not _CRON.fullmatch(value):
            raise invalid(f"schedule `{value}` is not a cron expression", "write five fields, e.g. `0 3 * * *`")
        return value


class LatticeJob(Resource):
    KIND: ClassVar[str] = "LatticeJob"
    PLURAL: ClassVar[str] = "latticejobs"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("lj",)

    kind: Literal["LatticeJob"]
    spec: LatticeJobSpec
