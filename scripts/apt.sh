# Sourced by scripts/install-*.sh: `apt_install PKG...` installs Debian packages that are missing,
# running `apt-get update` at most once per hour.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  local stamp=/var/lib/apt/periodic/ms2m-update-stamp
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60 2>/dev/null)" ]; then
    echo "ms2m setup: apt-get update"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
  fi
  echo "ms2m setup: installing ${missing[*]}"
  # wait for another apt/dpkg run (up to 10 min) instead of failing on its lock
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
