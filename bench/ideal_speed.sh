#!/bin/sh
# Throughput of the ideal DFC model versus the reference implementation's figures
# (issue 4). Usage: bench/ideal_speed.sh [threads]   (default 1)
set -e
cd "$(dirname "$0")/.."
IDEAL_BENCH_THREADS="${1:-1}" cargo test --release --test ideal_speed -- --ignored --nocapture 2>&1 | grep -E "threads|samples/s"
