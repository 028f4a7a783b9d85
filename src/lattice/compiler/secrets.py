"""Secret routing: every secret value reaches the pod through External Secrets, never as plain text.

The compiler never sees a secret value. A `${resources.NAME.KEY}` (or `${secret.NAME.KEY}`) placeholder on a
secret resource stays symbolic (`SecretRef`) and this module decides how its value reaches the pod:

1. a variable that is exactly one placeholder: `env[].valueFrom.secretKeyRef` to the resource's Secret;
2. a variable mixing text and placeholders: a templated ExternalSecret renders the whole value;
3. a file with placeholders: a templated ExternalSecret whose Secret is mounted read-only;
4. an ImageProvider's registry credentials: a dockerconfigjson ExternalSecret and `imagePullSecrets`;
5. a secret resource in `envFrom`: the resource's whole Secret through `envFrom`.

Every secret resource gets one ExternalSecret `<service>-<resource>` syncing a Secret of the same name
(`keys` -> `data`, no `keys` -> `dataFrom.extract`). Templated ExternalSecrets fetch the values they need
themselves and render only the finished values (the default `mergePolicy: Replace` drops the inputs).

Template text is Go text/template (ESO engine v2). The router emits exactly two kinds of action:
`{{ index . "<resource>.<key>" }}` for a secret value and `{{ "<braces>" }}` for braces in the user's own
text, so that no user text can become a template action.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lattice.api.duration import go_duration_ns
from lattice.api.image_provider import ImageProviderSpec
from lattice.api.secret_provider import SecretProviderSpec
from lattice.api.workload import Dependency
from lattice.compiler import naming, template
from lattice.compiler.meta import Obj, new_object, owned
from lattice.compiler.resolve import Part, SecretRef
from lattice.errors import Problem

ESO_API_VERSION = "external-secrets.io/v1"
STORE_KIND = "ClusterSecretStore"
ENGINE_VERSION = "v2"
DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
DOCKERCONFIGJSON_KEY = ".dockerconfigjson"  # the one key a Secret of that type must hold
PULL_USERNAME_KEY = "username"
PULL_PASSWORD_KEY = "password"

# Braces that Go's template lexer could read as a delimiter: `{{`, `}}`, and a single `{` right before an
# action we emit (an escaped `}}`, or whatever follows the end of the text), which would otherwise open that
# action one character early.
_DELIMITERS = re.compile(r"\{\{|\}\}|\{(?=\}\}|\Z)")


def escape_template_text(text: str) -> str:
    """User text as Go template text that renders to exactly `text`."""
    return _DELIMITERS.sub(lambda m: '{{ "' + m.group() + '" }}', text)


def template_value(ref: SecretRef) -> str:
    """The template action that renders one secret value fetched under its input key."""
    return '{{ index . "' + naming.template_input_key(ref.resource, ref.key) + '" }}'


def render_template(parts: Iterable[Part]) -> str:
    """Resolved parts (text and secret references) as ESO v2 template text."""
    return "".join(escape_template_text(p) if isinstance(p, str) else template_value(p) for p in parts)


def secret_refs(parts: Iterable[Part]) -> list[SecretRef]:
    return [p for p in parts if isinstance(p, SecretRef)]


def duration_seconds(text: str) -> float:
    """A Go duration (`1h30m`, `45s`) in seconds; the input is already validated."""
    return (go_duration_ns(text) or 0) / 1e9


@dataclass(slots=True)
class _Templated:
    """One templated ExternalSecret being collected: what it renders and the store it reads from."""

    name: str
    store: str
    rendered: dict[str, list[Part]] = field(default_factory=dict)


@dataclass(slots=True)
class SecretRouter:
    """Routes the secret references of one service; collects its ExternalSecrets, problems and warnings."""

    workload: str
    namespace: str
    dependencies: Mapping[str, Dependency]
    secret_providers: Mapping[str, SecretProviderSpec]
    image_providers: Mapping[str, ImageProviderSpec]
    default_provider: str | None
    default_refresh: str
    user_labels: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    _templated: dict[str, _Templated] = field(default_factory=dict)
    _stores: dict[str, str | None] = field(default_factory=dict)

    # --- which store ---------------------------------------------------------------------------------

    def store_of(self, resource: str) -> str | None:
        """The ClusterSecretStore a secret resource reads from; None (and one problem) when none is named."""
        if resource not in self._stores:
            self._stores[resource] = self._choose_store(resource)
        return self._stores[resource]

    def _choose_store(self, resource: str) -> str | None:
        dep = self.dependencies[resource]
        path = f"spec.workload.resources.{resource}"
        store = secret_provider(dep, self.default_provider)
        known = sorted(self.secret_providers)
        if store is None:
            example = known[0] if known else "vault"
            self.problems.append(Problem(
                f"{path}.params.provider",
                f"secret `{resource}` names no secret provider and the platform sets no default",
                f"add `provider: {example}` under `resources.{resource}.params`, or set "
                f"`spec.secrets.defaultProvider: {example}` on the LatticePlatform `default`"
                + (f" (SecretProviders: {', '.join(known)})" if known else ""),
            ))
            return None
        if store not in self.secret_providers:
            origin = "" if dep.params.provider else " (the platform's default)"
            self.warnings.append(Problem(
                f"{path}.params.provider" if dep.params.provider else path,
                f"secret `{resource}` reads from secret provider `{store}`{origin}, which no SecretProvider "
                "in the compiled fleet defines; its ExternalSecret will not sync until one exists",
                f"define a SecretProvider named `{store}`"
                + (f", or name one of: {', '.join(known)}" if known else ""),
            ))
        return store

    def _warn_foreign_path(self, resource: str, dep: Dependency) -> None:
        """A path outside `<namespace>/` may be another team's secret: compiled, but flagged for review."""
        own = f"{self.namespace}/"
        if dep.id is None or dep.id.startswith(own):
            return
        self.warnings.append(Problem(
            f"spec.workload.resources.{resource}.id",
            f"secret `{resource}` reads the path `{dep.id}`, outside this namespace's own paths (`{own}...`); "
            "the authorization gate will decide whether this service may read it",
            "keep it only if this service is meant to read that path, which will take a CedarPolicy permitting "
            f"`AccessSecret` on it; a secret of this team belongs under `{own}`",
        ))

    def common_store(self, refs: list[SecretRef], path: str) -> str | None:
        """The one store every reference of a value reads from; a problem when they span two stores."""
        stores = {ref.resource: self.store_of(ref.resource) for ref in refs}
        if any(s is None for s in stores.values()):
            return None
        distinct = sorted({s for s in stores.values() if s is not None})
        if len(distinct) > 1:
            which = ", ".join(f"`{r}` from `{s}`" for r, s in sorted(stores.items()))
            self.problems.append(Problem(
                path,
                f"the value combines secrets from different secret providers ({which}); one value is rendered "
                "by one ExternalSecret, which reads from one store",
                "split it into one value per provider, or move the secrets into one provider "
                "(`params.provider` on each secret resource)",
            ))
            return None
        return distinct[0]

    # --- templated ExternalSecrets ---------------------------------------------------------------------

    def add_templated(self, name: str, store: str, key: str, parts: list[Part]) -> None:
        """Have the templated ExternalSecret `name` render `parts` under `key` of its Secret."""
        entry = self._templated.setdefault(name, _Templated(name, store))
        entry.rendered[key] = parts

    # --- the objects -------------------------------------------------------------------------------------

    def external_secrets(self) -> list[Obj]:
        """One ExternalSecret per secret resource, then the templated ones collected so far."""
        out: list[Obj] = []
        for resource, dep in sorted(self.dependencies.items()):
            if dep.type != "secret":
                continue
            self._warn_foreign_path(resource, dep)
            store = self.store_of(resource)
            if store is not None:
                out.append(self._resource_secret(resource, dep, store))
        for entry in sorted(self._templated.values(), key=lambda t: t.name):
            out.append(self._templated_secret(entry))
        return out

    def _skeleton(self, name: str, store: str, refresh: str) -> Obj:
        obj = owned(ESO_API_VERSION, "ExternalSecret", name, workload=self.workload, namespace=self.namespace,
                    user_labels=self.user_labels)
        obj["spec"] = {
            "refreshInterval": refresh,
            "secretStoreRef": {"kind": STORE_KIND, "name": naming.cluster_secret_store(store)},
            "target": {"name": name, "creationPolicy": "Owner"},
        }
        return obj

    def _template(self, **extra: object) -> Obj:
        """A target template; its labels go to the synced Secret so a controller finds it by service."""
        return {"engineVersion": ENGINE_VERSION, "metadata": {"labels": naming.labels(self.workload, self.user_labels)},
                **extra}

    def _resource_secret(self, resource: str, dep: Dependency, store: str) -> Obj:
        name = naming.external_secret(self.workload, resource)
        obj = self._skeleton(name, store, dep.params.refresh_interval or self.default_refresh)
        remote = naming.secret_remote_key(self.namespace, resource, dep.id)
        if dep.params.keys is None:
            obj["spec"]["dataFrom"] = [{"extract": {"key": remote}}]
        else:
            obj["spec"]["data"] = [{"secretKey": key, "remoteRef": {"key": remote, "property": key}}
                                   for key in dep.params.keys]
        if dep.params.secret_type:
            # A template without `data` keeps every fetched key; it only sets the Secret's type and labels.
            obj["spec"]["target"]["template"] = self._template(type=dep.params.secret_type)
        return obj

    def _templated_secret(self, entry: _Templated) -> Obj:
        refs = sorted({ref for parts in entry.rendered.values() for ref in secret_refs(parts)},
                      key=lambda r: (r.resource, r.key))
        refresh = min((self.dependencies[r.resource].params.refresh_interval or self.default_refresh for r in refs),
                      key=duration_seconds, default=self.default_refresh)
        obj = self._skeleton(entry.name, entry.store, refresh)
        obj["spec"]["target"]["template"] = self._template(
            data={key: render_template(parts) for key, parts in sorted(entry.rendered.items())})
        obj["spec"]["data"] = [
            {"secretKey": naming.template_input_key(ref.resource, ref.key),
             "remoteRef": {"key": naming.secret_remote_key(self.namespace, ref.resource,
                                                           self.dependencies[ref.resource].id),
                           "property": ref.key}}
            for ref in refs
        ]
        return obj

    # --- registry credentials (route 4) ------------------------------------------------------------------

    def pull_secrets(self, images: Mapping[str, str], base_path: str) -> tuple[list[str], list[Obj]]:
        """The imagePullSecrets of the pod and their ExternalSecrets, for images of providers with credentials.

        `images` maps a container name to its image."""
        wanted: dict[str, str] = {}  # image provider -> the first container path that needs it
        for cname, image in images.items():
            provider = image_provider_for(image, self.image_providers)
            if provider is not None and self.image_providers[provider].credentials is not None:
                wanted.setdefault(provider, f"{base_path}.{cname}.image")
        names: list[str] = []
        objects: list[Obj] = []
        for provider, path in sorted(wanted.items()):
            spec = self.image_providers[provider]
            creds = spec.credentials
            assert creds is not None
            if creds.provider not in self.secret_providers:
                known = sorted(self.secret_providers)
                self.warnings.append(Problem(
                    path,
                    f"ImageProvider `{provider}` pulls with credentials from secret provider `{creds.provider}`, "
                    "which no SecretProvider in the compiled fleet defines; the pull secret will not sync "
                    "until one exists",
                    f"define a SecretProvider named `{creds.provider}`"
                    + (f", or name one of: {', '.join(known)}" if known else ""),
                ))
            name = naming.pull_secret(self.workload, provider)
            obj = self._skeleton(name, creds.provider, self.default_refresh)
            if creds.docker_config_json_key is not None:
                # A ready `.dockerconfigjson`, synced as it is: a template without `data` keeps the fetched keys
                # and only sets the type and labels (ESO's ApplyTemplate falls back to the provider's data).
                obj["spec"]["target"]["template"] = self._template(type=DOCKERCONFIGJSON)
                obj["spec"]["data"] = [{"secretKey": DOCKERCONFIGJSON_KEY,
                                        "remoteRef": {"key": creds.path, "property": creds.docker_config_json_key}}]
            else:
                obj["spec"]["target"]["template"] = self._template(
                    type=DOCKERCONFIGJSON, data={DOCKERCONFIGJSON_KEY: docker_config_template(spec.registry)})
                obj["spec"]["data"] = [{"secretKey": key, "remoteRef": {"key": creds.path, "property": key}}
                                       for key in (PULL_PASSWORD_KEY, PULL_USERNAME_KEY)]
            names.append(name)
            objects.append(obj)
        return names, objects


