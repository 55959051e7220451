#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) from the
# pinned Go tool modules in cluster/tools/ into a cache outside the repo (cluster/build.sh). The first run takes
# 12-16 min on 2 cores; a warm machine builds nothing. openssl makes the control plane's certificates at start.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt.sh
apt_install openssl
bash cluster/build.sh
