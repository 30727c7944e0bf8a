#!/usr/bin/env bash
# Regenerate the ngspice golden waveforms for every example netlist:
#   tests/golden/<example>.trap.csv   (the netlist as is; trapezoidal is ngspice's default)
#   tests/golden/<example>.gear.csv   (`.options method=gear` added before `.end`)
# Each CSV holds ngspice's own accepted time points (no interpolation), `time`, every node
# voltage `v(...)` and every voltage-source current `i(v...)`, as ngspice names them.
# Needs ngspice 39 (Debian's package) and python3. Usage: bash tests/golden/regen.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
version=$(ngspice -v 2>/dev/null | grep -o 'ngspice-[0-9]*' | head -1)
[ "$version" = ngspice-39 ] || echo "warning: the goldens were made with ngspice-39, this is $version" >&2
for netlist in netlists/examples/*.cir; do
  name=$(basename "$netlist" .cir)
  scripts/ngspice_csv.sh "$netlist" "tests/golden/$name.trap.csv"
  scripts/ngspice_csv.sh "$netlist" "tests/golden/$name.gear.csv" ".options method=gear"
  echo "$name: $(($(wc -l <"tests/golden/$name.trap.csv") - 1)) trap points," \
    "$(($(wc -l <"tests/golden/$name.gear.csv") - 1)) gear points"
done
