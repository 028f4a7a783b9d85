"""The third refusal, which needs a registry: an unsigned image, refused by `lattice compile --verify-images`.

Starts Debian's `docker-registry` on 127.0.0.1 (temporary storage), pushes one signed and one unsigned image
(signed with a key made here, in cosign's `.sig` tag format), and compiles a fleet whose ImageProvider trusts
that key. Run it with `make refused` (or `.venv/bin/python -m refused.unsigned_image`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.registry.oci import Pusher, RegistryProcess, Signer, push_tag_signature

SERVICE = """\
apiVersion: lattice.dev/v1alpha1
kind: LatticeService
metadata: {{name: {name}, namespace: shop}}
spec:
  workload:
    containers:
      main:
        image: {image}
        resources: {{limits: {{cpu: 100m, memory: 64Mi}}}}
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lattice-refused-") as scratch:
        folder = Path(scratch)
        registry = RegistryProcess(folder / "registry")
        registry.start()
        try:
            pusher, signer = Pusher(registry.url), Signer()
            signed = pusher.image("shop/signed", "v1", content=b"signed")
            push_tag_signature(pusher, "shop/signed", signed, signer)
            pusher.image("shop/unsigned", "v1", content=b"unsigned")
            key = "\n".join("          " + line for line in signer.public_pem.strip().splitlines())
            fleet = folder / "fleet"
            fleet.mkdir()
            (fleet / "provider.yaml").write_text(
                "apiVersion: lattice.dev/v1alpha1\nkind: ImageProvider\nmetadata: {name: local}\nspec:\n"
                f"  registry: {registry.host}\n  trust:\n    enforce: true\n    authorities:\n"
                f"      - name: release\n        key: |\n{key}\n")
            (fleet / "signed.yaml").write_text(SERVICE.format(name="signed", image=f"{registry.host}/shop/signed:v1"))
            (fleet / "unsigned.yaml").write_text(
                SERVICE.format(name="unsigned", image=f"{registry.host}/shop/unsigned:v1"))
            command = [str(Path(sys.executable).with_name("lattice")), "compile", str(fleet), "--verify-images",
                       "--summary"]
            print("$ lattice compile FLEET --verify-images --summary", flush=True)
            return subprocess.run(command, check=False).returncode
        finally:
            registry.stop()


if __name__ == "__main__":
    sys.exit(main())
