#!/bin/sh
# Reference-data toy runs of the ideal DFC model (issue 4), results in bench/results/:
#  - fixed weight-product feedback, 2 epochs, from the reference fixture's initial weights
#    and from dfcsim's own seed-42 initialisation;
#  - learned feedback, 50 pre-training epochs + 300 epochs (the paper's Fig. 3 setting).
# Usage: bench/ideal_toy_runs.sh [--skip-long]   (the long run prints wall time, peak RSS
# and the load average before and after)
set -e
cd "$(dirname "$0")/.."
cargo build --release
BIN=target/release/dfcsim
DATA=../shared/reference/dfc-toy/student-teacher-seed42
[ -d "$DATA" ] || DATA=../../shared/reference/dfc-toy/student-teacher-seed42
FIX=$(dirname "$DATA")/dfc_FreezeFB_WeightProduct_B4.json
$BIN ideal --data "$DATA" --init "$FIX" --epochs 2 --quiet -o bench/results/ideal_toy_fixed_2ep_refinit
$BIN ideal --data "$DATA" --epochs 2 --quiet -o bench/results/ideal_toy_fixed_2ep_seed42
cat bench/results/ideal_toy_fixed_2ep_*/metrics.csv
[ "$1" = "--skip-long" ] && exit 0
uptime
nice -n 19 /usr/bin/time -v $BIN ideal --data "$DATA" --feedback learned -o bench/results/ideal_toy_learned_300
uptime
tail -1 bench/results/ideal_toy_learned_300/metrics.csv
