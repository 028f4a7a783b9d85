"""`LatticeModel`: a model served by an inference engine, with its weights fetched from a model source."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from lattice.api.base import INT32_MAX, Model, Resource
from lattice.api.service import Autoscaling
from lattice.api.workload import Workload
from lattice.errors import invalid

_SOURCE = re.compile(r"(hf|s3|gs|pvc|oci)://[!-~]+")


class ModelSource(Model):
    uri: str
    mount_path: str = "/models"

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not _SOURCE.fullmatch(value):
            raise invalid(f"model source `{value}` is not a supported URI",
                          "write `hf://org/model`, `s3://bucket/path`, `gs://bucket/path`, `pvc://claim/path` or `oci://ref`")
        return value


class Routing(Model):
    inference_engine: Literal["vLLM", "SGLang"] = "vLLM"
    port: str | None = None


class LatticeModelSpec(Model):
    replicas: int = Field(default=1, ge=0, le=INT32_MAX)
    model_source: ModelSource
    workload: Workload
    routing: Routing = Field(default_factory=Routing)
    autoscaling: Autoscaling | None = None


class LatticeModel(Resource):
    KIND: ClassVar[str] = "LatticeModel"
    PLURAL: ClassVar[str] = "latticemodels"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("lm",)

    kind: Literal["LatticeModel"]
    spec: LatticeModelSpec