def secret_provider(dep: Dependency, default_provider: str | None) -> str | None:
    """The SecretProvider a secret resource reads from: its own `provider` param, else the platform's default
    (None when neither is set). The router and the authorization gate both ask this."""
    return dep.params.provider or default_provider


def docker_config_template(registry: str) -> str:
    """A `.dockerconfigjson` for one registry, from the `username` and `password` fetched from the store.

    Only `auth` (base64 of `user:password`) is rendered, so no credential character can break the JSON."""
    # The registry is a validated host[:port][/path] (no quotes, no braces), and Go's lexer reads `}}` outside
    # an action as text, so the JSON around the one action needs no escaping.
    auth = f'{{{{ printf "%s:%s" .{PULL_USERNAME_KEY} .{PULL_PASSWORD_KEY} | b64enc }}}}'
    return '{"auths":{"' + registry + '":{"auth":"' + auth + '"}}}'


def image_provider_for(image: str, providers: Mapping[str, ImageProviderSpec]) -> str | None:
    """The ImageProvider whose registry prefix is the longest match for `image` (ties: the first by name)."""
    best: tuple[int, str] | None = None
    for name, spec in sorted(providers.items()):
        registry = spec.registry
        if image.startswith(registry + "/") and (best is None or len(registry) > best[0]):
            best = (len(registry), name)
    return best[1] if best else None


