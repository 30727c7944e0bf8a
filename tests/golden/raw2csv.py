#!/usr/bin/env python3
"""Convert an ngspice ASCII rawfile (transient) into the golden CSV form.

Keeps `time`, every node voltage `v(...)` and every voltage-source current `i(v...)`,
which is exactly what `dfcsim run` promises in its CSV; other branch currents (inductors,
E/H sources) are internal to ngspice's formulation and are dropped.

usage: raw2csv.py IN.raw OUT.csv
"""
import sys


def read_ascii_raw(path):
    """Return (names, rows) of the first plot of an ngspice ASCII rawfile."""
    with open(path) as f:
        lines = f.read().splitlines()
    names, n_vars, n_points, i = [], None, None, 0
    while i < len(lines):
        line = lines[i]
        key = line.split(":", 1)[0].strip().lower()
        if key == "no. variables":
            n_vars = int(line.split(":", 1)[1])
        elif key == "no. points":
            n_points = int(line.split(":", 1)[1])
        elif key == "flags" and "complex" in line.lower():
            sys.exit(f"{path}: complex data is not a transient rawfile")
        elif key == "variables":
            for j in range(n_vars):
                names.append(lines[i + 1 + j].split()[1].lower())
            i += n_vars
        elif key == "values":
            i += 1
            break
        elif key == "binary":
            sys.exit(f"{path}: binary rawfile; run ngspice with SPICE_ASCIIRAWFILE=1")
        i += 1
    tokens = " ".join(lines[i:]).split()
    rows = []
    k = 0
    for _ in range(n_points):
        k += 1  # the point index
        rows.append([float(t) for t in tokens[k : k + n_vars]])
        k += n_vars
    return names, rows


def main():
    src, dst = sys.argv[1], sys.argv[2]
    names, rows = read_ascii_raw(src)
    keep = [
        j
        for j, n in enumerate(names)
        if j == 0 or n.startswith("v(") or n.startswith("i(v")
    ]
    if names[0] != "time":
        sys.exit(f"{src}: first variable is {names[0]!r}, not time")
    with open(dst, "w") as f:
        f.write(",".join(names[j] for j in keep) + "\n")
        for r in rows:
            # time with 15 significant digits (points crowd near breakpoints), values with 9
            cells = [f"{r[0]:.15g}"] + [f"{r[j]:.9g}" for j in keep[1:]]
            f.write(",".join(cells) + "\n")


if __name__ == "__main__":
    main()
