//! ngspice rawfiles: round trip, reading files ngspice 39 wrote, and ngspice loading ours.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::output::{self, raw};
use dfcsim::waveform::{Signal, Unit, Waveforms};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sig(name: &str, unit: Unit) -> Signal {
    Signal {
        name: name.into(),
        unit,
    }
}

/// An `.op` plot and a `.tran` plot with values that stress formatting.
fn sample_plots() -> Vec<Waveforms> {
    let mut op = Waveforms::new(
        "round trip: op + tran",
        "Operating Point",
        vec![
            sig("v(in)", Unit::Voltage),
            sig("v(x1.n2)", Unit::Voltage),
            sig("i(v1)", Unit::Current),
        ],
    );
    op.push_row(&[0.1 + 0.2, -0.0, -6.666666666666667e-5]);
    let mut tran = Waveforms::new(
        "round trip: op + tran",
        "Transient Analysis",
        vec![
            sig("time", Unit::Time),
            sig("v(in)", Unit::Voltage),
            sig("v(x1.n2)", Unit::Voltage),
            sig("i(v1)", Unit::Current),
            sig("u1", Unit::None),
        ],
    );
    let mut t = 0.0;
    for k in 0..50 {
        let x = k as f64;
        tran.push_row(&[
            t,
            (x * 0.37).sin(),
            1e-300 * x + 5e-324,
            -1.0 / (3.0 + x),
            f64::MAX / (1.0 + x),
        ]);
        t += 1e-7 / 3.0;
    }
    vec![op, tran]
}

fn assert_same_bits(a: &[Waveforms], b: &[Waveforms]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.title, y.title);
        assert_eq!(x.plot_name, y.plot_name);
        assert_eq!(x.signals, y.signals);
        assert_eq!(x.data.len(), y.data.len());
        for (i, (u, v)) in x.data.iter().zip(&y.data).enumerate() {
            assert_eq!(u.to_bits(), v.to_bits(), "value {i}: {u:e} vs {v:e}");
        }
    }
}

