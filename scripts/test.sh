#!/usr/bin/env bash
# `npm test`: installs what is missing, then type-checks, lints and runs every test tier (ARCHITECTURE.md §7).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx biome check .
echo "== tests"; npx vitest run "$@"
