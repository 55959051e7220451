#!/usr/bin/env bash
# Builds the local cluster's binaries from the pinned Go tool modules in cluster/tools/ into a cache outside
# the repo, once per machine:
#
#   ${MS2M_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m/bin}/<module>-<version>-<key>/<binary>
#
# <key> is a sha256 over the tool module's go.mod, go.sum and tools.go, the build flags, `go version` and the
# target platform: a change to any of them builds into a new directory; a later run with the same inputs builds
# nothing. Each binary is built into a temp dir and renamed into place (atomic); a lock serialises concurrent
# runs. The first control-plane build takes 12-16 min on 2 cores; --nodes adds ~4 min.
#
# Usage: cluster/build.sh [--nodes] [--print-path]
#   (default)     etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (the control plane)
#   --nodes       also kubelet, containerd, containerd-shim-runc-v2, ctr (the local cluster's nodes)
#   --print-path  print the cache dirs of the selected set as a PATH list (one dir per module), build nothing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="$here/tools"
cache_root="${MS2M_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m/bin}"
# bump when the way binaries are built changes without a change to the inputs hashed below
recipe=1

nodes=0
print_path=0
for arg in "$@"; do
  case "$arg" in
    --nodes) nodes=1 ;;
    --print-path) print_path=1 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster/build.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

command -v go >/dev/null || { echo "cluster/build.sh: 'go' not found: install Go >= 1.26 (see cluster/README.md)" >&2; exit 1; }

# version of the module a tool module requires, read from its go.mod
required_version() { awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) { print ($1 == m ? $2 : $3); exit }' "$tools/$1/go.mod"; }

kube_version="$(required_version kube k8s.io/kubernetes)"
etcd_version="$(required_version etcd go.etcd.io/etcd/server/v3)"
containerd_version="$(required_version containerd github.com/containerd/containerd/v2)"
[[ "$kube_version" =~ ^v([0-9]+)\.([0-9]+)\. ]] || { echo "cluster/build.sh: cannot read the k8s.io/kubernetes version from cluster/tools/kube/go.mod" >&2; exit 1; }
kube_major="${BASH_REMATCH[1]}"
kube_minor="${BASH_REMATCH[2]}"

# Without these the servers report v0.0.0-master+$Format:%H$, which kubectl and client libraries cannot parse.
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
etcd_ldflags="-s -w"
containerd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version"
containerd_tags="no_btrfs no_devmapper no_zfs"

# static binaries (they are also copied into node images later), reproducible paths
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
go_version="$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"

# flags of a module, part of its cache key
module_flags() {
  case "$1" in
    kube) echo "ldflags=$kube_ldflags" ;;
    etcd) echo "ldflags=$etcd_ldflags" ;;
    containerd) echo "ldflags=$containerd_ldflags tags=$containerd_tags" ;;
  esac
}
module_version() {
  case "$1" in kube) echo "$kube_version" ;; etcd) echo "$etcd_version" ;; containerd) echo "$containerd_version" ;; esac
}
module_dir() {
  local key
  key="$( {
    echo "recipe=$recipe go=$go_version CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS"
    module_flags "$1"
    cat "$tools/$1/go.mod" "$tools/$1/go.sum" "$tools/$1/tools.go"
  } | sha256sum | cut -c1-16)"
  echo "$cache_root/$1-$(module_version "$1")-$key"
}

# binary:module:package
targets=(
  "etcd:etcd:go.etcd.io/etcd/server/v3"
  "kube-apiserver:kube:k8s.io/kubernetes/cmd/kube-apiserver"
  "kube-controller-manager:kube:k8s.io/kubernetes/cmd/kube-controller-manager"
  "kube-scheduler:kube:k8s.io/kubernetes/cmd/kube-scheduler"
  "kubectl:kube:k8s.io/kubernetes/cmd/kubectl"
)
if [ "$nodes" -eq 1 ]; then
  targets+=(
    "kubelet:kube:k8s.io/kubernetes/cmd/kubelet"
    "containerd:containerd:github.com/containerd/containerd/v2/cmd/containerd"
    "containerd-shim-runc-v2:containerd:github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
    "ctr:containerd:github.com/containerd/containerd/v2/cmd/ctr"
  )
