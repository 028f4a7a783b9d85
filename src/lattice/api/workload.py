"""The Score-compatible workload block shared by services, jobs and models.

`containers` say what runs; `service.ports` what it listens on; `resources` what it depends on.
Checks that need more than one field (requests <= limits, per-type params) live here so that every
kind embedding a workload gets them.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainValidator, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lattice.api import paths
from lattice.api.base import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    INT32_MAX,
    LABEL_VALUE,
    DnsLabel,
    LabelKey,
    Labels,
    Model,
    Quantity,
    check_dns_label,
)
from lattice.api.duration import GoDuration
from lattice.api.endpoints import parse_endpoint
from lattice.api.quantity import parse_quantity
from lattice.errors import invalid, reraise_at

# Characters a shell would interpret: an image reference never needs them.
_IMAGE_FORBIDDEN = re.compile(r"[\s;&|`$<>()\\'\"!*?{}]")
# The reference grammar of distribution/reference (`reference.go`): its `\w` is Go's, ASCII only, so tags are
# spelt out here; Python's `\w` would also match `é`. Matched with `fullmatch`: Python's `$` also matches before a
# trailing newline.
_IMAGE = re.compile(
    r"(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?"
)
TMP_PATH = "/tmp"
_CHAR_NAMES = {" ": "a space", "\t": "a tab", "\n": "a line break", ";": "`;`", "$": "`$`"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_MODE = re.compile(r"0?[0-7]{3}")


def _image(value: str) -> str:
    if "${" in value:
        raise invalid(
            f"image `{value}` contains a placeholder; image references are never resolved, and a secret in one "
            "would be plain text in the pod spec and in the registry's logs",
            "write the plain reference; pull credentials come from the registry's ImageProvider "
            "(its `credentials` become the pod's imagePullSecrets)",
        )
    bad = _IMAGE_FORBIDDEN.search(value)
    if bad:
        char = bad.group()
        shown = _CHAR_NAMES.get(char, f"`{char}`")
        cleaned = _IMAGE_FORBIDDEN.sub("", value)
        raise invalid(
            f"image `{value}` contains {shown}, which no image reference has"
            + (" (placeholders are not allowed in images)" if "${" in value else ""),
            f"remove it: `{cleaned}`" if char.isspace() and _IMAGE.fullmatch(cleaned) else
            "write a plain reference such as `registry.example.com/team/app@sha256:<64 hex>`",
        )
    if not value.isascii():
        char = next(c for c in value if not c.isascii())
        raise invalid(
            f"image `{value}` contains `{char}` (U+{ord(char):04X}); image references are ASCII only",
            "write the reference as the registry spells it: lower-case ASCII letters, digits, `.`, `_`, `-`, `/`",
        )
    match = _IMAGE.fullmatch(value)
    if not match:
        raise invalid(
            f"image `{value}` is not a valid image reference",
            "write `registry/repository:tag` or `registry/repository@sha256:<64 hex>` in lower case",
        )
    name = match["name"]
    repository = name.split("/", 1)[1] if "/" in name else name  # what follows the registry
    if len(repository) > 255:  # distribution/reference (v0.6): RepositoryNameTotalLengthMax
        raise invalid(f"the image's repository path is {len(repository)} characters long; a reference allows at "
                      "most 255", "use the registry's shorter name for the repository")
    return value


ImageRef = Annotated[str, AfterValidator(_image)]


class ResourceAmounts(Model):
    """CPU and memory amounts; other resources (GPUs) come from `gpu` dependencies."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class ContainerResources(Model):
    """Requests and limits. A limit left out is the platform's default (`spec.defaults.resources.limits`), so
    that no container runs unbounded and quotas count what it may use; requests default to the limits."""

    requests: ResourceAmounts | None = None
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)

    @field_validator("limits")
    @classmethod
    def _limits_not_zero(cls, value: ResourceAmounts | None) -> ResourceAmounts | None:
        # The kubelet sets no memory limit and no CPU quota for a limit of 0 (kuberuntime_container_linux.go,
        # calculateLinuxResources), so a zero limit is no limit at all.
        if value is None:
            return None
        for field in ("cpu", "memory"):
            amount = getattr(value, field)
            if amount is not None and parse_quantity(amount) == 0:
                example = "500m" if field == "cpu" else "512Mi"
                raise invalid(
                    f"a limit of `{amount}` is no limit: Kubernetes leaves a container with a zero {field} limit "
                    "unlimited",
                    f"write the most the container may use, e.g. `{field}: {example}`",
                    (field,),
                )
        return value

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ContainerResources:
        for field in ("cpu", "memory"):
            if self.requests is None or getattr(self.limits, field) is None:
                continue  # against a default limit, checked when compiling (the platform is known then)
            requested, limit = getattr(self.requests, field), getattr(self.limits, field)
            if requested is None:
                continue
            req_value, limit_value = parse_quantity(requested), parse_quantity(limit)
            assert req_value is not None and limit_value is not None  # checked by Quantity
            if req_value > limit_value:
                raise invalid(
                    f"the request ({requested}) is larger than the limit ({limit})",
                    f"lower the request to at most `{limit}` or raise the limit",
                    ("requests", field),
                )
        return self


