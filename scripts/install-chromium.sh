#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium): the UI tests (test/ui) drive it headless with playwright-core,
# which downloads no browser of its own. scripts/setup.sh runs every scripts/install-*.sh, this one included.
# Idempotent: a machine that has the package does nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=apt.sh
. "$here/apt.sh"
apt_install chromium
if [ ! -x /usr/bin/chromium ]; then
  echo "ms2m chromium: /usr/bin/chromium is missing after installing the chromium package" >&2
  exit 1
fi
