#!/usr/bin/env bash
# Installs what the benchmarks drive besides the test dependencies: wrk, the
# load generator of bench/serve.py (Debian's package). Chromium, which
# bench/console.py drives, comes with scripts/test-deps.sh.
set -euo pipefail
"$(dirname "$0")/test-deps.sh"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "wrk is missing: sudo apt-get install -y wrk" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
