#!/usr/bin/env python3
"""Compare a waveform CSV against a reference CSV on the reference's time points.

Both files: header `time,<signal>,...`. The test waveform is interpolated linearly onto the
reference time points; per reference signal the error is max |test - ref|, reported relative
to the reference signal's range (max - min). A flat signal (range below flat_limit: 1 uV for
voltages, 1 nA for currents) is compared absolutely instead: marked 'abs', and 'FAIL' when its
error exceeds that same limit. Same rule as tests/common/mod.rs.

usage: compare.py TEST.csv REF.csv [--quiet]
prints a table (unless --quiet) and, last line, the worst relative error over the non-flat
signals, followed by ' FLAT-FAIL' if a flat signal is off, or 'missing ...' if signals are.
exit status 0 always when both files parse; the caller decides what is acceptable.
"""
import bisect
import sys


def flat_limit(name):
    return 1e-9 if name.startswith("i(") else 1e-6


def read_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        cols = [[] for _ in header]
        for line in f:
            if not line.strip():
                continue
            for c, cell in zip(cols, line.split(",")):
                c.append(float(cell))
    return {name.strip().lower(): col for name, col in zip(header, cols)}


def interp(ts, ys, t):
    """Linear interpolation of (ts, ys) at t, held constant outside the range."""
    if t <= ts[0]:
        return ys[0]
    if t >= ts[-1]:
        return ys[-1]
    k = bisect.bisect_right(ts, t)
    t0, t1 = ts[k - 1], ts[k]
    if t1 == t0:
        return ys[k]
    return ys[k - 1] + (ys[k] - ys[k - 1]) * (t - t0) / (t1 - t0)


def compare(test, ref):
    """Yield (signal, worst time, error, range, relative-or-None)."""
    ts_ref, ts_test = ref["time"], test["time"]
    for name, ys_ref in ref.items():
        if name == "time":
            continue
        if name not in test:
            yield name, None, None, None, None
            continue
        ys_test = test[name]
        worst, worst_t = -1.0, 0.0
        for t, y in zip(ts_ref, ys_ref):
            e = abs(interp(ts_test, ys_test, t) - y)
            if e > worst:
                worst, worst_t = e, t
        rng = max(ys_ref) - min(ys_ref)
        rel = worst / rng if rng > flat_limit(name) else None
        yield name, worst_t, worst, rng, rel


def main():
    quiet = "--quiet" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--quiet"]
    test, ref = read_csv(args[0]), read_csv(args[1])
    worst_rel, missing, flat_fail = 0.0, [], False
    if not quiet:
        print(f"{'signal':<16} {'worst t [s]':>12} {'|err|':>10} {'range':>10} {'err/range':>10}")
    for name, t, err, rng, rel in compare(test, ref):
        if err is None:
            missing.append(name)
            continue
        if rel is not None:
            worst_rel = max(worst_rel, rel)
        elif err > flat_limit(name):
            flat_fail = True
        if not quiet:
            r = f"{rel:10.2e}" if rel is not None else f"{'abs':>10}"
            r += " FAIL" if rel is None and err > flat_limit(name) else ""
            print(f"{name:<16} {t:12.5e} {err:10.2e} {rng:10.2e} {r}")
    if missing:
        print("missing " + " ".join(missing))
    else:
        print(f"{worst_rel:.3e}" + (" FLAT-FAIL" if flat_fail else ""))


if __name__ == "__main__":
    main()
