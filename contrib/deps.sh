#!/usr/bin/env bash
# Install the Debian 12 packages lagerbild needs, if any are missing.
#
#   contrib/deps.sh          build + runtime + test dependencies
#   contrib/deps.sh --dev    also clang, valgrind, clang-format (asan, fuzz)
#   contrib/deps.sh --bench  also wrk (make bench: the HTTP load)
#
# Idempotent: when everything is installed it prints nothing and exits 0.
# Runs apt-get as root directly, else through `sudo -n`, else fails.
set -euo pipefail

# pgbench: /usr/lib/postgresql/15/bin/pgbench is shipped by postgresql-15
# (dpkg -S pgbench); postgresql-contrib is kept for the contrib extensions.
PACKAGES=(
  build-essential
  pkg-config
  libpq-dev
  postgresql-15
  postgresql-client-15
  postgresql-contrib
  uuid-dev
  libcurl4-openssl-dev
  check
  libsubunit-dev
  libmicrohttpd-dev
  libjansson-dev
  libcsv-dev
  libxml2-dev
  libzip-dev
  libsodium-dev
  libglpk-dev
)

# make bench: the HTTP load generator.
BENCH_PACKAGES=(
  wrk
)

DEV_PACKAGES=(
  clang
  valgrind
  clang-format
)

prog=${0##*/}

usage() {
  echo "usage: $prog [--dev] [--bench]" >&2
}

want=("${PACKAGES[@]}")
for arg in "$@"; do
  case $arg in
    --dev) want+=("${DEV_PACKAGES[@]}") ;;
    --bench) want+=("${BENCH_PACKAGES[@]}") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$prog: unknown argument: $arg" >&2; usage; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "$prog: dpkg-query not found; this script supports Debian/Ubuntu only." >&2
  echo "$prog: needed packages: ${want[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ $status != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if ((EUID == 0)); then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "$prog: missing packages: ${missing[*]}" >&2
  echo "$prog: not root and passwordless sudo is unavailable; install them with:" >&2
  echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "$prog: installing: ${missing[*]}" >&2
# apt output goes to stderr so stdout stays clean for callers.
"${as_root[@]}" apt-get update >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
echo "$prog: done" >&2