fi

if [ "$print_path" -eq 1 ]; then
  modules=()
  for t in "${targets[@]}"; do
    m="$(cut -d: -f2 <<<"$t")"
    [[ " ${modules[*]} " == *" $m "* ]] || modules+=("$m")
  done
  out=""
  for m in "${modules[@]}"; do out+="${out:+:}$(module_dir "$m")"; done
  echo "$out"
  exit 0
fi

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

missing=()
for t in "${targets[@]}"; do
  IFS=: read -r bin mod _ <<<"$t"
  [ -x "$(module_dir "$mod")/$bin" ] || missing+=("$t")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "ms2m cluster: binaries up to date ($(
    for t in "${targets[@]}"; do cut -d: -f1 <<<"$t"; done | paste -sd' '
  )) in $cache_root"
  exit 0
fi

mkdir -p "$cache_root"
echo "ms2m cluster: building ${#missing[@]} binaries (Kubernetes $kube_version, etcd $etcd_version$([ "$nodes" -eq 1 ] && echo ", containerd $containerd_version")) into $cache_root"
echo "ms2m cluster: the first build takes 12-16 min on 2 cores (--nodes: ~4 min more); later runs build nothing"
total_start=$SECONDS
i=0
for t in "${missing[@]}"; do
  i=$((i + 1))
  IFS=: read -r bin mod pkg <<<"$t"
  dir="$(module_dir "$mod")"
  mkdir -p "$dir"
  # one builder per cache dir at a time; a run that waited finds the binary already there
  exec 9>"$dir.lock"
  flock 9
  if [ -x "$dir/$bin" ]; then
    echo "ms2m cluster: [$i/${#missing[@]}] $bin was built by another run"
    exec 9>&-
    continue
  fi
  # left by a run that was killed (we hold the dir's lock: nobody else builds here)
  rm -rf "$dir"/.build-*
  tmp="$(mktemp -d "$dir/.build-$bin.XXXXXX")"
  case "$mod" in
    kube) flags=(-ldflags "$kube_ldflags") ;;
    etcd) flags=(-ldflags "$etcd_ldflags") ;;
    containerd) flags=(-ldflags "$containerd_ldflags" -tags "$containerd_tags") ;;
  esac
  echo "ms2m cluster: [$i/${#missing[@]}] building $bin ($pkg)"
  start=$SECONDS
  (
    # `wait` (unlike a foreground sleep) lets the TERM below end this loop at once
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 60 &
      nap=$!
      wait "$nap"
      echo "ms2m cluster:       ... $bin $(fmt_time $((SECONDS - start))) (total $(fmt_time $((SECONDS - total_start))))"
    done
  ) &
  ticker=$!
  trap 'kill "$ticker" 2>/dev/null; rm -rf "$tmp"; exit 130' INT TERM
  status=0
  (cd "$tools/$mod" && go build -p "${MS2M_BUILD_JOBS:-2}" "${flags[@]}" -o "$tmp/$bin" "$pkg") || status=$?
  trap - INT TERM
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    rm -rf "$tmp"
    echo "ms2m cluster: building $bin failed (go build exit $status); see the errors above" >&2
    exit "$status"
  fi
  mv "$tmp/$bin" "$dir/$bin"
  rmdir "$tmp"
  {
    echo "$bin $pkg"
    echo "  go: $go_version CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS"
    echo "  $(module_flags "$mod")"
    echo "  built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
  } >>"$dir/BUILDINFO"
  exec 9>&-
  echo "ms2m cluster: [$i/${#missing[@]}] built $bin in $(fmt_time $((SECONDS - start)))"
done
echo "ms2m cluster: done in $(fmt_time $((SECONDS - total_start))); binaries in $(bash "$0" $([ "$nodes" -eq 1 ] && echo --nodes) --print-path)"
