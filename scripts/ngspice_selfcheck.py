#!/usr/bin/env python3
"""How accurate are ngspice's own waveforms on our examples? (keeps the golden tolerance honest)

For each example netlist, runs ngspice 39 with method=trap, with method=gear, and a tight
reference (trap, reltol=1e-6, tiny abstol/vntol/chgtol, tmax = tstep/20), then reports the
worst error relative to range (bench/compare.py's rule) of trap and of gear, measured on their
own time points (the dense reference interpolated onto them, as the golden test does with
dfcsim), and of gear interpolated onto trap's points. The golden test allows dfcsim 1e-3 of
range; ngspice's own errors should sit well below that (aim: < 3e-4), else tighten the
example's .options or steps rather than loosen the test.

usage: scripts/ngspice_selfcheck.py [NETLIST...]   (default: netlists/examples/*.cir)
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUFFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "meg": 1e6,
          "g": 1e9, "t": 1e12}


def spice_number(text):
    m = re.fullmatch(r"([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)(meg|[fpnumkgt])?[a-z]*", text.lower())
    if not m:
        raise ValueError(f"not a number: {text}")
    return float(m.group(1)) * SUFFIX.get(m.group(2) or "", 1.0)


def tran_line(netlist):
    for line in open(netlist):
        if line.lower().startswith(".tran"):
            return line.split()
    raise ValueError(f"{netlist}: no .tran")


def ngspice_csv(netlist, out, *cards):
    subprocess.run([os.path.join(ROOT, "scripts/ngspice_csv.sh"), netlist, out, *cards],
                   check=True)


def worst(test, ref):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench/compare.py"), test, ref,
                          "--quiet"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main():
    netlists = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "netlists/examples/*.cir")))
    print(f"{'example':<20} {'points':>6} {'trap-ref':>10} {'gear-ref':>10} {'gear-trap':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for netlist in netlists:
            name = os.path.basename(netlist)[:-4]
            tran = tran_line(netlist)
            tstep = spice_number(tran[1])
            # a refined .tran: same stop/start, tmax = tstep/20 (keeps uic if present)
            args = [a for a in tran[1:] if a.lower() != "uic"]
            uic = " uic" if len(args) < len(tran) - 1 else ""
            tstart = args[2] if len(args) > 2 else "0"
            fine = f".tran {tran[1]} {args[1]} {tstart} {tstep / 20:.6g}{uic}"
            paths = {k: os.path.join(tmp, f"{name}.{k}.csv") for k in ("trap", "gear", "ref")}
            ngspice_csv(netlist, paths["trap"], ".options method=trap")
            ngspice_csv(netlist, paths["gear"], ".options method=gear")
            # the refined .tran must replace the original: write a variant without it
            variant = os.path.join(os.path.dirname(netlist), f".selfcheck_{name}.cir")
            with open(netlist) as f, open(variant, "w") as g:
                for line in f:
                    g.write(fine + "\n" if line.lower().startswith(".tran") else line)
            try:
                ngspice_csv(variant, paths["ref"], ".options method=trap reltol=1e-6 "
                            "abstol=1e-13 vntol=1e-8 chgtol=1e-17")
            finally:
                os.remove(variant)
            points = sum(1 for _ in open(paths["trap"])) - 1
            print(f"{name:<20} {points:>6} {worst(paths['ref'], paths['trap']):>10} "
                  f"{worst(paths['ref'], paths['gear']):>10} "
                  f"{worst(paths['gear'], paths['trap']):>10}", flush=True)


if __name__ == "__main__":
    main()
