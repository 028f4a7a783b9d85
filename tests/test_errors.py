"""Every user mistake is reported exactly: file, line, object, field path, what is wrong and what to write.

Each file in `tests/inputs/invalid/` holds one malformed input (a comment on top says what is wrong). The
table below pairs it with the exact stderr that `lattice compile` prints for it. The CLI runs in-process
through typer's CliRunner, which keeps stderr apart from stdout, so stdout can be checked too: a service
that fails produces no manifests at all.

`FILE` in an expected text stands for the input's path as given on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from lattice.cli.main import app
from tests.support.gates import admitting

REPO = Path(__file__).resolve().parent.parent
INVALID = Path("tests/inputs/invalid")  # relative to REPO, so paths in messages are short and stable

# (input file, the exact stderr of `lattice compile tests/inputs/invalid/<file>`).
CASES: list[tuple[str, str]] = [
    (
        'apiversion-wrong.yaml',
        'error: FILE:2: LatticeService demo/shop: apiVersion: unsupported apiVersion `lattice.dev/v1`\n'
        '  hint: write `lattice.dev/v1alpha1`\n'
    ),
    (
        'autoscaling-min-above-max.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.autoscaling.min: autoscaling.min (5) is larger than autoscaling.max (3)\n'
        '  hint: make min at most max\n'
    ),
    (
        'capability-lowercase.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.security.capabilities[0]: `net_bind_service` is not a Linux capability name as Kubernetes writes it\n'
        '  hint: write `NET_BIND_SERVICE` (upper case, without the CAP_ prefix)\n'
    ),
    (
        'container-name-not-dns.yaml',
        "error: FILE:10: LatticeService demo/shop: spec.workload.containers.Main_App: container name `Main_App` is not a DNS label (lower-case letters, digits and '-', starting and ending with a letter or digit)\n"
        '  hint: write `main-app`\n'
    ),
    (
        'cpu-quantity-invalid.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.resources.limits.cpu: `half` is not a Kubernetes quantity\n'
        '  hint: write a number with an optional unit, e.g. `500m` or `2` for CPU, `512Mi` or `1Gi` for memory\n'
    ),
    (
        'direction-unknown.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.orders.direction: `upstream` is not a valid direction\n'
        '  hint: write one of: outbound, inbound, both\n'
    ),
    (
        'document-is-list.yaml',
        'error: FILE:2: a document must be a mapping, got a list\n'
        '  hint: write `apiVersion`, `kind`, `metadata` and `spec` keys\n'
    ),
    (
        'duplicate-port-numbers.yaml',
        'error: FILE:17: LatticeService demo/shop: spec.workload.service.ports.admin.port: port `admin` uses TCP port 8080, as port `http` already does\n'
        '  hint: give each port its own number\n'
    ),
    (
        'duplicate-service.yaml',
        'error: FILE:21: LatticeService demo/shop: metadata.name: LatticeService demo/shop is defined twice (first at FILE:2); neither is compiled\n'
        '  hint: give one of them another name or namespace, or delete one\n'
    ),
    (
        'endpoint-url-invalid.yaml',
        'error: FILE:21: LatticeService demo/shop: spec.workload.resources.stripe.params.endpoints.api: endpoint `ftp://files.stripe.com` uses the unsupported scheme `ftp` (supported: https, http, grpc, tls, tcp)\n'
        '  hint: write `https://host`, `http://host:8080`, `host:port` or `tcp://host:port`\n'
    ),
    (
        'envfrom-not-secret.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.workload.containers.main.envFrom[0]: `orders` is not a secret resource (`orders` is a `service` resource); envFrom takes secret resources\n'
        '  hint: declare it under `workload.resources` as e.g. `NAME: {type: secret}`\n'
    ),
    (
        'external-service-no-endpoints.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.stripe.params: an `external-service` resource needs `params.endpoints`\n'
        '  hint: add `params: {endpoints: {api: "https://api.example.com"}}`\n'
    ),
    (
        'file-target-relative.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.files.etc/app.conf: the target `etc/app.conf` is not an absolute path\n'
        '  hint: write `/etc/app.conf`\n'
    ),
    (
        'gpu-count-missing.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.accel.params: a `gpu` resource needs `params.count`\n'
        '  hint: add `params: {count: 1}`\n'
    ),
    (
        'image-semicolon.yaml',
        'error: FILE:11: LatticeService demo/shop: spec.workload.containers.main.image: image `registry.example.com/shop:1.0;rm` contains `;`, which no image reference has\n'
        '  hint: write a plain reference such as `registry.example.com/team/app@sha256:<64 hex>`\n'
    ),
    (
        'image-whitespace.yaml',
        'error: FILE:11: LatticeService demo/shop: spec.workload.containers.main.image: image `registry.example.com/shop :1.0` contains a space, which no image reference has\n'
        '  hint: remove it: `registry.example.com/shop:1.0`\n'
    ),
    (
        'ingress-port-unknown.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.ingress.routes.public.port: port `web` is not a port of this service\n'
        '  hint: use one of: http\n'
    ),
    (
        'kind-unknown.yaml',
        'error: FILE:3: LatticeServce demo/shop: kind: unknown kind `LatticeServce`\n'
        '  hint: did you mean `LatticeService`?\n'
    ),
    (
        'memory-quantity-invalid.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.resources.limits.memory: `512MB` is not a Kubernetes quantity (quantities take no `B`)\n'
        '  hint: write `512Mi` (binary units) or `512M` (decimal units)\n'
    ),
    (
        'metadata-name-missing.yaml',
        'error: FILE:4: LatticeService demo/?: metadata.name: required field `name` is missing\n'
        '  hint: add `name: my-service`\n'
    ),
    (
        'mixed-fleet.yaml',
        'error: FILE:13: LatticeService demo/broken: spec.workload.containers.main.variables.ORDERS_URL: `${resources.orders.url}` refers to the resource `orders`, which is not declared\n'
        '  hint: declare it under `workload.resources`, e.g. `orders: {type: service}`\n'
    ),
    (
        'params-wrong-type.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.orders.params.keys: `keys` is not a param of a `service` resource (a service takes none)\n'
        '  hint: remove `keys`, or change the type to `secret`\n'
    ),
    (
        'placeholder-unknown-resource.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.ORDERS_URL: `${resources.nope.url}` refers to the resource `nope`, which is not declared\n'
        '  hint: declare it under `workload.resources`, e.g. `nope: {type: service}` (declared: orders)\n'
    ),
    (
        'placeholder-unknown-service-key.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.ORDERS_HOST: `${resources.orders.hostname}`: a service resource has no key `hostname`\n'
        '  hint: use `host`, `port` or `url`\n'
    ),
    (
        'placeholder-unterminated.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.ORDERS_URL: `${resources.orders.url` opens a placeholder that is never closed\n'
        '  hint: close it with `}`, or write `$${` for a literal `${`\n'
    ),
    (
        'platform-not-default.yaml',
        'error: FILE:5: LatticePlatform production: metadata.name: the platform object must be named `default`\n'
        '  hint: rename it to `default`: there is one LatticePlatform per cluster\n'
    ),
    (
        'port-name-too-long.yaml',
        'error: FILE:16: LatticeService demo/shop: spec.workload.service.ports.http-admin-metric: port name `http-admin-metric` is 17 characters long; at most 15 are allowed\n'
        '  hint: shorten it, e.g. `http-admin-metr`\n'
    ),
    (
        'port-out-of-range.yaml',
        'error: FILE:16: LatticeService demo/shop: spec.workload.service.ports.http.port: 70000 is too large (the maximum is 65535)\n'
        '  hint: write a value of at most 65535\n'
    ),
    (
        'probe-two-handlers.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.workload.containers.main.readinessProbe: a probe needs exactly one handler; found 2 (httpGet, tcpSocket)\n'
        '  hint: keep one: remove `httpGet` or `tcpSocket`\n'
    ),
    (
        'replicas-above-autoscaling-max.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replicas: replicas (5) is larger than autoscaling.max (3)\n'
        '  hint: raise autoscaling.max to at least 5 or lower replicas\n'
    ),
    (
        'replicas-negative.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replicas: -1 is too small (the minimum is 0)\n'
        '  hint: write a value of at least 0\n'
    ),
    (
        'replicas-not-a-number.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replicas: `two` is not a whole number\n'
        '  hint: write a number without quotes, e.g. `3`\n'
    ),
    (
        'requests-exceed-limits.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.resources.requests.memory: the request (1Gi) is larger than the limit (512Mi)\n'
        '  hint: lower the request to at most `512Mi` or raise the limit\n'
    ),
    (
        'resource-type-typo.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.orders.type: `servce` is not a valid type\n'
        '  hint: did you mean `service`? (allowed: service, external-service, secret, volume, gpu)\n'
    ),
    (
        'secret-alias-not-secret.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.ORDERS_HOST: `${secret.orders.host}` uses the secret alias for `orders`, a `service` resource\n'
        '  hint: write `${resources.orders.host}`\n'
    ),
    (
        'secret-file-two-stores.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.files./etc/shop/db.ini.content: the value combines secrets from different secret providers (`db-pass` from `aws`, `db-user` from `vault`); one value is rendered by one ExternalSecret, which reads from one store\n'
        '  hint: split it into one value per provider, or move the secrets into one provider (`params.provider` on each secret resource)\n'
    ),
    (
        'secret-in-annotation.yaml',
        'error: FILE:8: LatticeService demo/shop: metadata.annotations.example.com/db: `${resources.db-creds.password}` reads a secret in an annotation; annotations are never resolved and are readable by anyone who may list the object\n'
        '  hint: remove it; read the secret in the container instead, from `variables` (e.g. `VALUE: "${resources.db-creds.password}"`) or `files`\n'
    ),
    (
        'secret-in-args.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.workload.containers.main.args[1]: `args` reads secret `db-creds` (key `password`); command and args are plain text in the pod spec, visible to anyone who can read the pod or run `ps` on the node\n'
        '  hint: pass it through a variable (e.g. `variables: {SECRET: "${secret.db-creds.password}"}`) or a file under `files`, and have the program read it from there\n'
    ),
    (
        'secret-in-image.yaml',
        "error: FILE:11: LatticeService demo/shop: spec.workload.containers.main.image: image `registry.example.com/${secret.pull.token}/shop:1.0` contains a placeholder; image references are never resolved, and a secret in one would be plain text in the pod spec and in the registry's logs\n"
        "  hint: write the plain reference; pull credentials come from the registry's ImageProvider (its `credentials` become the pod's imagePullSecrets)\n"
    ),
    (
        'secret-in-label.yaml',
        'error: FILE:8: LatticeService demo/shop: metadata.labels.token: label `token` holds the placeholder `${secret.db-creds.password}`; labels are never resolved: they are copied as plain text to every derived object and readable by anyone who may list them\n'
        '  hint: remove it; read a secret in the container instead, from `variables` or `files`\n'
    ),
    (
        'secret-key-not-listed.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.DB_PASSWORD: `${resources.db-creds.pasword}` reads the key `pasword`, which secret `db-creds` does not list\n'
        '  hint: add `pasword` to `resources.db-creds.params.keys` (listed: username, password)\n'
    ),
    (
        'secret-keys-empty.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.db-creds.params.keys: keys is empty\n'
        '  hint: list the keys you read, or remove `keys` to read all of them\n'
    ),
    (
        'secret-two-stores.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.DB_URL: the value combines secrets from different secret providers (`db-pass` from `aws`, `db-user` from `vault`); one value is rendered by one ExternalSecret, which reads from one store\n'
        '  hint: split it into one value per provider, or move the secrets into one provider (`params.provider` on each secret resource)\n'
    ),
    (
        'service-name-not-dns1035.yaml',
        "error: FILE:5: LatticeService demo/9lives: metadata.name: `9lives` cannot name a Kubernetes Service (a letter first, then lower-case letters, digits and '-', at most 63 characters)\n"
        '  hint: rename it, e.g. `svc-9lives`\n'
    ),
    (
        'unknown-field-replica.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replica: unknown field `replica`\n'
        '  hint: did you mean `replicas`?\n'
    ),
    (
        'variable-name-invalid.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.variables.1DB: `1DB` is not a valid environment variable name\n'
        '  hint: use letters, digits and `_`, starting with a letter or `_`, e.g. `_1DB`\n'
    ),
    (
        'variable-uses-secret.yaml',
        'error: FILE:20: LatticeService demo/shop: spec.workload.resources.db-creds.params.provider: secret `db-creds` names no secret provider and the platform sets no default\n'
        '  hint: add `provider: vault` under `resources.db-creds.params`, or set `spec.secrets.defaultProvider: vault` on the LatticePlatform `default`\n'
    ),
    (
        'volume-source-not-volume.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.volumes./data.source: `${resources.orders}` does not name a volume resource (`orders` is a `service` resource)\n'
        '  hint: declare e.g. `data: {type: volume, params: {size: 1Gi}}` under `workload.resources` and write `source: ${resources.data}`\n'
    ),
    (
        'yaml-syntax-error.yaml',
        "error: FILE:14: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping that starts at line 13)\n"
        '  hint: fix the YAML syntax at that line\n'
    ),
    # What Kubernetes (or Gateway API, Prometheus, ESO) would refuse, and secrets where they would leak (issue 7 B.4, B.5).
    (
        'port-name-double-hyphen.yaml',
        'error: FILE:16: LatticeService demo/shop: spec.workload.service.ports.http--admin: port name `http--admin` has two hyphens in a row, which Kubernetes does not allow in a port name\n'
        '  hint: write `http-admin`\n'
    ),
    (
        'replicas-above-int32.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replicas: 2147483648 is too large (the maximum is 2147483647)\n'
        '  hint: write a value of at most 2147483647\n'
    ),
    (
        'probe-port-unknown.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.readinessProbe.httpGet.port: the probe names the port `web`, which the service does not declare\n'
        '  hint: use one of: `http`, or a port number\n'
    ),
    (
        'probe-success-threshold.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.livenessProbe.successThreshold: successThreshold of a livenessProbe must be 1, not 3\n'
        '  hint: remove `successThreshold` (only a readinessProbe may ask for more successes)\n'
    ),
    (
        'file-at-tmp.yaml',
        "error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.files./tmp: `/tmp` is already the mount point of the platform's writable emptyDir; two mounts cannot share a path\n"
        '  hint: put the file under `/tmp/` or elsewhere\n'
    ),
    (
        'file-and-volume-same-path.yaml',
        'error: FILE:15: LatticeService demo/shop: spec.workload.containers.main.volumes./data: `/data` is already the mount point of a file; two mounts cannot share a path\n'
        '  hint: mount it elsewhere, or remove one of the two\n'
    ),
    (
        'mount-below-file.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.files./etc/shop/app.conf: `/etc/shop/app.conf` lies below `/etc/shop`, which is a file, so nothing can be mounted there\n'
        '  hint: move one of them: `/etc/shop` cannot be a file and a directory at once\n'
    ),
    (
        'file-target-not-normalized.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.workload.containers.main.files./etc//shop/../app.conf: the target `/etc//shop/../app.conf` is not a normalized path (no `//`, `.` or `..` parts, no trailing `/`)\n'
        '  hint: write `/etc/app.conf`\n'
    ),
    (
        'volume-path-absolute.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.volumes./data.path: the path `/cache` is not a relative path inside the volume\n'
        '  hint: write `cache`\n'
    ),
    (
        'storage-class-invalid.yaml',
        "error: FILE:20: LatticeService demo/shop: spec.workload.resources.data.params.storageClass: `Fast SSD` cannot name a StorageClass (lower-case letters, digits, '-' and '.')\n"
        '  hint: write the name `kubectl get storageclass` shows, e.g. `standard`\n'
    ),
    (
        'volume-id-invalid.yaml',
        "error: FILE:20: LatticeService demo/shop: spec.workload.resources.data.id: id `Shared_Data` cannot name a PersistentVolumeClaim (lower-case letters, digits, '-' and '.')\n"
        "  hint: write the shared claim's name\n"
    ),
    (
        'gpu-model-invalid.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.workload.resources.accel.params.model: GPU model `NVIDIA H100 80GB` cannot be a node label value\n'
        "  hint: use at most 63 letters, digits, '-', '_' and '.', starting and ending alphanumeric, e.g. `NVIDIA-H100-80GB-HBM3`\n"
    ),
    (
        'limits-cpu-zero.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.resources.limits.cpu: a limit of `0` is no limit: Kubernetes leaves a container with a zero cpu limit unlimited\n'
        '  hint: write the most the container may use, e.g. `cpu: 500m`\n'
    ),
    (
        'image-non-ascii.yaml',
        'error: FILE:11: LatticeService demo/shop: spec.workload.containers.main.image: image `registry.example.com/shöp:1.0` contains `ö` (U+00F6); image references are ASCII only\n'
        '  hint: write the reference as the registry spells it: lower-case ASCII letters, digits, `.`, `_`, `-`, `/`\n'
    ),
    (
        'endpoint-catch-all.yaml',
        'error: FILE:21: LatticeService demo/shop: spec.workload.resources.anywhere.params.endpoints.all: endpoint `tcp://[0.0.0.0/0]:443` is every address (`0.0.0.0/0`), not an external service\n'
        '  hint: name the hosts the service calls, or the narrowest address range it needs\n'
    ),
    (
        'secret-in-probe-header.yaml',
        'error: FILE:17: LatticeService demo/shop: spec.workload.containers.main.livenessProbe.httpGet.httpHeaders[0].value: the probe reads secret `api` (key `token`); a probe is plain text in the pod spec, visible to anyone who can read the pod\n'
        "  hint: probe an endpoint that needs no secret, or use an `exec` probe whose program reads the secret from the container's environment or a file under `files`\n"
    ),
    (
        'secret-in-probe-command.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.readinessProbe.exec.command[1]: the probe reads secret `api` (key `token`); a probe is plain text in the pod spec, visible to anyone who can read the pod\n'
        "  hint: probe an endpoint that needs no secret, or use an `exec` probe whose program reads the secret from the container's environment or a file under `files`\n"
    ),
    (
        'secret-in-file-path.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.files./etc/${secret.api.token}.conf: the target `/etc/${secret.api.token}.conf` contains a placeholder; mount paths are never resolved, and a secret in one would be plain text in the pod spec\n'
        "  hint: write the plain path; put secret values in the file's `content`\n"
    ),
    (
        'secret-in-route-path.yaml',
        "error: FILE:12: LatticeService demo/shop: spec.ingress.routes.public.paths[0].value: the path `/hooks/${secret.api.token}` contains a placeholder; route paths are never resolved, and a secret in one would be plain text in the route and in every proxy's access log\n"
        '  hint: write the plain path\n'
    ),
    (
        'route-path-dot-segment.yaml',
        'error: FILE:12: LatticeService demo/shop: spec.ingress.routes.public.paths[0].value: the path `/api/../admin` contains `/../`, which Gateway API does not allow in a path match\n'
        '  hint: write the path without it (routes match normalized paths)\n'
    ),
    (
        'secret-expanded-in-args.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.args[0]: `$(DB_PASSWORD)` expands the secret variable `DB_PASSWORD` into the process arguments: Kubernetes substitutes `$(VAR)` in command and args, and anyone who can run `ps` on the node can read them\n'
        '  hint: have the program read `DB_PASSWORD` from its environment, where it is already set, or from a file\n'
    ),
    (
        'envfrom-secret-expanded-in-command.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.command[1]: `$(TOKEN)` expands `TOKEN`, which may be a key of secret `api` (`envFrom` reads every key), into the process arguments: Kubernetes substitutes `$(VAR)` in command and args, and anyone who can run `ps` on the node can read them\n'
        '  hint: list the keys under `resources.api.params.keys` so that `TOKEN` is known not to be one, or have the program read `TOKEN` from its environment, where it is already set, or from a file\n'
    ),
    (
        'platform-metrics-interval-invalid.yaml',
        'error: FILE:7: LatticePlatform default: spec.metrics.interval: `1.5m` is not a positive Prometheus duration\n'
        '  hint: write whole numbers with units in the order y, w, d, h, m, s, ms, e.g. `30s` or `1m30s`\n'
    ),
    (
        'platform-refresh-interval-invalid.yaml',
        'error: FILE:7: LatticePlatform default: spec.secrets.refreshInterval: `1d` is not a positive duration\n'
        '  hint: write a number and a unit (ns, us, ms, s, m, h), e.g. `1h`, `30m` or `1h30m`\n'
    ),
    (
        'file-mode-owner-only.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.files./etc/shop/key.pem.mode: mode `0400` lets only its owner (root) read it, and Lattice runs containers as non-root\n'
        "  hint: write `0440` (the pod's file group may read; others still may not)\n"
    ),
    (
        'service-and-mesh-member-same-name.yaml',
        'error: FILE:15: LatticeMeshMember demo/db: metadata.name: demo/db (a LatticeService and a LatticeMeshMember) is defined twice (first at FILE:2); neither is compiled\n'
        '  hint: give one of them another name or namespace, or delete one\n'
    ),
    (
        'kind-missing.yaml',
        'error: FILE:2: object demo/shop: kind: required field `kind` is missing\n'
        '  hint: add `kind:` with one of: CedarPolicy, ImageProvider, LatticeJob, LatticeMeshMember, LatticeModel, LatticePlatform, LatticeQuota, LatticeService, SecretProvider\n'
    ),
    (
        'image-is-a-boolean.yaml',
        'error: FILE:9: LatticeService demo/shop: spec.workload.containers.main.image: expected text, got a boolean `true`\n'
        '  hint: YAML reads a bare true/false/yes/no/on/off as a boolean: quote it if you meant text\n'
    ),
    (
        'not-utf8.yaml',
        'error: FILE: the file is not UTF-8 text (invalid continuation byte at byte 58)\n'
        '  hint: save it as UTF-8\n'
    ),
    (
        'file-source-local-path.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.files./etc/shop/app.conf.source: `source` points at a local file, which Lattice does not read (the controller compiles the same object in the cluster, where that file does not exist)\n'
        "  hint: inline the file's text: replace `source` with `content: |` and the text indented below it (add `noExpand: true` if the text holds `${` that must stay as written)\n"
    ),
    (
        'file-binary-content.yaml',
        'error: FILE:14: LatticeService demo/shop: spec.workload.containers.main.files./etc/shop/logo.png.binaryContent: `binaryContent` is not supported: files are mounted from ConfigMap text data\n'
        '  hint: if the decoded bytes are text, write that text under `content`; a binary file belongs in the image\n'
    ),
    (
        'kind-unrelated.yaml',
        'error: FILE:3: LatticeRoute demo/shop: kind: unknown kind `LatticeRoute`\n'
        '  hint: use one of: CedarPolicy, ImageProvider, LatticeJob, LatticeMeshMember, LatticeModel, LatticePlatform, LatticeQuota, LatticeService, SecretProvider\n'
    ),
    (
        'volume-rwo-many-replicas.yaml',
        'error: FILE:8: LatticeService demo/shop: spec.replicas: 3 replicas would mount the claim `data` (ReadWriteOnce), which attaches to one node at a time: a pod scheduled on another node waits forever on a Multi-Attach error\n'
        '  hint: run one pod (`replicas: 1` without `autoscaling`; each rollout then stops the old pod before it starts the new one), or use claims that many nodes can attach: `accessMode: ReadWriteMany` (`ReadOnlyMany` if every mount is read-only) with a storage class that provides it\n'
    ),
    (
        'volume-rwo-autoscaled.yaml',
        'error: FILE:18: LatticeService demo/shop: spec.autoscaling.max: autoscaling up to 4 pods would mount the claim `assets` (ReadWriteOnce), which attaches to one node at a time: a pod scheduled on another node waits forever on a Multi-Attach error\n'
        '  hint: run one pod (`replicas: 1` without `autoscaling`; each rollout then stops the old pod before it starts the new one), or use claims that many nodes can attach: `accessMode: ReadWriteMany` (`ReadOnlyMany` if every mount is read-only) with a storage class that provides it (for the shared claim `assets`, declare the access mode its owner gave it)\n'
    ),
    (
        'volume-at-tmp.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.volumes./tmp: the platform already mounts a writable emptyDir at `/tmp` in every container (the root filesystem is read-only)\n'
        "  hint: mount the volume at another path, e.g. `/data` (an emptyDir volume there needs no mount: the platform's /tmp is one emptyDir that all the pod's containers share)\n"
    ),
    (
        'volume-emptydir-subpath.yaml',
        'error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.volumes./cache.path: `path` needs `source`: without it the mount is an empty directory, and `path` is a sub path of a volume resource\n'
        '  hint: add `source: ${resources.NAME}` naming a volume resource, or remove `path`\n'
    ),
    (
        'volume-storage-class-without-size.yaml',
        'error: FILE:17: LatticeService demo/shop: spec.workload.resources.data.params.storageClass: `storageClass` applies to a claim, but a volume with neither `size` nor `id` is an emptyDir\n'
        '  hint: add `size` (this workload owns the claim) or `id` (a claim someone else owns), or remove `storageClass` for an emptyDir\n'
    ),
    (
        'request-above-default-limit.yaml',
        "error: FILE:13: LatticeService demo/shop: spec.workload.containers.main.resources.requests.memory: the request (1Gi) is larger than the platform's default memory limit (512Mi), which applies because the container sets no limit\n"
        '  hint: set `limits: {memory: 1Gi}` (or more) under `resources`, or lower the request\n'
    ),
    (
        'peer-failed.yaml',
        'error: FILE:7: LatticeService demo/orders: spec.replicas: `two` is not a whole number\n'
        '  hint: write a number without quotes, e.g. `3`\n'
        'error: FILE:40: LatticeService demo/cart: spec.workload.containers.main.variables.ORDERS_URL: `${resources.orders.url}` needs the port of service `demo/orders`, which failed to compile (its errors are reported with it)\n'
        '  hint: fix the errors of `demo/orders`, or write `${resources.orders.host}` and the port\n'
        'warning: FILE:30: LatticeService demo/shop: spec.workload.resources.orders: demo/orders failed to compile (its errors are reported with it), so no traffic flows between demo/shop and demo/orders until it compiles\n'
        '  hint: fix the errors of demo/orders\n'
    ),
    (
        'volumes-score-list-form.yaml',
        "error: FILE:12: LatticeService demo/shop: spec.workload.containers.main.volumes: `volumes` is a list, Score's deprecated form; Lattice takes a mapping keyed by target path\n"
        '  hint: write each entry under its target, e.g. `volumes: {/data: {source: "${resources.data}"}}`\n'
    ),
    (
        'yaml-duplicate-key.yaml',
        'error: FILE:14: spec.workload.containers.main.image: the key `image` is written twice (first at line 11); YAML readers disagree on which one counts\n'
        '  hint: keep exactly one of them\n'
    ),
    (
        'yaml-key-not-text.yaml',
        'error: FILE:13: spec.workload.containers.main.variables.on: the key `on` is read as a boolean, not as text\n'
        '  hint: quote it: `"on":`\n'
    ),
    (
        'yaml-integer-too-large.yaml',
        'error: FILE:8: spec.replicas: the number 99999999999999999999…999999 (5000 characters) does not fit in 64 bits, as Kubernetes numbers must\n'
        '  hint: write a smaller number, or quote it if you meant text\n'
    ),
    (
        'yaml-recursive-alias.yaml',
        'error: FILE:12: spec.workload.containers.main.args: this value contains an alias to itself (a recursive alias)\n'
        '  hint: remove the alias inside the anchored value\n'
    ),
    (
        'yaml-nesting-too-deep.yaml',
        'error: FILE:10: spec.provider.vault.path[0][0][0][0][0][0][0][0].…: the value is nested more than 100 levels deep\n'
        '  hint: flatten it; no Kubernetes object nests this deep\n'
    ),
    (
        'yaml-billion-laughs.yaml',
        'error: FILE:12: spec.provider.vault.d: the document expands its aliases to more values than it writes out (more than 10,000 extra)\n'
        '  hint: write the values out, or use fewer nested aliases\n'
    ),
    (
        'yaml-binary-value.yaml',
        'error: FILE:10: spec.provider.vault.caBundle: `!!binary` values are not supported\n'
        '  hint: write the base64 text as a plain string\n'
    ),
    (
        'yaml-unknown-tag.yaml',
        'error: FILE:11: spec.workload.containers.main.image: the tag `!secret` is not supported\n'
        '  hint: remove the tag; Lattice reads plain YAML values (text, numbers, booleans, null, lists, mappings)\n'
    ),
    (
        'apiversion-group-misspelt.yaml',
        'error: FILE:2: LatticeService demo/shop: apiVersion: `lattice.io/v1alpha1` is not the API group of Lattice kinds (`lattice.dev`), so this document would be skipped\n'
        '  hint: write `lattice.dev/v1alpha1`\n'
    ),
    (
        'control-characters-in-value.yaml',
        'error: FILE:11: LatticeService demo/shop: spec.workload.containers.main.image: image `registry.example.com/shop:1.0\\x1b[2J\\rOK \\x1b[32mall good` contains `\\r`, which no image reference has\n'
        '  hint: write a plain reference such as `registry.example.com/team/app@sha256:<64 hex>`\n'
    ),
    (
        'secret-provider-field-misspelt.yaml',
        'error: FILE:9: SecretProvider vault: spec.provider.vault.sever: unknown field `sever`\n'
        '  hint: did you mean `server`?\n'
    ),
]

# Inputs whose stdout is not empty although the run fails: the services still compiled, by name.
SURVIVORS: dict[str, set[str]] = {
    "mixed-fleet.yaml": {"good"},
    "peer-failed.yaml": {"shop", "shop-main-env"},
}


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def compile_(*paths: str) -> Result:
    return CliRunner().invoke(app, ["compile", *admitting(*paths)])


def manifests(stdout: str) -> list[dict[str, Any]]:
    """The workload manifests on stdout (cluster-wide platform objects are printed whatever compiled)."""
    return [doc for doc in yaml.safe_load_all(stdout)
            if doc is not None and doc["metadata"]["labels"].get("app.kubernetes.io/part-of") != "lattice"]


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[name.removesuffix(".yaml") for name, _ in CASES])
def test_invalid_input_is_reported_exactly(name: str, expected: str) -> None:
    path = str(INVALID / name)
    result = compile_(path)
    assert result.stderr == expected.replace("FILE", path)
    assert result.exit_code == 1
    compiled = {obj["metadata"]["name"] for obj in manifests(result.stdout)}
    assert compiled == SURVIVORS.get(name, set()), "a failed service must produce no manifests"


def test_every_invalid_input_has_a_row_and_a_comment() -> None:
    files = sorted(p.name for p in (REPO / INVALID).glob("*.yaml"))
    assert files == sorted(name for name, _ in CASES)
    assert len(files) >= 30
    for name in files:
        assert (REPO / INVALID / name).read_bytes().startswith(b"# "), name


def test_a_bad_service_does_not_stop_a_good_one() -> None:
    result = compile_(str(INVALID / "mixed-fleet.yaml"))
    assert result.exit_code == 1
    assert "LatticeService demo/broken" in result.stderr
    assert "demo/good" not in result.stderr
    objects = manifests(result.stdout)
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in objects} >= {
        ("ServiceAccount", "good"), ("Service", "good"), ("Deployment", "good")}
    assert all(obj["metadata"]["name"] == "good" for obj in objects)
    assert "broken" not in result.stdout


def test_a_directory_without_yaml_is_a_usage_error(tmp_path: Path) -> None:
    result = compile_(str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (f"error: no *.yaml or *.yml files under {tmp_path}\n"
                             "  hint: check the path; directories are searched for *.yaml and *.yml\n")
    assert result.stdout == ""


def test_a_nonexistent_path_is_a_usage_error() -> None:
    path = str(INVALID / "does-not-exist.yaml")
    result = compile_(path)
    assert result.exit_code == 2
    assert result.stderr == (f"error: no such file or directory: {path}\n"
                             "  hint: check the path; directories are searched for *.yaml and *.yml\n")
    assert result.stdout == ""


def test_a_configmap_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    """Files of one container become one ConfigMap; Kubernetes refuses one whose values pass 1 MiB (a 1 MiB input
    file would be too large to keep among the inputs, so this one is written here)."""
    half = "x" * (512 * 1024)
    doc = (INVALID / "file-target-relative.yaml").read_text(encoding="utf-8").replace(
        'etc/app.conf: {content: "debug = false"}',
        f'/etc/a.txt: {{content: "{half}"}}\n          /etc/b.txt: {{content: "{half}x"}}')
    path = tmp_path / "too-large.yaml"
    path.write_text(doc, encoding="utf-8")
    result = compile_(str(path))
    assert result.stderr == (
        f"error: {path}:12: LatticeService demo/shop: spec.workload.containers.main.files: the files of this "
        "container add up to 1048577 bytes; they become one ConfigMap, and Kubernetes refuses a ConfigMap over 1 MiB "
        "(1048576 bytes)\n"
        "  hint: ship large content in the image or on a volume, and keep configuration small\n")
    assert result.exit_code == 1
    assert manifests(result.stdout) == []
    exactly = doc.replace(f'{half}x"', f'{half}"')
    path.write_text(exactly, encoding="utf-8")
    assert compile_(str(path)).exit_code == 0, "exactly 1 MiB is allowed"


def test_files_with_secrets_over_one_mebibyte_are_refused(tmp_path: Path) -> None:
    """Files that read secrets become one templated Secret per store; their own text alone passes 1 MiB here."""
    big = "x" * (1024 * 1024)
    doc = (INVALID / "secret-file-two-stores.yaml").read_text(encoding="utf-8")
    doc = doc.replace("provider: aws", "provider: vault").replace("${", big + "${", 1)
    path = tmp_path / "secret-too-large.yaml"
    path.write_text(doc, encoding="utf-8")
    result = compile_(str(path))
    assert result.stderr == (
        f"error: {path}:12: LatticeService demo/shop: spec.workload.containers.main.files: the files that read "
        "secrets of this container add up to at least 1048596 bytes; they become one Secret, and Kubernetes "
        "refuses a Secret over 1 MiB (1048576 bytes)\n"
        "  hint: ship large content in the image or on a volume, and keep configuration small\n")
    assert result.exit_code == 1
    assert manifests(result.stdout) == []
