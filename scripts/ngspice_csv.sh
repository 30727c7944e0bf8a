#!/usr/bin/env bash
# Run ngspice (batch mode) on a netlist and write its transient waveform as a golden-style CSV
# (time, v(...), i(v...); see tests/golden/raw2csv.py).
#   usage: scripts/ngspice_csv.sh NETLIST OUT.csv [CARD...]
# Each CARD (e.g. ".options method=gear") is inserted just before the netlist's final `.end`;
# ngspice keeps the last value of each option, so a card overrides the netlist's own.
# The netlist is copied next to itself (same directory, so relative .include paths still work)
# and the copy removed afterwards.
set -euo pipefail
netlist=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(dirname "$netlist")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; rm -f "$variant"' EXIT
variant=$(mktemp "$dir/.ngspice_variant.XXXXXX.cir")
python3 - "$netlist" "$variant" "$@" <<'PY'
import re, sys
src, dst, cards = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = open(src).read().splitlines()
ends = [i for i, l in enumerate(lines) if re.fullmatch(r"\s*\.end\s*", l, re.I)]
at = ends[-1] if ends else len(lines)
open(dst, "w").write("\n".join(lines[:at] + cards + lines[at:]) + "\n")
PY
if ! SPICE_ASCIIRAWFILE=1 ngspice -b -r "$tmp/out.raw" "$variant" >"$tmp/log" 2>&1 \
    || grep -qiE '^\s*error' "$tmp/log"; then
  cat "$tmp/log" >&2
  echo "ngspice failed on $netlist $*" >&2
  exit 1
fi
python3 "$here/tests/golden/raw2csv.py" "$tmp/out.raw" "$out"
