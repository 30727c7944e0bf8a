#!/usr/bin/env bash
# dfcsim vs ngspice 39 on the same netlists, in one run: wall and CPU time (best of N runs,
# process start to exit, rawfile written), speed-up, accepted time points, and the agreement
# of the two waveforms (worst |dfcsim - ngspice| over all node voltages and V-source currents,
# relative to each signal's range, dfcsim interpolated onto ngspice's points: bench/compare.py).
# For scale, the last column gives the same measure between ngspice's own gear and trap runs.
#
# Netlists: netlists/examples/*.cir and two generated fully connected tanh leaky-integrator
# networks (bench/gen_network.py, seed 1, 1 ms): 15-10-10-5 and 100-100-100-10.
#
# usage: bench/vs_ngspice.sh [--runs N] [--no-build] [--save] [NETLIST...]
#   --runs N     timing runs per simulator and netlist, best kept (default 3)
#   --no-build   use target/release/dfcsim as it is
#   --save       also copy the table to bench/results/vs_ngspice.txt
# DFCSIM=path overrides the dfcsim binary (then nothing is built). Work files go to bench/out/.
# If `dfcsim run` is missing or fails, its columns say so and the ngspice half still runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=3 build=1 save=0 netlists=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --save) save=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) netlists+=("$1"); shift ;;
  esac
done
out=bench/out
mkdir -p "$out/nets" "$out/ngspice" "$out/dfcsim"
command -v ngspice >/dev/null || { echo "ngspice not found (bash scripts/setup.sh installs it)" >&2; exit 1; }
dfcsim=${DFCSIM:-$root/target/release/dfcsim}
if [ $build = 1 ] && [ -z "${DFCSIM:-}" ]; then
  cargo build --release --quiet 2>&1 | tail -5 >&2 || echo "warning: cargo build failed" >&2
fi

if [ ${#netlists[@]} = 0 ]; then
  netlists=(netlists/examples/*.cir)
  for sizes in 15-10-10-5 100-100-100-10; do
    net=$out/nets/net_${sizes//-/_}.cir
    python3 bench/gen_network.py "$sizes" --seed 1 --tstop 1m --tstep 1u -o "$net"
    netlists+=("$net")
  done
fi

# best_time LOG CMD...: runs CMD $runs times; prints the best wall time and the best CPU time
# (user + sys, children included) in seconds; fails if any run fails (output kept in LOG).
best_time() {
  local log=$1 best_wall="" best_cpu="" tf wall user sys cpu
  shift
  tf=$(mktemp)
  for _ in $(seq "$runs"); do
    TIMEFORMAT='%3R %3U %3S'
    { time "$@" >"$log" 2>&1; } 2>"$tf" || { rm -f "$tf"; return 1; }
    read -r wall user sys <"$tf"
    cpu=$(echo "$user + $sys" | bc -l)
    if [ -z "$best_wall" ] || [ "$(echo "$wall < $best_wall" | bc -l)" = 1 ]; then best_wall=$wall; fi
    if [ -z "$best_cpu" ] || [ "$(echo "$cpu < $best_cpu" | bc -l)" = 1 ]; then best_cpu=$cpu; fi
  done
  rm -f "$tf"
  printf '%.3f %.3f' "$best_wall" "$best_cpu"
}

points() { echo $(($(wc -l <"$1") - 1)); }

table=$out/last_run.txt
{
  echo "dfcsim vs ngspice: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg), best of $runs runs"
  echo "$(ngspice -v 2>/dev/null | grep -o 'ngspice-[0-9]*' | head -1);" \
    "dfcsim $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  printf '%-20s %9s %9s %9s %9s %8s %7s %7s %11s %11s\n' netlist "ng wall" "ng cpu" \
    "dfc wall" "dfc cpu" speed-up "ng pts" "dfc pts" "max err/rng" "ng gear/trap"
} | tee "$table"

for netlist in "${netlists[@]}"; do
  name=$(basename "$netlist" .cir)
  raw=$out/ngspice/$name.raw
  ng_csv=$out/ngspice/$name.csv
  ng_cpu=-
  if times=$(best_time "$out/ngspice/$name.log" ngspice -b -r "$raw" "$netlist"); then
    read -r ng_s ng_cpu <<<"$times"
  else
    ng_s=failed
  fi
  if [ "$ng_s" != failed ] && grep -qiE 'simulation\(s\) aborted|^\s*error' "$out/ngspice/$name.log"; then
    ng_s=failed
  fi
  ng_pts=- dfc_pts=- err=- ratio=- self=-
  if [ "$ng_s" != failed ]; then
    python3 tests/golden/raw2csv.py "$raw" "$ng_csv"
    ng_pts=$(points "$ng_csv")
    if scripts/ngspice_csv.sh "$netlist" "$out/ngspice/$name.gear.csv" ".options method=gear" \
        2>/dev/null; then
      self=$(python3 bench/compare.py "$out/ngspice/$name.gear.csv" "$ng_csv" --quiet | tail -1)
    fi
  fi
  dfc_dir=$out/dfcsim/$name
  mkdir -p "$dfc_dir"
  dfc_cpu=-
  if [ ! -x "$dfcsim" ]; then
    dfc_s=missing
  elif times=$(best_time "$dfc_dir/log" "$dfcsim" run "$netlist" -o "$dfc_dir"); then
    read -r dfc_s dfc_cpu <<<"$times"
    if [ -f "$dfc_dir/$name.csv" ]; then
      dfc_pts=$(points "$dfc_dir/$name.csv")
      if [ "$ng_s" != failed ]; then
        err=$(python3 bench/compare.py "$dfc_dir/$name.csv" "$ng_csv" --quiet | tail -1)
        ratio=$(printf '%.1fx' "$(echo "$ng_s / $dfc_s" | bc -l)")
      fi
    else
      dfc_s=no-csv
    fi
  else
    # `dfcsim run` not built yet, or an error: show its first line
    if grep -qE 'not built yet|unexpected argument' "$dfc_dir/log"; then dfc_s=missing; else dfc_s=failed; fi
    echo "  dfcsim on $name: $(head -1 "$dfc_dir/log")" >&2
  fi
  printf '%-20s %9s %9s %9s %9s %8s %7s %7s %11s %11s\n' "$name" "$ng_s" "$ng_cpu" "$dfc_s" \
    "$dfc_cpu" "$ratio" "$ng_pts" "$dfc_pts" "$err" "$self" | tee -a "$table"
done
{
  echo "times in s (wall, and user+sys CPU); speed-up = ngspice wall / dfcsim wall;"
  echo "max err/rng = worst |dfcsim - ngspice| / signal range"
  echo "(dfcsim interpolated onto ngspice's points; ng gear/trap: ngspice gear vs its own trap)"
} | tee -a "$table"
if [ $save = 1 ]; then
  mkdir -p bench/results
  cp "$table" bench/results/vs_ngspice.txt
  echo "saved to bench/results/vs_ngspice.txt"
fi
