"""A small HTTPS client for the Kubernetes API: the REST paths, server-side apply and discovery, nothing else.

It talks to the API server directly (httpx with the kubeconfig's client certificate or token) so that what a
test asserts is the server's own answer: its status code and its Status message.
"""

from __future__ import annotations

import base64
import functools
import json
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

T = TypeVar("T")
FIELD_MANAGER = "lattice-tests"


class ApiError(Exception):
    """A non-2xx answer: the HTTP status and the message of the server's Status object."""

    def __init__(self, status: int, message: str, body: Any) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class Resource:
    """What discovery says about a kind: its plural name in URLs and whether it lives in a namespace."""

    plural: str
    namespaced: bool


class Kube:
    """One API server, reached with one identity."""

    def __init__(self, server: str, ssl_context: ssl.SSLContext, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.server = server
        self._http = httpx.Client(base_url=server, verify=ssl_context, headers=headers, timeout=30)
        self._resources: dict[tuple[str, str], Resource] = {}

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Kube:
        """The current context's cluster and user (certificate files or data, or a bearer token)."""
        config = yaml.safe_load(path.read_text())
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config.get("users", []) if u["name"] == context["user"])
        scratch = Path(tempfile.mkdtemp(prefix="lattice-kubeconfig-"))

        def file_of(entry: dict[str, Any], key: str) -> str | None:
            if f"{key}-data" in entry:
                target = scratch / key
                target.write_bytes(base64.b64decode(entry[f"{key}-data"]))
                return str(target)
            value = entry.get(key)
            return str((path.parent / value).resolve()) if value else None

        context_ssl = ssl.create_default_context(cafile=file_of(cluster, "certificate-authority"))
        if cluster.get("insecure-skip-tls-verify"):
            context_ssl.check_hostname = False
            context_ssl.verify_mode = ssl.CERT_NONE
        cert, key = file_of(user, "client-certificate"), file_of(user, "client-key")
        if cert and key:
            context_ssl.load_cert_chain(cert, key)
        return cls(cluster["server"], context_ssl, user.get("token"))

    def close(self) -> None:
        self._http.close()

    # --- raw requests -----------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON body (or the text) of a 2xx answer; ApiError with the server's message otherwise."""
        response = self._http.request(method, path, **kwargs)
        if response.is_success:
            if response.headers.get("content-type", "").startswith("application/json"):
                return response.json()
            return response.text
        try:
            body = response.json()
            message = body.get("message", response.text)
        except ValueError:
            body, message = response.text, response.text
        raise ApiError(response.status_code, message, body)

    def get_path(self, path: str) -> Any:
        return self.request("GET", path)

    # --- discovery and paths ----------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The kind's plural and scope from the server's discovery (re-read when a CRD was just added)."""
        key = (api_version, kind)
        if key not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for entry in self.get_path(base)["resources"]:
                if "/" not in entry["name"]:
                    self._resources[(api_version, entry["kind"])] = Resource(entry["name"], entry["namespaced"])
        if key not in self._resources:
            raise KeyError(f"the server serves no {kind} in {api_version}")
        return self._resources[key]

    def serves(self, api_version: str, kind: str) -> bool:
        try:
            self.resource(api_version, kind)
            return True
        except KeyError:
            return False
        except ApiError as error:
            if error.status == 404:
                return False
            raise

    def forget_discovery(self) -> None:
        self._resources.clear()

    def path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        resource = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        scope = f"/namespaces/{namespace}" if resource.namespaced and namespace else ""
        return f"{base}{scope}/{resource.plural}" + (f"/{name}" if name else "")

    def path_of(self, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        return self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    # --- verbs ------------------------------------------------------------------------------------------

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, manager: str = FIELD_MANAGER) -> Any:
        """Server-side apply of `obj` as the whole intent of `manager` (force: the tests own their objects).

        Strict field validation: a field the schema does not know is refused, not pruned away in silence."""
        params = {"fieldManager": manager, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return self.request(
            "PATCH",
            self.path_of(obj),
            params=params,
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def create(self, obj: dict[str, Any]) -> Any:
        """POST with strict field validation: an unknown or duplicate field is an error, never silently pruned."""
        meta = obj["metadata"]
        path = self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        return self.request("POST", path, json=obj, params={"fieldValidation": "Strict"})

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.get_path(self.path(api_version, kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str | None = None, **params: str) -> list[Any]:
        items: list[Any] = self.request("GET", self.path(api_version, kind, namespace), params=params)["items"]
        return items

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name))
        except ApiError as error:
            if error.status != 404:
                raise


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.2) -> T:
    """Poll `probe` until it returns something other than None or False; fail naming `what` and the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
            last = value
        except (ApiError, httpx.TransportError) as error:
            last = error
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def install_crds(kube: Kube, crds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply CRDs and wait until each is Established. The server refuses a non-structural schema at this
    point; every refusal is reported together, with the server's message."""
    refused = []
    for crd in crds:
        try:
            kube.apply(crd)
        except ApiError as error:
            refused.append(f"{crd['metadata']['name']}: {error.message}")
    if refused:
        raise AssertionError("the API server refused CRDs:\n" + "\n".join(refused))

    def established(name: str) -> dict[str, Any] | None:
        crd: dict[str, Any] = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        # A CRD just created may have no status yet, or `conditions: null`.
        conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        return crd if conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True" else None

    served: dict[str, dict[str, Any]] = {}
    for crd in crds:
        name: str = crd["metadata"]["name"]
        served[name] = wait_for(f"CRD {name} Established", functools.partial(established, name))
    kube.forget_discovery()
    return served
