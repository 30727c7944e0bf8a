#!/usr/bin/env python3
"""Table of the MNIST / Fashion-MNIST runs in bench/results/mnist_*/metrics.csv next to the
paper's Table 1 (test error at the epoch of best validation error, 100 epochs, 5 seeds).
Works on partial runs (metrics.csv grows by one row per epoch). Standard library only.

usage: python3 bench/mnist_table.py [RESULTS_DIR]
"""

import csv
import sys
from pathlib import Path

# Paper Table 1: mean ± std over 5 seeds.
TABLE1 = {
    ("mnist", "bp", "fixed"): (2.08, 0.15),
    ("mnist", "dfc", "learned"): (2.25, 0.094),
    ("mnist", "dfc_ssa", "learned"): (2.18, 0.16),
    ("mnist", "dfc_ss", "learned"): (2.29, 0.097),
    ("mnist", "dfc", "fixed"): (2.47, 0.12),
    ("mnist", "dfc_ssa", "fixed"): (2.46, 0.11),
    ("mnist", "dfc_ss", "fixed"): (2.39, 0.22),
    ("mnist", "dfa", "fixed"): (2.69, 0.11),
    ("fashion_mnist", "bp", "fixed"): (10.60, 0.34),
    ("fashion_mnist", "dfc", "learned"): (11.17, 0.27),
    ("fashion_mnist", "dfc_ssa", "learned"): (11.28, 0.27),
    ("fashion_mnist", "dfc_ss", "learned"): (11.15, 0.32),
    ("fashion_mnist", "dfc", "fixed"): (11.62, 0.30),
    ("fashion_mnist", "dfc_ssa", "fixed"): (11.44, 0.14),
    ("fashion_mnist", "dfc_ss", "fixed"): (11.55, 0.42),
    ("fashion_mnist", "dfa", "fixed"): (11.38, 0.25),
}


def key_of(name: str):
    """mnist_<task>_<variant>_<feedback>[_tag] → (task, variant, feedback, tag)."""
    rest = name[len("mnist_"):]
    task = "fashion_mnist" if rest.startswith("fashion_mnist_") else "mnist"
    rest = rest[len(task) + 1:]
    for variant in ("dfc_ssa", "dfc_ss", "dfc", "bp", "dfa"):
        if rest.startswith(variant + "_"):
            rest = rest[len(variant) + 1:]
            feedback, _, tag = rest.partition("_")
            return task, variant, feedback, tag
    return None


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
    print(f"{'run':45} {'epochs':>6} {'s/epoch':>8} {'last':>7} {'best val':>9} "
          f"{'test@best':>9} {'Table 1':>13}")
    for d in sorted(root.glob("mnist_*/")):
        key = key_of(d.name)
        f = d / "metrics.csv"
        if key is None or not f.exists():
            continue
        rows = list(csv.DictReader(f.open()))
        if not rows:
            continue
        best = min(rows, key=lambda r: (float(r["val_error"]), int(r["epoch"])))
        secs = sum(float(r["seconds"]) for r in rows) / len(rows)
        ref = TABLE1.get(key[:3])
        ref_s = f"{ref[0]:.2f} ± {ref[1]:.2f}" if ref and not key[3] else "-"
        print(f"{d.name:45} {len(rows):6d} {secs:8.0f} {float(rows[-1]['test_error']):6.2f}% "
              f"{float(best['val_error']):5.2f}%@{int(best['epoch']):<3d}"
              f"{float(best['test_error']):8.2f}% {ref_s:>13}")


if __name__ == "__main__":
    main()