def _port_name(value: str) -> str:
    """An IANA service name, as Kubernetes checks port names (apimachinery `validation.IsValidPortName`): at most
    15 characters of `a-z`, `0-9` and `-`, at least one letter, no `-` first, last or twice in a row."""
    check_dns_label(value, "port name", max_len=15)
    if not any(c.isalpha() for c in value):
        raise invalid(f"port name `{value}` has no letter", "name ports by what they carry, e.g. `http`")
    if "--" in value:
        raise invalid(f"port name `{value}` has two hyphens in a row, which Kubernetes does not allow in a port name",
                      f"write `{re.sub('-+', '-', value)}`")
    return value


PortName = Annotated[str, AfterValidator(_port_name)]


def _probe_port(value: object) -> int | str:
    """A probe's port: a number, or the name of one of the container's ports (never a boolean: YAML's `on`)."""
    if isinstance(value, bool):
        raise invalid("a port cannot be true or false (YAML reads a bare yes/no/on/off as one)",
                      "write the port number, e.g. `8080`, or a port name, e.g. `http`")
    if not isinstance(value, int | str):
        raise invalid(f"`{value}` is not a port", "write the port number, e.g. `8080`, or a port name, e.g. `http`")
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            raise invalid(f"port `\"{value}\"` is text, so Kubernetes would read it as a port name",
                          f"write the number without quotes: `{value}`")
        return _port_name(value)
    if not 1 <= value <= 65535:
        raise invalid(f"port {value} is outside 1-65535", "write the port the container listens on, e.g. `8080`")
    return value


ProbePort = Annotated[int | str, PlainValidator(_probe_port, json_schema_input_type=int | str)]
_HEADER_NAME = re.compile(r"[-A-Za-z0-9]+")  # apimachinery validation.IsHTTPHeaderName


class HttpHeader(Model):
    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise invalid(f"`{value}` is not an HTTP header name (letters, digits and '-')",
                          f"write e.g. `{re.sub('[^-A-Za-z0-9]+', '-', value).strip('-') or 'X-Probe'}`")
        return value


class HttpGetProbe(Model):
    path: str = "/"
    port: ProbePort
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    host: str | None = None
    http_headers: list[HttpHeader] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _path_given(cls, value: str) -> str:
        if not value:  # Kubernetes requires one (core validation, validateHTTPGetAction)
            raise invalid("the probe's path is empty", "write the path to check, e.g. `/healthz`, or remove `path` "
                          "to check `/`")
        return value


class ExecProbe(Model):
    command: list[str] = Field(min_length=1)


class TcpSocketProbe(Model):
    port: ProbePort


class GrpcProbe(Model):
    port: int = Field(ge=1, le=65535)
    service: str | None = None


class Probe(Model):
    """Score probes (httpGet, exec) plus tcpSocket, grpc and the Kubernetes timing knobs."""

    http_get: HttpGetProbe | None = None
    exec: ExecProbe | None = None
    tcp_socket: TcpSocketProbe | None = None
    grpc: GrpcProbe | None = None
    initial_delay_seconds: int | None = Field(default=None, ge=0, le=INT32_MAX)
    period_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    timeout_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    failure_threshold: int | None = Field(default=None, ge=1, le=INT32_MAX)
    success_threshold: int | None = Field(default=None, ge=1, le=INT32_MAX)

    @property
    def port(self) -> int | str | None:
        """The port the probe checks (None for exec probes)."""
        handler = self.http_get or self.tcp_socket or self.grpc
        return handler.port if handler is not None else None

    @model_validator(mode="after")
    def _exactly_one_handler(self) -> Probe:
        handlers = [h for h in ("httpGet", "exec", "tcpSocket", "grpc") if getattr(self, _snake(h)) is not None]
        if len(handlers) > 1:
            raise invalid(
                f"a probe needs exactly one handler; found {len(handlers)} ({', '.join(handlers)})",
                f"keep one: remove {' or '.join(f'`{h}`' for h in handlers)}",
            )
        if not handlers:
            raise invalid("a probe needs a handler: one of httpGet, exec, tcpSocket, grpc",
                          "write e.g. `httpGet: {path: /healthz, port: 8080}`")
        return self


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class File(Model):
    """A file placed in the container (Score `files`, keyed by target path)."""

    content: str
    mode: str | None = None
    no_expand: bool = False

    @model_validator(mode="before")
    @classmethod
    def _score_fields_lattice_lacks(cls, data: Any) -> Any:
        """Score's `source` and `binaryContent` get their own errors: a generic "unknown field, remove it"
        would lose the file, and "did you mean `content`" would take base64 for the file's text."""
        if not isinstance(data, dict):
            return data
        if "source" in data:
            raise invalid(
                "`source` points at a local file, which Lattice does not read (the controller compiles the same "
                "object in the cluster, where that file does not exist)",
                "inline the file's text: replace `source` with `content: |` and the text indented below it "
                "(add `noExpand: true` if the text holds `${` that must stay as written)",
                ("source",),
            )
        if "binaryContent" in data:
            raise invalid(
                "`binaryContent` is not supported: files are mounted from ConfigMap text data",
                "if the decoded bytes are text, write that text under `content`; a binary file belongs in the image",
                ("binaryContent",),
            )
        return data

    @field_validator("mode")
    @classmethod
    def _octal_mode(cls, value: str | None) -> str | None:
        if value is not None and not _MODE.fullmatch(value):
            raise invalid(f"mode `{value}` is not an octal file mode", "write e.g. `0644` or `0440`")
        if value is not None and not int(value, 8) & 0o040:
            raise invalid(
                f"mode `{value}` lets only its owner (root) read it, and Lattice runs containers as non-root",
                f"write `0{int(value, 8) | 0o040:o}` (the pod's file group may read; others still may not)",
            )
        return value


