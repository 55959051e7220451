#!/usr/bin/env bash
# Installs CRIU into a private prefix, without touching the system's libc or apt state, plus Debian's runc and
# containernetworking-plugins (the local cluster's nodes use the three together). See cluster/README.md, "CRIU".
#
# Why not `apt-get install criu`: bookworm's criu 3.17 fails on this kernel (`vdso: Unexpected rt vDSO area
# bounds`), and trixie's 4.1.1 cannot dump a process that holds any inet socket on Linux >= 6.16 (`Can't get 1:16
# opt: Operation not supported`, checkpoint-restore/criu#2718, fixed in 4.2). So criu 4.2.1 comes from forky
# (Debian testing) and runs on trixie's libc and libraries, unpacked with them into
#
#   ${MS2M_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m}/criu/criu-<version>-<key>/bin/criu
#
# A private apt configuration (own sources list, preferences, Dir::State and Dir::Cache under criu/apt/, an
# empty dpkg status) resolves criu's whole dependency closure: trixie for everything, forky only for the
# packages in FROM_FORKY below. Each .deb is unpacked with `dpkg-deb -x`; the criu binary gets the prefix's
# ld.so as interpreter and an $ORIGIN rpath (patchelf), and the build checks that every library it loads is in
# the prefix. <key> is a sha256 over the .deb files (and the recipe number): the same packages give the same
# dir. The prefix is built in a temp dir and renamed into place; a lock serialises concurrent runs; a warm
# machine does nothing.
#
# Usage: scripts/install-criu.sh [--print-path]
#   --print-path  print the dir holding `criu` (exit 1 if it is not installed), install nothing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# The pinned CRIU: Debian's criu package at this exact version, from this suite.
CRIU_VERSION=4.2.1-1
CRIU_SUITE=forky
# Taken from $CRIU_SUITE; everything else comes from trixie. criu and libcompel1 go together (=); criu 4.2.1
# needs libnl-3-200 >= 3.11 (trixie: 3.7) and libnet9 (trixie has libnet1 only). All four need libc6 >= 2.38.
FROM_FORKY="criu libcompel1 libnl-3-200 libnet9"
# Bump when the way the prefix is made changes without a change to the packages.
recipe=1

cache_root="${MS2M_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ms2m}/criu"
# names the current prefix of $CRIU_VERSION (a dir under $cache_root); replaced atomically after each build
pointer="$cache_root/criu-$CRIU_VERSION.current"
upstream_version="${CRIU_VERSION%-*}"

say() { echo "ms2m criu: $*"; }
die() {
  echo "ms2m criu: $*" >&2
  exit 1
}

print_path=0
for arg in "$@"; do
  case "$arg" in
    --print-path) print_path=1 ;;
    -h | --help)
      sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "scripts/install-criu.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

# The installed prefix of $CRIU_VERSION, or nothing.
current_prefix() {
  [ -f "$pointer" ] || return 1
  local p
  p="$cache_root/$(cat "$pointer")"
  [ -x "$p/bin/criu" ] || return 1
  echo "$p"
}

# True when the prefix's criu runs and reports $upstream_version.
criu_runs() { "$1/bin/criu" --version 2>/dev/null | grep -qx "Version: $upstream_version"; }

if [ "$print_path" -eq 1 ]; then
  prefix="$(current_prefix)" || die "criu $CRIU_VERSION is not installed under $cache_root: run \`bash scripts/install-criu.sh\`"
  echo "$prefix/bin"
  exit 0
fi

# --- runc and the CNI plugins (bookworm) --------------------------------------------------------------------
# shellcheck source=scripts/apt.sh
source "$here/apt.sh"
apt_install runc containernetworking-plugins ||
  die "could not install runc and containernetworking-plugins from Debian (\`apt-get install runc containernetworking-plugins\` failed; see apt's error above)"

if prefix="$(current_prefix)" && criu_runs "$prefix"; then
  say "criu $CRIU_VERSION up to date in $prefix/bin"
  exit 0
fi

