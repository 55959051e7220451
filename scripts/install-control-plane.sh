#!/usr/bin/env bash
# Builds the local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and for the
# nodes kubelet, containerd, containerd-shim-runc-v2, ctr) from the pinned Go tool modules in cluster/tools/ into a
# cache outside the repo (cluster/build.sh). The first run takes 16-20 min on 2 cores; a warm machine builds nothing. openssl makes the control plane's certificates at start.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt.sh
apt_install openssl socat gcc libc6-dev
bash cluster/build.sh --nodes
