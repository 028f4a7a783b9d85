"""Kubernetes' own `$(VAR)` expansion in a container's `command` and `args`, as the kubelet performs it.

The kubelet replaces `$(NAME)` in command and args with the value of the container's environment variable NAME
(every variable, those from `secretKeyRef` and `envFrom` included); `$$` is an escaped `$`, and a reference to a
name that is not defined stays as written (`third_party/forked/golang/expansion/expand.go` in Kubernetes, used by
`kubecontainer.ExpandContainerCommandAndArgs`). A secret variable named there lands in the process's arguments,
which anyone who can run `ps` on the node, or read `/proc/<pid>/cmdline`, can read. An exec probe's command is
expanded from the `env[].value` fields only (`ExpandContainerCommandOnlyStatic` in `pkg/kubelet/prober`): a secret
variable (a `secretKeyRef`, which has no `value`) expands to empty text there, so nothing secret reaches a probe
this way.
"""

from __future__ import annotations


def referenced_names(text: str) -> list[str]:
    """The variable names `text` refers to with `$(NAME)`, in order, as the kubelet's scanner reads them."""
    names: list[str] = []
    cursor, n = 0, len(text)
    while cursor < n - 1:
        if text[cursor] != "$":
            cursor += 1
            continue
        following = text[cursor + 1]
        if following == "(":
            close = text.find(")", cursor + 2)
            if close < 0:  # an incomplete reference is copied as it is, and scanning resumes after `$(`
                cursor += 2
                continue
            names.append(text[cursor + 2 : close])
            cursor = close + 1
        else:  # `$$` (an escaped `$`) or `$` before anything else: both characters are plain text
            cursor += 2
    return names