class VolumeMount(Model):
    """A volume mounted in a container (Score `volumes`, keyed by target path): a `volume` resource named by
    `source`, or, without `source` (`/cache: {}`), an empty directory of this container's own."""

    source: str | None = None
    """`${resources.NAME}` naming a `volume` resource; omit it for an emptyDir."""
    path: str | None = None
    """A directory inside the volume to mount instead of its root (the mount's `subPath`)."""
    read_only: bool = False
    medium: Literal["Memory"] | None = None
    """emptyDir only: `Memory` backs it with tmpfs (counted against the container's memory limit)."""
    size_limit: Quantity | None = None
    """emptyDir only: the most it may hold; the kubelet evicts the pod beyond it."""

    @model_validator(mode="after")
    def _fits_kind(self) -> VolumeMount:
        if self.source is None:
            for field, given, why in (("path", self.path is not None, "a sub path of a volume resource"),
                                      ("readOnly", self.read_only, "a read-only empty directory would stay empty")):
                if given:
                    raise invalid(f"`{field}` needs `source`: without it the mount is an empty directory, and "
                                  f"`{field}` is {why}",
                                  "add `source: ${resources.NAME}` naming a volume resource, "
                                  f"or remove `{field}`", (field,))
        else:
            for field, value in (("medium", self.medium), ("sizeLimit", self.size_limit)):
                if value is not None:
                    raise invalid(f"`{field}` applies only to an emptyDir (a mount without `source`)",
                                  f"remove `{field}`, or remove `source` for a directory of this container's own",
                                  (field,))
        return self

    @property
    def is_empty_dir(self) -> bool:
        return self.source is None

    @field_validator("path")
    @classmethod
    def _inside_the_volume(cls, value: str | None) -> str | None:
        if value is not None:
            paths.check_sub_path(value)
        return value

    @property
    def resource(self) -> str:
        """The volume resource named by `source` (`${resources.data}` -> `data`); checked by Workload."""
        match = _VOLUME_SOURCE.fullmatch(self.source or "")
        return match["name"] if match else ""


# The UID and GID of Istio's proxy (sidecar and gateway), which its traffic redirection exempts.
MESH_PROXY_ID = 1337


SeccompProfile = Literal["RuntimeDefault", "Unconfined"]


