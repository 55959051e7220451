#!/usr/bin/env bash
# Installs the OCI registry (Debian docker-registry 2.8) and skopeo used by the registry adapter tests, the
# agent's image loading and the push benchmark. Debian auto-starts a system registry service on :5000; the
# tests start their own on a random loopback port with a private storage dir, so the system one is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt.sh
source scripts/apt.sh
apt_install docker-registry skopeo
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v systemctl >/dev/null 2>&1 && systemctl list-unit-files docker-registry.service >/dev/null 2>&1; then
  $SUDO systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi
if command -v service >/dev/null 2>&1; then
  $SUDO service docker-registry stop >/dev/null 2>&1 || true
fi
if [ -x /usr/sbin/update-rc.d ]; then
  $SUDO update-rc.d docker-registry disable >/dev/null 2>&1 || true
fi
