"""Where files and volumes are mounted in a container: the rules Kubernetes and the runtime apply to those paths.

A path is never resolved (no placeholder in it becomes text) and is read by people reviewing the pod spec, so it
must be plain, normalized and visible: no controls, invisible or direction-changing characters, no `.`/`..` parts.
Kubernetes requires a container's mount paths to be unique (core validation, `ValidateVolumeMounts`) and a
volume's `subPath` to be relative without `..` (`validateLocalDescendingPath`); a runtime cannot mount anything
below a path that is a single file.
"""

from __future__ import annotations

import bisect
import posixpath

from lattice.errors import invalid

TMP_PATH = "/tmp"
"""Where the platform mounts a writable emptyDir in every container (the root filesystem is read-only)."""

def unseen(text: str) -> str | None:
    """What in `text` a reader cannot see, or None: a character Python calls non-printable (Unicode's controls,
    format characters such as direction overrides, private-use, surrogate and unassigned code points, and every
    separator but the ASCII space), or whitespace at an end."""
    if not text.isprintable():
        found = next(c for c in text if not c.isprintable())
        return f"the control or invisible character U+{ord(found):04X}"
    return "whitespace at one end" if text != text.strip() else None


def check_target(target: str) -> None:
    """A file's or volume's target: an absolute, normalized, visible path with no placeholder."""
    if "${" in target:
        raise invalid(
            f"the target `{target}` contains a placeholder; mount paths are never resolved, and a secret in one "
            "would be plain text in the pod spec",
            "write the plain path; put secret values in the file's `content`",
            (target,),
        )
    if not target.startswith("/"):
        raise invalid(f"the target `{target}` is not an absolute path", f"write `/{target.lstrip('./')}`",
                      (target,))
    hidden = unseen(target)
    if hidden:
        raise invalid(f"the target `{target}` contains {hidden}", "write a plain path", (target,))
    if "//" not in target and "/." not in target and not target.endswith("/"):
        return  # nothing normpath would change
    cleaned = "/" + "/".join(p for p in posixpath.normpath(target).split("/") if p)
    if target != cleaned or target == "/":
        raise invalid(
            f"the target `{target}` is not a normalized path (no `//`, `.` or `..` parts, no trailing `/`)",
            f"write `{cleaned}`" if cleaned != "/" else "name a file or directory below `/`",
            (target,),
        )


def check_sub_path(value: str) -> None:
    """A volume mount's `path` (its subPath): a visible relative path inside the volume."""
    if "${" in value:
        raise invalid(f"the path `{value}` contains a placeholder; paths are never resolved, and a secret in "
                      "one would be plain text in the pod spec", "write the plain directory inside the volume")
    parts = value.split("/")
    if value.startswith("/") or ".." in parts or not value or unseen(value):
        cleaned = "/".join(p for p in parts if p not in ("", ".", ".."))
        raise invalid(f"the path `{value}` is not a relative path inside the volume",
                      "name a directory inside the volume, without `..`" if ".." in parts else
                      f"write `{cleaned}`" if cleaned else "remove `path` to mount the whole volume")


def check_mounts(*, files: list[str], volumes: list[str]) -> None:
    """No two mounts of a container at one path (the platform's `/tmp` included), none below a file."""
    mounts: dict[str, tuple[str, ...]] = {TMP_PATH: ()}
    kinds = {TMP_PATH: "the platform's writable emptyDir"}
    for field, targets in (("files", files), ("volumes", volumes)):
        for target in targets:
            where = (field, target)
            if target in mounts:
                raise invalid(
                    f"`{target}` is already the mount point of {kinds[target]}; two mounts cannot share a path",
                    "put the file under `/tmp/` or elsewhere" if target == TMP_PATH and field == "files" else
                    "mount it elsewhere" + ("" if target == TMP_PATH else ", or remove one of the two"),
                    where,
                )
            mounts[target] = where
            kinds[target] = "a file" if field == "files" else "a volume"
    ordered = sorted(mounts)
    for parent in files:  # the first path after `<file>/` in sorted order is below the file, if any is
        below = bisect.bisect_left(ordered, parent + "/")
        if below < len(ordered) and ordered[below].startswith(parent + "/"):
            target = ordered[below]
            raise invalid(f"`{target}` lies below `{parent}`, which is a file, so nothing can be mounted there",
                          f"move one of them: `{parent}` cannot be a file and a directory at once", mounts[target])