class SecurityOverrides(Model):
    """A container's deviations from the restricted default (Pod Security Standards "restricted"); each is
    visible in the output and needs an `OverrideSecurity` permit (`lattice.compiler.security.deviations`)."""

    run_as_user: int | None = Field(default=None, ge=0, le=INT32_MAX)  # apimachinery validation.IsValidUserID
    run_as_group: int | None = Field(default=None, ge=0, le=INT32_MAX)  # ... and IsValidGroupID
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    capabilities: list[str] = Field(default_factory=list)
    seccomp_profile: SeccompProfile | None = None
    """`Unconfined` runs the container without a seccomp filter; the default is the runtime's (`RuntimeDefault`).
    Written as the profile's type alone, as the public Rust implementation does."""

    @field_validator("seccomp_profile", mode="before")
    @classmethod
    def _profile_type_only(cls, value: Any) -> Any:
        if isinstance(value, dict) and "type" in value:
            kind = value["type"]
            raise invalid("`seccompProfile` takes the profile's type alone, not Kubernetes' `{type: ...}` object",
                          f"write `seccompProfile: {kind}`" if isinstance(kind, str) else
                          "write `seccompProfile: Unconfined` or `seccompProfile: RuntimeDefault`")
        if value == "Localhost":
            # A Localhost profile is a file that must exist on every node the pod may run on (Kubernetes
            # "Restrict a Container's Syscalls with seccomp"); the compiler cannot know the nodes.
            raise invalid("a `Localhost` seccomp profile is not supported: its file would have to exist on every "
                          "node, which the platform cannot check",
                          "use `RuntimeDefault` (the default: remove `seccompProfile`) or `Unconfined`")
        return value

    @field_validator("run_as_user", "run_as_group")
    @classmethod
    def _not_the_mesh_proxy(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Istio reserves UID 1337 for its proxy and its redirection rules let the proxy's own UID and GID
        # bypass the proxy (https://istio.io/latest/docs/ops/deployment/requirements/ "Application UIDs", istioctl's
        # IST0144 InvalidApplicationUID): a container running as it would send around the mesh, unencrypted.
        if value == MESH_PROXY_ID:
            field = "runAsUser" if info.field_name == "run_as_user" else "runAsGroup"
            raise invalid(
                f"{MESH_PROXY_ID} is the mesh proxy's {'user' if field == 'runAsUser' else 'group'}: Istio lets its "
                "traffic bypass the proxy, so this container's traffic could leave the mesh unencrypted",
                f"run as another {'user' if field == 'runAsUser' else 'group'}, e.g. `{field}: 1338`")
        return value

    @field_validator("capabilities")
    @classmethod
    def _capability_names(cls, value: list[str]) -> list[str]:
        for i, cap in enumerate(value):
            if not re.fullmatch(r"[A-Z][A-Z_]*", cap) or cap.startswith("CAP_"):
                raise invalid(
                    f"`{cap}` is not a Linux capability name as Kubernetes writes it",
                    f"write `{cap.upper().removeprefix('CAP_')}` (upper case, without the CAP_ prefix)",
                    (i,),
                )
        return value


class Container(Model):
    """One container: image, how it starts, its configuration and its resource budget."""

    image: ImageRef
    """Image reference, preferably by digest: `registry.example.com/team/app@sha256:<64 hex>`."""
    command: list[str] | None = None
    """Entrypoint override; `command[0]` is a path or a name found in the image's PATH (no shell runs it)."""
    args: list[str] | None = None
    """Arguments; may use `${...}` placeholders, but never secrets (they would be visible in the pod spec)."""
    variables: dict[str, str] = Field(default_factory=dict)
    """Environment variables. Values may use `${resources.NAME.KEY}`, `${secret.NAME.KEY}`, `${metadata.name}`,
    `${metadata.namespace}`; `$$` writes a literal `$` (so `$${` writes `${`). Secret values only ever travel
    through Secrets."""
    env_from: list[str] = Field(default_factory=list)
    """Secret resources whose every key becomes an environment variable."""
    files: dict[str, File] = Field(default_factory=dict)
    """Files to place in the container, keyed by absolute target path."""
    volumes: dict[str, VolumeMount] = Field(default_factory=dict)
    """Volume resources to mount, keyed by absolute target path."""
    resources: ContainerResources = Field(default_factory=ContainerResources)
    """CPU and memory: limits not given are the platform's defaults; requests default to the limits."""
    liveness_probe: Probe | None = None
    """Restarts the container when it fails."""
    readiness_probe: Probe | None = None
    """Takes the pod out of its Service while it fails; defaults to a TCP check of the first service port."""
    startup_probe: Probe | None = None
    """Holds the other probes until the container has started."""
    security: SecurityOverrides | None = None
    """Explicit, visible deviations from the restricted security context."""

    @field_validator("files", "volumes", mode="before")
    @classmethod
    def _score_list_form(cls, value: Any, info: ValidationInfo) -> Any:
        """Score's deprecated list form (`- target: /data`) gets the map it translates to, not "expected a
        mapping"."""
        if not isinstance(value, list):
            return value
        first = next((item for item in value if isinstance(item, dict) and "target" in item), None)
        if first is None:
            return value
        rest = {k: v for k, v in first.items() if k != "target"}
        shown = ", ".join(f"{k}: {json.dumps(v)}" for k, v in rest.items())  # JSON scalars are YAML too
        raise invalid(
            f"`{info.field_name}` is a list, Score's deprecated form; Lattice takes a mapping keyed by target path",
            f"write each entry under its target, e.g. `{info.field_name}: {{{first['target']}: {{{shown}}}}}`",
        )

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: list[str] | None) -> list[str] | None:
        # `command[0]` may be a bare name: the container runtime looks it up in the image's PATH without a
        # shell (Kubernetes' own "Define a Command and Arguments for a Container" task uses `["printenv"]`).
        if value is not None and not value:
            raise invalid("command is empty", "remove `command` to use the image's entrypoint")
        if value and not value[0].strip():
            # Kubernetes accepts it, but the runtime cannot execute a blank name: the container never starts.
            raise invalid("`command[0]`, the program to run, is blank", "write the program's path or name, e.g. "
                          "`/app/server`, or remove `command` to use the image's entrypoint", (0,))
        return value

    @field_validator("variables")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.fullmatch(name):
                raise invalid(
                    f"`{name}` is not a valid environment variable name",
                    "use letters, digits and `_`, starting with a letter or `_`, e.g. "
                    f"`{'_' + name if name[:1].isdigit() else re.sub(r'[^A-Za-z0-9_]', '_', name)}`",
                    (name,),
                )
            if len(name) > 253:  # plain variables become ConfigMap keys, secret ones Secret keys: IsConfigMapKey
                raise invalid(f"the variable name is {len(name)} characters long; at most 253 are allowed",
                              "shorten it", (name,))
        return value

    @field_validator("files", "volumes")
    @classmethod
    def _absolute_targets(cls, value: dict[str, Any]) -> dict[str, Any]:
        for target in value:
            paths.check_target(target)
        return value

    @field_validator("volumes")
    @classmethod
    def _platform_tmp(cls, value: dict[str, VolumeMount]) -> dict[str, VolumeMount]:
        """The platform mounts a writable emptyDir at /tmp in every container (the root filesystem is
        read-only). `/tmp: {}` asks for exactly that and compiles (with a warning); anything else there would
        be a second mount at one path."""
        mount = value.get(TMP_PATH)
        if mount is not None and mount != VolumeMount():
            # The platform's /tmp is one emptyDir that every container of the pod mounts, so a Score emptyDir
            # shared at /tmp (a `volume` with neither size nor id) is already what the pod has.
            shared = ("mount the volume at another path, e.g. `/data` (an emptyDir volume there needs no mount: "
                      "the platform's /tmp is one emptyDir that all the pod's containers share)")
            fix = (shared if mount.source is not None else
                   "remove `medium`/`sizeLimit` to use the platform's /tmp, or mount this emptyDir at another path")
            raise invalid(f"the platform already mounts a writable emptyDir at `{TMP_PATH}` in every container "
                          "(the root filesystem is read-only)", fix, (TMP_PATH,))
        return value

    @model_validator(mode="after")
    def _mounts_do_not_collide(self) -> Container:
        # `/tmp: {}` is the platform's own /tmp (`_platform_tmp` refuses anything else there), not a second mount.
        paths.check_mounts(files=list(self.files), volumes=[p for p in self.volumes if p != TMP_PATH])
        return self

    @model_validator(mode="after")
    def _success_threshold_one(self) -> Container:
        # Kubernetes refuses any other successThreshold for liveness and startup probes (core validation,
        # validateLivenessProbe, validateStartupProbe).
        for field, probe in (("livenessProbe", self.liveness_probe), ("startupProbe", self.startup_probe)):
            if probe is not None and probe.success_threshold not in (None, 1):
                raise invalid(f"successThreshold of a {field} must be 1, not {probe.success_threshold}",
                              "remove `successThreshold` (only a readinessProbe may ask for more successes)",
                              (field, "successThreshold"))
        return self


