#!/usr/bin/env bash
# Per-training-sample time of each variant on the paper's MNIST network 784-256-256-256-10
# (B = 128, float64, one thread), with the MNIST defaults of `dfcsim ideal --task mnist`.
#
# Method: one epoch on the first N1 and on the first N2 training samples; the difference of
# the two epoch times divided by N2 − N1 is the training cost per sample (data loading and
# the per-epoch validation/test evaluation cancel). Learned feedback runs without the
# 10 pre-training epochs, so its figure is one epoch's cost: 1 forward + 3 feedback passes.
#
# usage: bench/mnist_speed.sh MNIST_IDX_DIR [variant[:feedback] ...]
#   default variants: bp dfc-ssa:fixed dfc-ssa:learned dfc:fixed dfc-ss:fixed dfc:learned
#   N1, N2 from the environment (default 256, 768; simulated variants are slow).
set -euo pipefail
data=${1:?usage: bench/mnist_speed.sh MNIST_IDX_DIR [variant[:feedback] ...]}
shift
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(bp dfc-ssa:fixed dfc-ssa:learned dfc:fixed dfc-ss:fixed dfc:learned)
n1=${N1:-256}
n2=${N2:-768}
bin=${DFCSIM:-target/release/dfcsim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

epoch_seconds() { # variant feedback n → seconds of epoch 1
    local v=$1 fb=$2 n=$3 dir="$tmp/$1-$2-$3"
    printf 'train_samples = %d\nmetrics = false\nepochs_fb = 0\n' "$n" > "$tmp/cfg.toml"
    RAYON_NUM_THREADS=1 nice -n 19 "$bin" ideal --task mnist --data "$data" --variant "$v" \
        --feedback "$fb" --epochs 1 --config "$tmp/cfg.toml" --quiet -o "$dir" >/dev/null
    # Column 14 of metrics.csv is the epoch's wall time.
    awk -F, 'NR == 2 { print $14 }' "$dir/metrics.csv"
}

echo "# MNIST 784-256-256-256-10, B=128, 1 thread; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %12s %12s %14s\n' variant "t(N=$n1)/s" "t(N=$n2)/s" "ms/sample"
for spec in "${variants[@]}"; do
    v=${spec%%:*}
    fb=fixed
    [[ $spec == *:* ]] && fb=${spec#*:}
    t1=$(epoch_seconds "$v" "$fb" "$n1")
    t2=$(epoch_seconds "$v" "$fb" "$n2")
    per=$(awk -v a="$t1" -v b="$t2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.3f", 1000 * (b - a) / (n2 - n1) }')
    printf '%-18s %12s %12s %14s\n' "$v:$fb" "$t1" "$t2" "$per"
done
