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

from lattice.errors import Problem


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


def secret_expansions(values: dict[str, list[str]], path: str, *, secret_vars: set[str],
                      whole_secrets: dict[str, list[str] | None]) -> list[Problem]:
    """`$(NAME)` in command or args (`values` by field) naming a variable whose value is, or may be, secret.

    `secret_vars` are the container's variables that read secrets; `whole_secrets` its `envFrom` secrets and the
    keys they list (None: every key, so any name may be one of them)."""
    problems = []
    for what, texts in values.items():
        for i, text in enumerate(texts):
            for name in referenced_names(text):
                found = _secret_source(name, secret_vars, whole_secrets)
                if found is not None:
                    source, hint = found
                    problems.append(Problem(
                        f"{path}.{what}[{i}]",
                        f"`$({name})` expands {source} into the process arguments: Kubernetes substitutes `$(VAR)` "
                        "in command and args, and anyone who can run `ps` on the node can read them", hint))
                    break
    return problems


def _secret_source(name: str, secret_vars: set[str],
                   whole_secrets: dict[str, list[str] | None]) -> tuple[str, str] | None:
    """What a `$(name)` reference would expand (when its value is or may be secret) and what to do instead."""
    instead = f"have the program read `{name}` from its environment, where it is already set, or from a file"
    if name in secret_vars:
        return f"the secret variable `{name}`", instead
    for resource, keys in sorted(whole_secrets.items()):
        if keys is not None and name in keys:
            return f"the variable `{name}`, a key of secret `{resource}` (read by `envFrom`),", instead
    for resource, keys in sorted(whole_secrets.items()):
        if keys is None:  # every key of the secret becomes a variable, and they win over plain ones
            return (f"`{name}`, which may be a key of secret `{resource}` (`envFrom` reads every key),",
                    f"list the keys under `resources.{resource}.params.keys` so that `{name}` is known not to be "
                    f"one, or {instead}")
    return None