class ServicePort(Model):
    """A port the workload serves; peers that agreed to call it may reach it."""

    port: int = Field(ge=1, le=65535)
    """The Service's port."""
    target_port: int | None = Field(default=None, ge=1, le=65535)
    """The container's port, when it differs from `port`."""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    app_protocol: LabelKey | None = None
    """The application protocol (e.g. `http`, `grpc`), passed to the Service; a qualified name."""

    @property
    def container_port(self) -> int:
        """The port the container listens on (what policy admits after the Service's translation)."""
        return self.target_port or self.port


class ServiceSpec(Model):
    """What the workload listens on; a Service is derived from it."""

    ports: dict[PortName, ServicePort] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ports(self) -> ServiceSpec:
        seen: dict[tuple[int, str], str] = {}
        for name, spec in self.ports.items():
            key = (spec.port, spec.protocol)
            if key in seen:
                raise invalid(
                    f"port `{name}` uses {spec.protocol} port {spec.port}, as port `{seen[key]}` already does",
                    "give each port its own number",
                    ("ports", name, "port"),
                )
            seen[key] = name
        return self


DependencyType = Literal["service", "external-service", "secret", "volume", "gpu"]
Direction = Literal["outbound", "inbound", "both"]

# Which params each dependency type accepts, and which it requires.
PARAMS_BY_TYPE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "service": (frozenset(), frozenset()),
    "external-service": (frozenset({"endpoints"}), frozenset({"endpoints"})),
    "secret": (frozenset({"keys", "provider", "refreshInterval", "secretType"}), frozenset()),
    "volume": (frozenset({"size", "storageClass", "accessMode"}), frozenset()),
    "gpu": (frozenset({"count", "model", "memory"}), frozenset({"count"})),
}

# Keys a Secret of a type must hold: (keys, True when one of them is enough).
_SECRET_TYPE_KEYS: dict[str, tuple[tuple[str, ...], bool]] = {
    "kubernetes.io/tls": (("tls.crt", "tls.key"), False),
    "kubernetes.io/dockerconfigjson": ((".dockerconfigjson",), False),
    "kubernetes.io/dockercfg": ((".dockercfg",), False),
    "kubernetes.io/ssh-auth": (("ssh-privatekey",), False),
    "kubernetes.io/basic-auth": (("username", "password"), True),
}
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