#[test]
fn binary_and_ascii_round_trip_bit_exact() {
    let dir = temp_dir("raw-rt");
    let plots = sample_plots();
    for ascii in [false, true] {
        let path = dir.join(if ascii { "a.raw" } else { "b.raw" });
        raw::write(&path, &plots, ascii).unwrap();
        let back = raw::read(&path).unwrap();
        assert_same_bits(&plots, &back);
        // The generic reader picks the format by extension.
        assert_same_bits(&plots, &output::read_waveforms(&path).unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn written_layout_matches_ngspice() {
    let plots = sample_plots();
    let bytes = raw::to_bytes(&plots[..1], true, "Thu Jan  1 00:00:00  1970");
    let text = String::from_utf8(bytes).unwrap();
    let expected = "Title: round trip: op + tran\n\
        Date: Thu Jan  1 00:00:00  1970\n\
        Plotname: Operating Point\n\
        Flags: real\n\
        No. Variables: 3\n\
        No. Points: 1       \n\
        Variables:\n\
        \t0\tv(in)\tvoltage\n\
        \t1\tv(x1.n2)\tvoltage\n\
        \t2\ti(v1)\tcurrent\n\
        Values:\n\
        0\t\t3.0000000000000004e-01\n\
        \t-0.0000000000000000e+00\n\
        \t-6.6666666666666670e-05\n";
    assert_eq!(text, expected);
    let bin = raw::to_bytes(&plots[1..], false, "d");
    let head = b"Variables:\n\t0\ttime\ttime\n\t1\tv(in)\tvoltage\n\t2\tv(x1.n2)\tvoltage\n\t3\ti(v1)\tcurrent\n\t4\tu1\tnotype\nBinary:\n";
    let at = bin.windows(head.len()).position(|w| w == head).unwrap();
    let values = &bin[at + head.len()..];
    assert_eq!(values.len(), 50 * 5 * 8);
    // Row-major little-endian: row 1 starts with time 1e-7/3.
    assert_eq!(&values[40..48], &(1e-7f64 / 3.0).to_le_bytes());
}

/// Checks a plot read from the committed ngspice run of `ngspice_rc.cir` against circuit laws.
fn check_rc_plots(plots: &[Waveforms], with_op: bool) {
    let tran = plots.last().unwrap();
    assert_eq!(
        tran.title,
        "rc divider with a subcircuit (ngspice reference for the rawfile reader)"
    );
    assert_eq!(tran.plot_name, "Transient Analysis");
    assert_eq!(tran.rows(), 62);
    assert_eq!(tran.signals[0], sig("time", Unit::Time));
    for (name, unit) in [
        ("v(in)", Unit::Voltage),
        ("v(out)", Unit::Voltage),
        ("v(x1.mid)", Unit::Voltage),
        ("i(v.x1.vx)", Unit::Current),
        ("i(v1)", Unit::Current),
    ] {
        let j = tran
            .index_of(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(tran.signals[j].unit, unit);
    }
    let [t, vin, vout, ix, iv1] = ["time", "v(in)", "v(out)", "i(v.x1.vx)", "i(v1)"]
        .map(|n| tran.column(tran.index_of(n).unwrap()));
    assert_eq!(*t.last().unwrap(), 3e-6);
    for k in 0..tran.rows() {
        // V1 is PULSE(0.2 1 0 1u 1u …): 0.2 V at t = 0, 1 V from 2 µs on.
        let expect_in = if t[k] <= 1e-6 {
            0.2 + 0.8 * t[k] / 1e-6
        } else {
            1.0
        };
        assert!((vin[k] - expect_in).abs() < 1e-12, "v(in) at {}", t[k]);
        // i(V1) flows from + to − inside the source: −(v(in) − v(out)) / 1 kΩ.
        assert!(
            (iv1[k] + (vin[k] - vout[k]) / 1e3).abs() < 1e-12,
            "i(v1) at {}",
            t[k]
        );
        // The subcircuit's 2 kΩ ends at 0 V through Vx.
        assert!(
            (ix[k] - vout[k] / 2e3).abs() < 1e-12,
            "i(v.x1.vx) at {}",
            t[k]
        );
    }
    if with_op {
        assert_eq!(plots.len(), 2);
        let op = &plots[0];
        assert_eq!(op.plot_name, "Operating Point");
        assert_eq!(op.rows(), 1);
        let v = |n: &str| op.row(0)[op.index_of(n).unwrap()];
        assert!((v("v(in)") - 0.2).abs() < 1e-15);
        assert!((v("v(out)") - 0.2 * 2.0 / 3.0).abs() < 1e-15);
        assert!((v("i(v1)") + 0.2 / 3e3).abs() < 1e-18);
    }
}

#[test]
fn reads_committed_ngspice_rawfiles() {
    let binary = raw::read(&data("ngspice_rc_binary.raw")).unwrap();
    let ascii = raw::read(&data("ngspice_rc_ascii.raw")).unwrap();
    let written = raw::read(&data("ngspice_rc_write.raw")).unwrap();
    check_rc_plots(&binary, true);
    check_rc_plots(&ascii, true);
    check_rc_plots(&written, false);
    // ngspice's ascii has 16 significant digits: it agrees with the binary file to that.
    for (b, a) in binary.iter().zip(&ascii) {
        assert_eq!(b.signals, a.signals);
        for (x, y) in b.data.iter().zip(&a.data) {
            assert!((x - y).abs() <= 1e-15 * x.abs(), "{x:e} vs {y:e}");
        }
    }
}

#[test]
fn malformed_rawfiles_give_errors_not_panics() {
    let good = std::fs::read(data("ngspice_rc_binary.raw")).unwrap();
    let p = Path::new("bad.raw");
    let e = raw::parse(p, &good[..good.len() - 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    let ascii = std::fs::read_to_string(data("ngspice_rc_ascii.raw")).unwrap();
    let bad = ascii.replacen("6.666666666666667e-05", "6.6x", 1);
    let e = raw::parse(p, bad.as_bytes()).unwrap_err().to_string();
    assert!(
        e.contains("bad.raw:17:") && e.contains("`6.6x` is not a number"),
        "{e}"
    );
    let complex = ascii.replacen("Flags: real", "Flags: complex", 1);
    assert!(raw::parse(p, complex.as_bytes()).is_err());
    assert!(raw::parse(p, b"").is_err());
    // Every prefix of a valid file is either read or rejected, never a panic.
    for cut in (0..good.len()).step_by(7) {
        let _ = raw::parse(p, &good[..cut]);
    }
    for cut in (0..ascii.len()).step_by(5) {
        let _ = raw::parse(p, &ascii.as_bytes()[..cut]);
    }
}

fn ngspice_available() -> bool {
    let ok = Command::new("ngspice")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("note: ngspice not installed; live ngspice cross-check skipped");
    }
    ok
}

#[test]
fn reader_reads_fresh_ngspice_output_live() {
    if !ngspice_available() {
        return;
    }
    let dir = temp_dir("raw-live-read");
    for ascii in [false, true] {
        let out = dir.join(if ascii { "a.raw" } else { "b.raw" });
        let mut cmd = Command::new("ngspice");
        cmd.arg("-b")
            .arg("-r")
            .arg(&out)
            .arg(data("ngspice_rc.cir"));
        if ascii {
            cmd.env("SPICE_ASCIIRAWFILE", "1");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        check_rc_plots(&raw::read(&out).unwrap(), true);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Parses the columns of ngspice's `wrdata` (with `wr_singlescale`, `wr_vecnames`).
fn read_wrdata(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let names = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    (names, rows)
}

#[test]
fn ngspice_loads_our_rawfiles_live() {
    if !ngspice_available() {
        return;
    }
    let dir = temp_dir("raw-live-load");
    let plots = sample_plots();
    let tran = &plots[1];
    for ascii in [false, true] {
        let raw_path = dir.join(if ascii { "ours_a.raw" } else { "ours_b.raw" });
        let tran_out = dir.join("tran.txt");
        let op_out = dir.join("op.txt");
        raw::write(&raw_path, &plots, ascii).unwrap();
        let script = format!(
            "* load test\n.control\nload {raw}\nset wr_singlescale\nset wr_vecnames\noption numdgt=17\n\
             wrdata {tran} v(in) v(x1.n2) i(v1)\nsetplot op1\nwrdata {op} v(in) i(v1)\n.endc\n.end\n",
            raw = raw_path.display(),
            tran = tran_out.display(),
            op = op_out.display()
        );
        let cir = dir.join("load.cir");
        std::fs::write(&cir, script).unwrap();
        let o = Command::new("ngspice")
            .arg("-b")
            .arg(&cir)
            .output()
            .unwrap();
        let log =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        // `ngspice -b` exits with 1 when a script runs no simulation: judge by the files.
        assert!(
            tran_out.exists() && op_out.exists(),
            "ngspice wrote no data:\n{log}"
        );
        let (names, rows) = read_wrdata(&tran_out);
        assert_eq!(names, ["time", "v(in)", "v(x1.n2)", "i(v1)"], "{log}");
        assert_eq!(rows.len(), tran.rows());
        for (k, r) in rows.iter().enumerate() {
            for (c, &j) in [0, 1, 2, 3].iter().enumerate() {
                let ours = tran.row(k)[j];
                // numdgt=17 prints 18 significant digits: ngspice's values are ours, bit for bit.
                assert_eq!(
                    r[c].to_bits(),
                    ours.to_bits(),
                    "row {k} col {c}: {} vs {ours:e}",
                    r[c]
                );
            }
        }
        let (_, op_rows) = read_wrdata(&op_out);
        assert_eq!(op_rows[0][1], plots[0].row(0)[0]);
        assert_eq!(op_rows[0][2], plots[0].row(0)[2]);
        std::fs::remove_file(&tran_out).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_all_writes_csv_of_tran_and_raw_of_all_plots() {
    let dir = temp_dir("write-all");
    let plots = sample_plots();
    let paths = output::write_all(&dir.join("out"), "net", &plots, false).unwrap();
    assert_eq!(paths, [dir.join("out/net.csv"), dir.join("out/net.raw")]);
    let csv = output::csv::read(&paths[0]).unwrap();
    assert_eq!(csv.signals, plots[1].signals);
    assert_eq!(csv.rows(), 50);
    assert_same_bits(&plots, &raw::read(&paths[1]).unwrap());
    // A transient that stopped before its first point: the CSV is its header alone.
    let mut stopped = plots.clone();
    stopped[1].data.clear();
    let paths = output::write_all(&dir, "stopped", &stopped, false).unwrap();
    let csv = std::fs::read_to_string(&paths[0]).unwrap();
    assert_eq!(csv, "time,v(in),v(x1.n2),i(v1),u1\n");
    assert_same_bits(&stopped, &raw::read(&paths[1]).unwrap());
    // Only `.op`: the CSV holds its single row.
    let paths = output::write_all(&dir, "op", &plots[..1], true).unwrap();
    let csv = std::fs::read_to_string(&paths[0]).unwrap();
    assert_eq!(
        csv,
        "v(in),v(x1.n2),i(v1)\n0.30000000000000004,-0,-6.666666666666667e-5\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