# Every namespace carries this label, set by the API server to the namespace's name (Kubernetes "Well-Known
# Labels, Annotations and Taints": `kubernetes.io/metadata.name`), so `DoesNotExist` on it selects none.
_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_NO_NAMESPACE: Obj = {
    "namespaceSelector": {"matchExpressions": [{"key": _NAMESPACE_NAME_LABEL, "operator": "DoesNotExist"}]},
}


def store_readers(objects: Iterable[Obj]) -> dict[str, list[str]]:
    """The namespaces whose ExternalSecrets read each ClusterSecretStore, from the compiled objects."""
    readers: dict[str, set[str]] = {}
    for obj in objects:
        if obj["kind"] == "ExternalSecret" and obj["spec"]["secretStoreRef"].get("kind") == STORE_KIND:
            readers.setdefault(obj["spec"]["secretStoreRef"]["name"], set()).add(obj["metadata"]["namespace"])
    return {store: sorted(namespaces) for store, namespaces in sorted(readers.items())}


def store_conditions(namespaces: Iterable[str]) -> list[Obj]:
    """`spec.conditions` limiting a ClusterSecretStore to the namespaces that read it.

    ESO serves every namespace when `conditions` is empty, else only a namespace that one condition matches
    (`shouldProcessSecret` in external-secrets pkg/controllers/secretstore/client_manager.go). A store no
    compiled workload reads gets a condition that matches no namespace, never an empty list."""
    listed = sorted(set(namespaces))
    return [{"namespaces": listed}] if listed else [_NO_NAMESPACE]


