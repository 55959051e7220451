#!/usr/bin/env bash
# Installs what the VolumeResize migrator image (ms2m/migrator, cluster/images/migrator.ts) is built from:
# Debian's rclone (the copy and the checksum pass) and busybox-static (a shell, find, stat, du for the scripts).
# Idempotent: a machine that has both does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt.sh
source scripts/apt.sh
apt_install rclone busybox-static
