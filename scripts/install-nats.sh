#!/usr/bin/env bash
# Installs nats-server for the JetStream event log tests and benchmarks. Debian bookworm ships 2.9.10; the
# adapter (adapters/nats) uses only features 2.9 has (single filter_subject consumers, expected last subject
# sequence, KV with bucket TTL), so the distribution package is enough. See docs/brokers.md.
set -euo pipefail
source "$(dirname "$0")/apt.sh"
apt_install nats-server
