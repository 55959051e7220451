#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh machine: npm packages and the Debian packages of
# the real servers (RabbitMQ, nats-server, docker-registry, skopeo). Idempotent: a warm machine skips what it has.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ms2m setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi
for installer in scripts/install-*.sh; do
  [ -e "$installer" ] || continue
  bash "$installer"
done