def cluster_secret_stores(providers: Mapping[str, SecretProviderSpec],
                          readers: Mapping[str, Iterable[str]] | None = None) -> list[Obj]:
    """One ESO ClusterSecretStore per SecretProvider, of the same name, its `provider` block passed through and
    readable only from the namespaces in `readers` (see `store_readers`): without conditions any ExternalSecret,
    hand-written ones included, in any namespace could read any path the store's credentials reach.

    Platform-level: emitted once per fleet, not per service."""
    out: list[Obj] = []
    for name, spec in sorted(providers.items()):
        obj = new_object(ESO_API_VERSION, STORE_KIND, naming.cluster_secret_store(name), None,
                         {**naming.labels(name), "app.kubernetes.io/part-of": naming.MANAGER})
        obj["spec"] = {"provider": spec.provider, "conditions": store_conditions((readers or {}).get(name, ()))}
        out.append(obj)
    return out


def secret_placeholders(text: str, dependencies: Mapping[str, Dependency]) -> list[str]:
    """The placeholders in `text` that name a secret (`${secret.…}`, or `${resources.X.…}` on a secret X).

    Text that does not parse as placeholders is not examined (it names no secret either)."""
    try:
        segments = template.parse(text)
    except ValueError:
        return []
    found = []
    for seg in segments:
        if isinstance(seg, template.Placeholder) and len(seg.parts) >= 2:
            head, name = seg.parts[0], seg.parts[1]
            dep = dependencies.get(name)
            if head == "secret" or (head == "resources" and dep is not None and dep.type == "secret"):
                found.append(seg.text)
    return found


def metadata_problems(labels: Mapping[str, str], annotations: Mapping[str, str],
                      dependencies: Mapping[str, Dependency]) -> list[Problem]:
    """A secret placeholder in the service's labels or annotations is refused: they are copied as plain text
    to every derived object and readable by anyone who may list them."""
    problems = []
    for where, values in (("labels", labels), ("annotations", annotations)):
        for key, value in sorted(values.items()):
            found = secret_placeholders(value, dependencies)
            if found:
                problems.append(Problem(
                    f"metadata.{where}.{key}",
                    f"`{found[0]}` reads a secret in {'a label' if where == 'labels' else 'an annotation'}; "
                    f"{where} are never resolved and are readable "
                    "by anyone who may list the object",
                    "remove it; read the secret in the container instead, from `variables` "
                    f"(e.g. `VALUE: \"{found[0]}\"`) or `files`",
                ))
    return problems
