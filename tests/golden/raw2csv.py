#!/usr/bin/env python3
"""Convert an ngspice rawfile (transient; ASCII or binary) into the golden CSV form.

Keeps `time`, every node voltage `v(...)` and every voltage-source current `i(v...)`,
which is exactly what `dfcsim run` promises in its CSV; other branch currents (inductors,
E/H sources) are internal to ngspice's formulation and are dropped.

usage: raw2csv.py IN.raw OUT.csv
"""
import array
import sys


def read_raw(path):
    """Return (names, rows) of the first plot of an ngspice rawfile, ASCII or binary."""
    with open(path, "rb") as f:
        data = f.read()
    names, n_vars, n_points, pos = [], None, None, 0
    while True:
        end = data.index(b"\n", pos)
        line = data[pos:end].decode("latin-1")
        pos = end + 1
        key = line.split(":", 1)[0].strip().lower()
        if key == "no. variables":
            n_vars = int(line.split(":", 1)[1])
        elif key == "no. points":
            n_points = int(line.split(":", 1)[1])
        elif key == "flags" and "complex" in line.lower():
            sys.exit(f"{path}: complex data is not a transient rawfile")
        elif key == "variables":
            for _ in range(n_vars):
                end = data.index(b"\n", pos)
                names.append(data[pos:end].decode("latin-1").split()[1].lower())
                pos = end + 1
        elif key == "values":
            return names, ascii_values(data[pos:].decode("latin-1"), n_vars, n_points)
        elif key == "binary":
            values = array.array("d")
            values.frombytes(data[pos : pos + 8 * n_vars * n_points])
            if sys.byteorder != "little":
                values.byteswap()
            return names, [values[i * n_vars : (i + 1) * n_vars] for i in range(n_points)]


def ascii_values(text, n_vars, n_points):
    tokens = text.split()
    rows, k = [], 0
    for _ in range(n_points):
        k += 1  # the point index
        rows.append([float(t) for t in tokens[k : k + n_vars]])
        k += n_vars
    return rows


def main():
    src, dst = sys.argv[1], sys.argv[2]
    names, rows = read_raw(src)
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