class DependencyParams(Model):
    """Params of every dependency type in one structural shape; `Dependency` checks which apply."""

    keys: list[str] | None = None
    """Secret: the keys this workload reads; omit to read every key."""
    provider: DnsLabel | None = None
    """Secret: the SecretProvider holding it; defaults to the platform's."""
    refresh_interval: GoDuration | None = None
    """Secret: how often the synced Secret is refreshed (`1h`, `15m`); defaults to the platform's."""
    secret_type: str | None = None
    """Secret: the type of the synced Kubernetes Secret."""
    endpoints: dict[str, str] | None = None
    """External service: named endpoints (`https://host`, `http://host:port`, `host:port`, `tcp://addr:port`)."""
    size: Quantity | None = None
    """Volume: the claim's size; given, this workload owns the claim. With neither `size` nor `id` the volume is
    an emptyDir that the pod's containers share."""
    storage_class: str | None = None
    """Volume: the storage class (a StorageClass name: a DNS subdomain)."""
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"] | None = None
    """Volume: the access mode (default ReadWriteOnce)."""
    count: int | None = Field(default=None, ge=1, le=INT32_MAX)
    """GPU: how many."""
    model: str | None = None
    """GPU: the model (e.g. `nvidia-h100`), which the platform maps to node products (`spec.gpu.products`)."""
    memory: Quantity | None = None
    """GPU: memory needed per GPU."""

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise invalid("keys is empty", "list the keys you read, or remove `keys` to read all of them")
        for i, key in enumerate(value):
            # A Secret key (apimachinery validation.IsConfigMapKey): at most 253 of these characters, and not
            # `.`, `..` or starting with `..`.
            if not _SECRET_KEY.fullmatch(key):
                raise invalid(f"secret key `{key}` has characters a Secret key cannot have",
                              "use letters, digits, '-', '_' and '.'", (i,))
            if len(key) > 253 or key.startswith(".."):
                raise invalid(f"secret key `{key}` cannot name a Secret key "
                              + ("(at most 253 characters)" if len(key) > 253 else "(it starts with `..`)"),
                              "use at most 253 letters, digits, '-', '_' and '.', not starting with `..`", (i,))
            if key == ".":
                raise invalid("secret key `.` cannot name a Secret key", "name the key", (i,))
        if len(set(value)) != len(value):
            raise invalid("keys lists a key twice", "list each key once")
        return value

    @model_validator(mode="after")
    def _type_has_its_keys(self) -> DependencyParams:
        # Kubernetes refuses a Secret of these types without these keys (core validation, ValidateSecret), so
        # the ExternalSecret would never sync. Without `keys` every key is read, and what arrives is not known.
        if self.secret_type == "kubernetes.io/service-account-token":
            raise invalid("a synced Secret cannot be a service-account token (Kubernetes fills those itself)",
                          "remove `secretType`, or use `Opaque`", ("secretType",))
        required = _SECRET_TYPE_KEYS.get(self.secret_type or "")
        if required is not None and self.keys is not None:
            needed, any_of = required
            missing = [key for key in needed if key not in self.keys]
            if any_of and len(missing) < len(needed):
                missing = []
            if missing:
                joiner = " or " if any_of else " and "
                shown = joiner.join(f"`{key}`" for key in missing)
                raise invalid(f"a Secret of type `{self.secret_type}` needs {shown}, which `keys` does not list",
                              f"add {shown} to `keys`", ("keys",))
        return self

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str | None) -> str | None:
        # The claim's storageClassName must be a DNS subdomain (core validation, ValidateClassName).
        if value is not None and (len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value)):
            raise invalid(f"`{value}` cannot name a StorageClass (lower-case letters, digits, '-' and '.')",
                          "write the name `kubectl get storageclass` shows, e.g. `standard`")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        # The model becomes a nodeSelector value, which Kubernetes checks as a label value.
        if value is not None and (len(value) > 63 or not LABEL_VALUE.fullmatch(value)):
            raise invalid(f"GPU model `{value}` cannot be a node label value",
                          "use at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric, "
                          "e.g. `NVIDIA-H100-80GB-HBM3`")
        return value

    @field_validator("size")
    @classmethod
    def _size_positive(cls, value: str | None) -> str | None:
        # A claim's storage request must be greater than zero (core validation, ValidatePersistentVolumeClaimSpec).
        if value is not None and parse_quantity(value) == 0:
            raise invalid(f"a volume of size `{value}` holds nothing", "write the size it needs, e.g. `1Gi`")
        return value

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if not value:
            raise invalid("endpoints is empty", "add e.g. `endpoints: {api: \"https://api.example.com\"}`")
        for name, url in value.items():
            try:
                check_dns_label(name, "endpoint name")
                parse_endpoint(url)
            except PydanticCustomError as exc:
                raise reraise_at(exc, name) from None
        return value


class Dependency(Model):
    """One entry of the `resources` map: something the workload uses or that uses it."""

    type: DependencyType
    """`service`, `external-service`, `secret`, `volume` or `gpu`."""
    direction: Direction | None = None
    """For services: `outbound` (this workload calls it, the default), `inbound` (it calls this workload) or
    `both`. Traffic flows only when the other side declares the matching direction too."""
    namespace: DnsLabel | None = None
    """For services in another namespace."""
    id: str | None = None
    """The remote name when it differs from this entry's key: another service's name, a secret's path in the
    secret store, or a shared volume's claim."""
    class_: str | None = Field(default=None, alias="class")
    """Score's resource class; accepted for compatibility."""
    params: DependencyParams = Field(default_factory=DependencyParams)
    """Type-specific parameters (secret: keys, provider, refreshInterval, secretType; external-service:
    endpoints; volume: size, storageClass, accessMode; gpu: count, model, memory)."""

    @model_validator(mode="after")
    def _fits_type(self) -> Dependency:
        allowed, required = PARAMS_BY_TYPE[self.type]
        given = {to_alias(name) for name in self.params.model_fields_set}
        article = "an" if self.type[0] in "aeiou" else "a"
        for name in sorted(given - allowed):
            accepted = f"it accepts {', '.join(sorted(allowed))}" if allowed else f"{article} {self.type} takes none"
            other = _type_with(name)
            raise invalid(
                f"`{name}` is not a param of {article} `{self.type}` resource ({accepted})",
                f"remove `{name}`" + (f", or change the type to `{other}`" if other else ""),
                ("params", name),
            )
        for name in sorted(required - given):
            example = _PARAM_EXAMPLES.get(name, "...")
            raise invalid(f"{article} `{self.type}` resource needs `params.{name}`",
                          f"add `params: {{{name}: {example}}}`", ("params",))
        if self.direction is not None and self.type not in ("service", "external-service"):
            raise invalid(f"direction applies only to service dependencies, not to {article} `{self.type}`",
                          "remove `direction`", ("direction",))
        if self.type == "external-service" and self.direction not in (None, "outbound"):
            raise invalid(
                "an external-service can only be called (direction outbound)",
                "remove `direction`; traffic from outside the cluster comes through `ingress`",
                ("direction",),
            )
        if self.type == "volume" and self.id is None and self.params.size is None:
            for name in sorted(given & {"storageClass", "accessMode"}):
                raise invalid(
                    f"`{name}` applies to a claim, but a volume with neither `size` nor `id` is an emptyDir",
                    "add `size` (this workload owns the claim) or `id` (a claim someone else owns), "
                    f"or remove `{name}` for an emptyDir",
                    ("params", name),
                )
        if self.namespace is not None and self.type != "service":
            raise invalid(f"namespace applies only to `service` dependencies, not to {article} `{self.type}`",
                          "remove `namespace`", ("namespace",))
        if self.id is not None:
            _check_id(self.type, self.id)
        if self.type == "service" and self.id == ANY_CALLER and self.effective_direction != "inbound":
            raise invalid(f"`{ANY_CALLER}` names no service: it stands for any caller, so it takes "
                          "`direction: inbound`",
                          "name the service it calls (its `metadata.name`), or write `direction: inbound`", ("id",))
        return self

    @property
    def effective_direction(self) -> Direction:
        return self.direction or "outbound"

    @property
    def is_claim(self) -> bool:
        """A volume backed by a PersistentVolumeClaim (owned: `size`; shared: `id`), not an emptyDir."""
        return self.type == "volume" and (self.params.size is not None or self.id is not None)

    @property
    def access_mode(self) -> str:
        """A claim's access mode: as declared (for a shared claim, what its owner created), else ReadWriteOnce."""
        return self.params.access_mode or "ReadWriteOnce"


