#!/usr/bin/env bash
# How dfcsim's cost per time step grows with the number of couplings (issue 3 asks: linear).
# Generates tanh/G networks of growing width (bench/gen_network.py, seed 1, 1 ms), runs
# `dfcsim run` once on each (and ngspice too with --ngspice) and prints couplings, accepted
# steps, Newton iterations, transient wall time (from dfcsim's summary JSON), and the time per
# Newton iteration per 1000 couplings: roughly constant when the cost is linear.
#   usage: bench/scaling.sh [--ngspice] [--no-build] [SIZES...]   (default sizes below)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
with_ngspice=0 build=1 sizes=()
for a in "$@"; do
  case $a in
    --ngspice) with_ngspice=1 ;;
    --no-build) build=0 ;;
    *) sizes+=("$a") ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(25-25-25-5 50-50-50-10 100-100-100-10 141-141-141-10)
dfcsim=${DFCSIM:-$root/target/release/dfcsim}
[ $build = 0 ] || [ -n "${DFCSIM:-}" ] || cargo build --release --quiet
out=bench/out/scaling
mkdir -p "$out"
echo "dfcsim scaling: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %9s %7s %8s %10s %14s %10s\n' network couplings steps newton "tran s" \
  "ms/iter/1k cpl" "ngspice s"
for sizes_arg in "${sizes[@]}"; do
  name=net_${sizes_arg//-/_}
  net=$out/$name.cir
  python3 bench/gen_network.py "$sizes_arg" --seed 1 -o "$net"
  couplings=$(grep -c '^G' "$net")
  "$dfcsim" run "$net" -o "$out" >"$out/$name.log" 2>&1
  read -r steps newton wall < <(python3 - "$out/$name.summary.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["analyses"][-1]
print(a["accepted_steps"], a["newton_iterations"], a["wall_time_s"])
PY
)
  per=$(echo "1000 * $wall / $newton / ($couplings / 1000)" | bc -l)
  ng=-
  if [ $with_ngspice = 1 ]; then
    t0=$(date +%s.%N)
    ngspice -b -r "$out/$name.ng.raw" "$net" >"$out/$name.ng.log" 2>&1
    ng=$(printf '%.3f' "$(echo "$(date +%s.%N) - $t0" | bc -l)")
  fi
  printf '%-16s %9d %7d %8d %10.3f %14.4f %10s\n' "$sizes_arg" "$couplings" "$steps" "$newton" \
    "$wall" "$per" "$ng"
done