# --- cold path: build the prefix ----------------------------------------------------------------------------
[ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is supported (this machine: $(dpkg --print-architecture))"
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
  say "waiting for another run of scripts/install-criu.sh (lock $cache_root/.lock)"
  flock 9
fi
# another run may have built it while we waited for the lock
if prefix="$(current_prefix)" && criu_runs "$prefix"; then
  say "criu $CRIU_VERSION was installed by another run in $prefix/bin"
  exit 0
fi
start=$SECONDS
# left by a run that was killed (we hold the lock: nobody else builds here)
rm -rf "$cache_root"/.build-*

apt_install patchelf debian-archive-keyring ||
  die "could not install patchelf and debian-archive-keyring from Debian (\`apt-get install patchelf debian-archive-keyring\` failed; see apt's error above)"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring is missing: reinstall debian-archive-keyring (\`apt-get install --reinstall debian-archive-keyring\`)"

# The private apt configuration. APT_CONFIG is read first and names our own Dir::Etc, so none of the system's
# apt.conf.d, sources or preferences apply; only its proxy settings are carried over.
apt_dir="$cache_root/apt"
mkdir -p "$apt_dir"/etc/apt.conf.d "$apt_dir"/etc/preferences.d "$apt_dir"/etc/sources.list.d \
  "$apt_dir"/state/lists/partial "$apt_dir"/cache/archives/partial
: >"$apt_dir/state/status"
# forky is Debian testing: its Release expires after a week and mirrors and snapshots lag, so its Valid-Until is
# not checked; the packages taken from it are few and criu's version is pinned
cat >"$apt_dir/etc/sources.list" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian trixie main
deb [signed-by=$keyring check-valid-until=no] http://deb.debian.org/debian $CRIU_SUITE main
EOF
cat >"$apt_dir/etc/preferences.d/criu" <<EOF
Package: *
Pin: release n=$CRIU_SUITE
Pin-Priority: 100

Package: $FROM_FORKY
Pin: release n=$CRIU_SUITE
Pin-Priority: 600
EOF
{
  echo "Dir::Etc \"$apt_dir/etc\";"
  echo "Dir::Etc::SourceList \"$apt_dir/etc/sources.list\";"
  echo "Dir::Etc::SourceParts \"$apt_dir/etc/sources.list.d\";"
  echo "Dir::Etc::Parts \"$apt_dir/etc/apt.conf.d\";"
  echo "Dir::Etc::PreferencesParts \"$apt_dir/etc/preferences.d\";"
  echo "Dir::State \"$apt_dir/state\";"
  echo "Dir::State::status \"$apt_dir/state/status\";"
  echo "Dir::Cache \"$apt_dir/cache\";"
  echo 'APT::Architecture "amd64";'
  echo 'APT::Architectures "amd64";'
  echo "APT::Sandbox::User \"$(id -un)\";"
  echo 'Acquire::Languages "none";'
  echo 'Acquire::GzipIndexes "true";'
  apt-config dump 2>/dev/null | grep -iE '^Acquire::[a-z]+::Proxy ' || true
} >"$apt_dir/apt.conf"
export APT_CONFIG="$apt_dir/apt.conf"

say "installing criu $CRIU_VERSION ($CRIU_SUITE) with trixie's libc into $cache_root"
say "reading the trixie and $CRIU_SUITE package lists (private apt state in $apt_dir)"
apt-get update -qq >"$apt_dir/update.log" 2>&1 || {
  cat "$apt_dir/update.log" >&2
  die "apt-get update of trixie and $CRIU_SUITE failed (APT_CONFIG=$APT_CONFIG apt-get update); see above"
}

# criu's dependency closure as apt resolves it against an empty system: one `name=version` per package
resolution="$(apt-get -s install --no-install-recommends "criu=$CRIU_VERSION" 2>&1)" || {
  echo "$resolution" >&2
  die "apt cannot resolve criu $CRIU_VERSION from $CRIU_SUITE with trixie's libraries (APT_CONFIG=$APT_CONFIG apt-get -s install criu=$CRIU_VERSION); if $CRIU_SUITE no longer has it, pin the version it has (apt-cache policy criu) in CRIU_VERSION and check FROM_FORKY"
}
mapfile -t packages < <(awk '$1 == "Inst" { gsub(/^\(/, "", $3); print $2 "=" $3 }' <<<"$resolution" | LC_ALL=C sort)
[ ${#packages[@]} -gt 0 ] || die "apt resolved no packages for criu=$CRIU_VERSION: $resolution"
printf '%s\n' "${packages[@]}" | grep -qx "libc6=.*" || die "criu's closure has no libc6: $resolution"

tmp="$(mktemp -d "$cache_root/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/prefix"
say "downloading ${#packages[@]} packages: $(printf '%s\n' "${packages[@]}" | grep -E '^(criu|libc6)=' | paste -sd' ') and the libraries"
(cd "$tmp/debs" && apt-get download -qq "${packages[@]}" >"$tmp/download.log" 2>&1) || {
  cat "$tmp/download.log" >&2
  die "downloading criu's packages failed (APT_CONFIG=$APT_CONFIG apt-get download ${packages[*]}); see above"
}

key="$( {
  echo "recipe=$recipe"
  cd "$tmp/debs" && LC_ALL=C sha256sum -- *.deb
} | sha256sum | cut -c1-16)"
name="criu-$CRIU_VERSION-$key"
prefix="$cache_root/$name"

if ! { [ -x "$prefix/bin/criu" ] && criu_runs "$prefix"; }; then
  for deb in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$deb" "$tmp/prefix" || die "cannot unpack $(basename "$deb") (dpkg-deb -x $deb)"
  done
  ld_so="usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
  [ -e "$tmp/prefix/$ld_so" ] || die "trixie's libc6 has no $ld_so"
  [ -x "$tmp/prefix/usr/sbin/criu" ] || die "the criu package has no usr/sbin/criu"
  mkdir -p "$tmp/prefix/bin"
  cp "$tmp/prefix/usr/sbin/criu" "$tmp/prefix/bin/criu"
  # the interpreter is an absolute path: the prefix's final place; the rpath is relative to the binary and,
  # as DT_RPATH (not RUNPATH), applies to the libraries' own dependencies too
  patchelf --set-interpreter "$prefix/$ld_so" --force-rpath \
    --set-rpath '$ORIGIN/../usr/lib/x86_64-linux-gnu:$ORIGIN/../lib/x86_64-linux-gnu' "$tmp/prefix/bin/criu" ||
    die "patchelf failed on criu (patchelf --set-interpreter $prefix/$ld_so --force-rpath --set-rpath ... bin/criu)"
  # every library the binary loads (the prefix's ld.so lists them) must be one of the prefix's
  loaded="$("$tmp/prefix/$ld_so" --list "$tmp/prefix/bin/criu" 2>&1)" ||
    die "criu does not link against the prefix's libraries ($tmp/prefix/$ld_so --list bin/criu): $loaded"
  outside="$(grep -vE "^[[:space:]]*(linux-vdso\.so\.1 |$tmp/prefix/|[^ ]+ => $tmp/prefix/)" <<<"$loaded" || true)"
  [ -z "$outside" ] || die "criu needs libraries that are not in the prefix (add their packages): $outside"
  version_line="$("$tmp/prefix/$ld_so" "$tmp/prefix/bin/criu" --version 2>&1 | head -1)"
  [ "$version_line" = "Version: $upstream_version" ] || die "the unpacked criu does not run: $version_line"
  rm -rf "$tmp"/prefix/usr/share/man "$tmp"/prefix/usr/share/locale "$tmp"/prefix/usr/share/lintian \
    "$tmp"/prefix/usr/share/info
  {
    echo "criu $CRIU_VERSION from $CRIU_SUITE, its libraries from trixie (recipe $recipe)"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/install-criu.sh"
    echo "packages (sha256 name):"
    (cd "$tmp/debs" && LC_ALL=C sha256sum -- *.deb)
  } >"$tmp/prefix/BUILDINFO"
  rm -rf "$prefix" # an earlier prefix of the same content that no longer runs (we hold the lock)
  mv -T "$tmp/prefix" "$prefix"
fi
criu_runs "$prefix" || die "$prefix/bin/criu does not run: $("$prefix/bin/criu" --version 2>&1 | head -3)"
echo "$name" >"$pointer.tmp"
mv -f "$pointer.tmp" "$pointer"

libc="$(printf '%s\n' "${packages[@]}" | sed -n 's/^libc6=//p')"
say "installed criu $CRIU_VERSION (libc6 $libc) in $prefix/bin in $((SECONDS - start)) s"
if [ "$(id -u)" -eq 0 ]; then
  say "criu check: $("$prefix/bin/criu" check 2>&1 | tail -1)"
fi