# A service dependency's `id` that stands for any caller (DESIGN: an inbound wildcard, which the authorization
# gate must permit); it never names a service.
ANY_CALLER = "*"


def _check_id(kind: str, value: str) -> None:
    """An `id` becomes a name Kubernetes checks: a service's (a DNS label, or `*` for any caller) or a claim's
    (a DNS subdomain, core validation ValidatePersistentVolumeName); a secret's is a path in its store."""
    where = ("id",)
    if "${" in value:
        raise invalid(f"id `{value}` contains a placeholder; ids are never resolved",
                      "write the plain name, or for a secret the plain path", where)
    if kind == "service" and value != ANY_CALLER and (len(value) > 63 or not DNS_LABEL.fullmatch(value)):
        raise invalid(f"id `{value}` cannot name a service (a DNS label: lower-case letters, digits and '-')",
                      "write the other service's `metadata.name`, or `*` for any caller", where)
    if kind == "volume" and (len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value)):
        raise invalid(f"id `{value}` cannot name a PersistentVolumeClaim (lower-case letters, digits, '-' and '.')",
                      "write the shared claim's name", where)
    unseen = paths.unseen(value)
    if not value or unseen:
        raise invalid(f"id `{value}` " + (f"contains {unseen}" if unseen else "is empty"),
                      "write the name or path it refers to", where)


_PARAM_EXAMPLES = {"endpoints": '{api: "https://api.example.com"}', "count": "1"}


def _type_with(param: str) -> str | None:
    for kind, (allowed, _) in PARAMS_BY_TYPE.items():
        if param in allowed:
            return kind
    return None


def to_alias(field_name: str) -> str:
    field = DependencyParams.model_fields[field_name]
    return field.alias or field_name


def _container_name(value: str) -> str:
    return check_dns_label(value, "container name")


def _resource_name(value: str) -> str:
    return check_dns_label(value, "resource name")


ContainerName = Annotated[str, AfterValidator(_container_name)]
ResourceName = Annotated[str, AfterValidator(_resource_name)]


class PodSecurity(Model):
    """The pod's own deviations from the restricted default: the settings Kubernetes keeps on the pod spec, not
    on a container (`spec.workload.security`; Score's workload has no `security`, so a Score file is unaffected).
    Each needs an `OverrideSecurity` permit; the ids are those of the public Rust implementation, which writes
    these fields at the top of `spec`."""

    host_network: bool | None = None
    """Run in the node's network namespace. Such pods are outside the mesh and Cilium sees their traffic as the
    node's, so no per-service policy applies to them (see `lattice.compiler.security`)."""
    host_pid: bool | None = Field(default=None, alias="hostPID")  # Kubernetes' spelling, not camelCase's
    """See and signal every process of the node."""
    share_process_namespace: bool | None = None
    """One process namespace for the pod's containers: each sees (and may signal) the others' processes and
    reads their filesystems through `/proc/<pid>/root`."""
    automount_service_account_token: bool | None = None
    """Mount the service account's API token (off by default: the workload's identity is its mesh certificate)."""

    @model_validator(mode="after")
    def _host_pid_or_shared(self) -> PodSecurity:
        # Kubernetes refuses both at once (core validation, validatePodSpec: "ShareProcessNamespace and HostPID
        # cannot both be enabled").
        if self.host_pid and self.share_process_namespace:
            raise invalid("`hostPID` and `shareProcessNamespace` cannot both be true (Kubernetes refuses the pod)",
                          "keep `hostPID` to see the node's processes, or `shareProcessNamespace` to see only "
                          "the pod's", ("shareProcessNamespace",))
        return self


