#!/usr/bin/env bash
# Per-sample time of the DFC circuit co-simulation (`dfcsim train`) against the ideal model's
# per-sample time for the same weights and samples, and against ngspice 39 running the
# --flat netlist's one-sample transient, all in one run (issue 5's speed goals: ≤ 5× the
# ideal model, ≥ 10× faster than ngspice).
#
# Toy circuit: `dfcsim gen --arch 15-10-10-5 --flat --plastic-feedback` (ideal preset).
#   forward phase : circuit_s_per_sample (op + controlled transient + rule (5), a clone of
#                   the compiled circuit per sample) vs ideal_s_per_sample (the ideal model's DFC update,
#                   reference Euler, 1000 steps) — both from metrics.csv, one thread;
#   sleep phase   : fb_circuit_s_per_sample vs fb_ideal_s_per_sample (rule 13, same noise);
#   one transient : `dfcsim run` vs `ngspice -b` on the flat netlist (process start to exit,
#                   best of N), t_ff + t_ctl = 6 τ_u at the netlist's own .tran step.
#
# usage: bench/train_speed.sh [--samples N] [--runs N] [--save]
#   --save  also write the table to bench/results/train_speed.txt
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
samples=20 runs=3 save=0
while [ $# -gt 0 ]; do
  case $1 in
    --samples) samples=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --save) save=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release --quiet
dfcsim=$root/target/release/dfcsim
out=bench/out/train_speed
rm -rf "$out"; mkdir -p "$out"
"$dfcsim" gen --arch 15-10-10-5 --flat --plastic-feedback -o "$out/toy.cir" >/dev/null
# At the .learn card's transient accuracy (gen: reltol 1e-4, max_step tau_u), and at
# tight tolerances (reltol 1e-6, 0.05 tau_u) for the cost of accuracy.
RAYON_NUM_THREADS=1 "$dfcsim" train "$out/toy.cir" --epochs 1 --samples "$samples" \
  --test-samples 100 -q -o "$out/train"
RAYON_NUM_THREADS=1 "$dfcsim" train "$out/toy.cir" --epochs 1 --samples "$samples" \
  --test-samples 100 --reltol 1e-6 --max-step 5e-7 -q -o "$out/train_tight"
# The same network in array form (A devices: crossbars, neuron layers, PI controller).
mkdir -p "$out/array"
"$dfcsim" gen --arch 15-10-10-5 -o "$out/array/toy.cir" >/dev/null
RAYON_NUM_THREADS=1 "$dfcsim" train "$out/array/toy.cir" --epochs 1 --samples "$samples" \
  --test-samples 100 -q -o "$out/train_array"

best() { # best wall time (s) of $runs runs of the command
  local b="" t tf
  tf=$(mktemp)
  for _ in $(seq "$runs"); do
    TIMEFORMAT=%3R
    { time "$@" >/dev/null 2>&1; } 2>"$tf"
    t=$(tail -1 "$tf")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  rm -f "$tf"
  echo "$b"
}
t_dfcsim=$(best "$dfcsim" run "$out/toy.cir" -o "$out/run")
t_ngspice=$(cd "$out" && best ngspice -b -r toy.raw toy.cir)
(cd "$out" && ngspice -b -r toy.raw toy.cir >ngspice.log 2>&1) || { echo "ngspice failed: $out/ngspice.log" >&2; exit 1; }

table=$(python3 - "$out/train/metrics.csv" "$out/train_tight/metrics.csv" "$t_dfcsim" "$t_ngspice" "$samples" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$out/train_array/metrics.csv" <<'PY'
import csv, sys
row = list(csv.DictReader(open(sys.argv[1])))[-1]
tight = list(csv.DictReader(open(sys.argv[2])))[-1]
array = list(csv.DictReader(open(sys.argv[8])))[-1]
t_dfcsim, t_ng, n, cores, load = float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
ca, ia = float(array["circuit_s_per_sample"]), float(array["ideal_s_per_sample"])
c, i = float(row["circuit_s_per_sample"]), float(row["ideal_s_per_sample"])
ct, it = float(tight["circuit_s_per_sample"]), float(tight["ideal_s_per_sample"])
fc, fi = float(row["fb_circuit_s_per_sample"]), float(row["fb_ideal_s_per_sample"])
print(f"toy 15-10-10-5 flat, ideal preset, {n} samples, 1 thread, {cores} cores, load {load}")
print(f"{'phase':<40}{'circuit s/sample':>18}{'reference s':>14}{'ratio':>9}")
print(f"{'forward (rule 5) vs ideal model':<40}{c:>18.4f}{i:>14.4f}{c / i:>8.1f}x")
print(f"{'  same, reltol 1e-6, max step 0.05 tau_u':<40}{ct:>18.4f}{it:>14.4f}{ct / it:>8.1f}x")
print(f"{'  same, array form (A devices)':<40}{ca:>18.4f}{ia:>14.4f}{ca / ia:>8.1f}x")
print(f"{'sleep (rule 13) vs ideal model':<40}{fc:>18.4f}{fi:>14.4f}{fc / fi:>8.1f}x")
print(f"{'one transient: dfcsim run vs ngspice':<40}{t_dfcsim:>18.3f}{t_ng:>14.3f}{t_ng / t_dfcsim:>8.1f}x faster")
print(f"{'train forward sample vs ngspice':<40}{c:>18.4f}{t_ng:>14.3f}{t_ng / c:>8.1f}x faster")
print(f"update angle to ideal {float(row['update_angle_deg']):.3f} deg (tight: {float(tight['update_angle_deg']):.3f} deg), sleep angle {row['fb_angle_deg'] or 'n/a'} deg")
PY
)
echo "$table"
if [ $save = 1 ]; then
  mkdir -p bench/results
  { echo "# bench/train_speed.sh --samples $samples --runs $runs ($(date -u +%Y-%m-%d))"; echo "$table"; } > bench/results/train_speed.txt
fi
