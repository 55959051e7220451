#!/usr/bin/env bash
# Installs RabbitMQ (Debian bookworm: 3.10) for the adapter tests and the local cluster. The tests never use the
# system service: test/harness/rabbitmq.ts starts a private node (own NODENAME, ports, epmd, data dirs). Debian
# starts the service on install unless policy-rc.d forbids it, so stop and disable it to keep ports 5672/4369 free.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  apt_install rabbitmq-server
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  else
    service rabbitmq-server stop >/dev/null 2>&1 || true
    update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
  fi
fi
