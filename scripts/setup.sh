#!/usr/bin/env bash
# Installs the system packages dfcsim's tests and benchmarks use: ngspice (Debian's ngspice 39)
# for the live cross-checks. Safe to run again; skips what is already there.
set -euo pipefail
if ! command -v ngspice >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ngspice
  else
    echo "ngspice not found and not root: the live ngspice cross-checks will be skipped" >&2
  fi
fi
