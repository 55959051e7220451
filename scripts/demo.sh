#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then runs the demo migrations (bin/demo.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx bin/ms2m.ts demo "$@"