class Workload(Model):
    """The Score workload: containers, the ports it serves and the resources it depends on."""

    containers: dict[ContainerName, Container] = Field(min_length=1)
    """The containers of each pod, by name; the first one carries the service ports."""
    service: ServiceSpec | None = None
    """The ports the workload serves."""
    resources: dict[ResourceName, Dependency] = Field(default_factory=dict)
    """Everything the workload depends on or is called by, by name: services, external services, secrets,
    volumes, GPUs."""
    labels: Labels = Field(default_factory=dict)
    """Labels of the pods alone (the workload's own `metadata.labels` label every object, its pods included)."""
    security: PodSecurity | None = None
    """Explicit, visible deviations of the pod from the restricted default (the containers' own are under each
    container's `security`)."""

    @model_validator(mode="before")
    @classmethod
    def _score_metadata(cls, data: Any) -> Any:
        """Score's workload carries its own `metadata` (name, annotations); "unknown field, remove it" would
        lose what it says, so say where each part goes."""
        if isinstance(data, dict) and "metadata" in data:
            raise invalid(
                "`metadata` belongs to the object, not to its workload: the object's `metadata.name` names the "
                "workload",
                "move `name`, `labels` and `annotations` to the top-level `metadata` (labels for the pods alone go "
                "under `spec.workload.labels`), then remove `spec.workload.metadata`",
                ("metadata",),
            )
        return data

    @property
    def ports(self) -> dict[str, ServicePort]:
        return self.service.ports if self.service else {}

    def single_attach_claims(self) -> list[str]:
        """The mounted volume resources whose claim one node (ReadWriteOnce) or one pod (ReadWriteOncePod) may
        attach at a time, sorted: a pod that needs one elsewhere waits on a Multi-Attach error."""
        mounted = {mount.resource for container in self.containers.values()
                   for mount in container.volumes.values() if not mount.is_empty_dir}
        return sorted(name for name in mounted if self.resources[name].is_claim
                      and self.resources[name].access_mode in ("ReadWriteOnce", "ReadWriteOncePod"))

    def _what_is(self, name: str) -> str:
        dep = self.resources.get(name)
        return f"`{name}` is a `{dep.type}` resource" if dep else f"no resource `{name}` is declared"

    def _probe_ports_declared(self) -> None:
        for index, (cname, container) in enumerate(self.containers.items()):
            for field, probe in (("livenessProbe", container.liveness_probe),
                                 ("readinessProbe", container.readiness_probe),
                                 ("startupProbe", container.startup_probe)):
                port = probe.port if probe is not None else None
                if isinstance(port, str) and (index > 0 or port not in self.ports):
                    raise _probe_port_problem(self, index, cname, field, port)

    @model_validator(mode="after")
    def _references_resolve(self) -> Workload:
        volumes = sorted(n for n, d in self.resources.items() if d.type == "volume")
        secrets = sorted(n for n, d in self.resources.items() if d.type == "secret")
        for cname, container in self.containers.items():
            for target, mount in container.volumes.items():
                if mount.is_empty_dir:
                    continue
                name = mount.resource
                if name not in volumes:
                    what = self._what_is(name or mount.source or "")
                    hint = (f"write `source: ${{resources.{volumes[0]}}}`" if volumes else
                            "declare e.g. `data: {type: volume, params: {size: 1Gi}}` under `workload.resources` "
                            "and write `source: ${resources.data}`")
                    raise invalid(f"`{mount.source}` does not name a volume resource ({what})", hint,
                                  ("containers", cname, "volumes", target, "source"))
            for i, name in enumerate(container.env_from):
                if name not in secrets:
                    raise invalid(
                        f"`{name}` is not a secret resource ({self._what_is(name)}); envFrom takes secret resources",
                        f"name one of: {', '.join(secrets)}" if secrets else
                        "declare it under `workload.resources` as e.g. `NAME: {type: secret}`",
                        ("containers", cname, "envFrom", i),
                    )
        self._probe_ports_declared()
        gpus = sorted(n for n, d in self.resources.items() if d.type == "gpu")
        if len(gpus) > 1:
            raise invalid(f"{len(gpus)} gpu resources are declared ({', '.join(gpus)})",
                          "declare one gpu resource and set its `count`")
        return self


def _probe_port_problem(workload: Workload, index: int, cname: str, field: str, port: str) -> PydanticCustomError:
    """A probe naming a port the container does not have: the kubelet could not resolve it and the probe would
    fail forever (the container's ports are the service ports, on the first container only)."""
    first = next(iter(workload.containers))
    kind = next(h for h in ("httpGet", "tcpSocket", "grpc") if getattr(getattr(workload.containers[cname], _snake(
        field)), _snake(h)) is not None)
    where = ("containers", cname, field, kind, "port")
    if index > 0:
        return invalid(f"the probe names the port `{port}`, but only the first container (`{first}`) has named "
                       "ports", "write the port number the container listens on", where)
    declared = ", ".join(f"`{n}`" for n in workload.ports)
    return invalid(f"the probe names the port `{port}`, which the service does not declare",
                   f"use one of: {declared}, or a port number" if declared else
                   "write the port number, or declare the port under `workload.service.ports`", where)


_VOLUME_SOURCE = re.compile(r"\$\{resources\.(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\}")
