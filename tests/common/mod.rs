//! Shared helpers of the ngspice cross-check tests: reading waveforms (golden CSV, dfcsim CSV,
//! ngspice ASCII rawfile), running `dfcsim run` and `ngspice -b`, and comparing a waveform with
//! a reference on the reference's own time points.
//!
//! The comparison rule (issue 3): the tested waveform is interpolated linearly onto the
//! reference's time points; for every reference signal the worst |difference| must be at most
//! `REL_TOL` × (max − min of the reference signal). A signal whose range is about zero (below
//! `flat_limit`) is compared absolutely against that same limit instead.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Allowed worst error, relative to the reference signal's range.
pub const REL_TOL: f64 = 1e-3;

/// Longest a single simulator run may take before the test calls it hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A signal range below which the signal counts as flat (compared absolutely, with this same
/// value as the tolerance): 1 µV for voltages (ngspice's default vntol), 1 nA for currents.
pub fn flat_limit(signal: &str) -> f64 {
    if signal.starts_with("i(") { 1e-9 } else { 1e-6 }
}

/// Integration methods the examples are checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Trap,
    Gear,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::Trap, Method::Gear];

    pub fn name(self) -> &'static str {
        match self {
            Method::Trap => "trap",
            Method::Gear => "gear",
        }
    }

    /// Cards added before `.end` to select the method. Trap is the default of both simulators,
    /// so the trap run uses the netlist exactly as committed.
    pub fn cards(self) -> &'static [&'static str] {
        match self {
            Method::Trap => &[],
            Method::Gear => &[".options method=gear"],
        }
    }
}

/// Root of the crate (where `netlists/` and `tests/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_netlist(name: &str) -> PathBuf {
    root().join("netlists/examples").join(format!("{name}.cir"))
}

pub fn golden_path(name: &str, method: Method) -> PathBuf {
    root()
        .join("tests/golden")
        .join(format!("{name}.{}.csv", method.name()))
}

/// Names (file stems) of all example netlists, sorted.
pub fn example_names() -> Vec<String> {
    let dir = root().join("netlists/examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "cir").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// A fresh, empty scratch directory under cargo's per-test-crate temp dir.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(label);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Waveforms on a common time axis: `signals[k]` holds the values of `names[k]` at `time`.
/// Names are lower-case (`v(out)`, `i(v1)`, `v(x1.mid)`).
#[derive(Clone, Debug)]
pub struct Waveform {
    pub time: Vec<f64>,
    pub names: Vec<String>,
    pub signals: Vec<Vec<f64>>,
}

impl Waveform {
    pub fn signal(&self, name: &str) -> Option<&[f64]> {
        let k = self.names.iter().position(|n| n == name)?;
        Some(&self.signals[k])
    }

    /// Keeps only what both simulators promise to write: node voltages and V-source currents.
    pub fn only_nodes_and_vsource_currents(mut self) -> Waveform {
        let keep: Vec<bool> = self
            .names
            .iter()
            .map(|n| n.starts_with("v(") || n.starts_with("i(v"))
            .collect();
        let mut k = 0;
        self.names.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        let mut k = 0;
        self.signals.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        self
    }

    /// Linear interpolation of signal `k` at time `t`, held constant outside the time range.
    /// With repeated time points (a step), the value after the step is used.
    pub fn interpolate(&self, k: usize, t: f64) -> f64 {
        let (ts, ys) = (&self.time, &self.signals[k]);
        if t <= ts[0] {
            return ys[0];
        }
        if t >= ts[ts.len() - 1] {
            return ys[ys.len() - 1];
        }
        let i = ts.partition_point(|&x| x <= t); // ts[i-1] <= t < ts[i]
        let (t0, t1) = (ts[i - 1], ts[i]);
        ys[i - 1] + (ys[i] - ys[i - 1]) * (t - t0) / (t1 - t0)
    }
}

/// Reads a CSV waveform: header `time,<signal>,...`, then one row of numbers per time point.
pub fn read_csv(path: &Path) -> Result<Waveform, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", path.display()))?;
    let columns: Vec<String> = header.split(',').map(|s| s.trim().to_lowercase()).collect();
    if columns.first().map(String::as_str) != Some("time") {
        return Err(format!(
            "{}: first column is not `time`: {header}",
            path.display()
        ));
    }
    let mut time = Vec::new();
    let mut signals = vec![Vec::new(); columns.len() - 1];
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            return Err(format!(
                "{}:{}: {} cells, header has {}",
                path.display(),
                i + 1,
                cells.len(),
                columns.len()
            ));
        }
        let mut values = cells.iter().map(|c| {
            c.trim()
                .parse::<f64>()
                .map_err(|e| format!("{}:{}: `{c}`: {e}", path.display(), i + 1))
        });
        time.push(values.next().unwrap()?);
        for (signal, value) in signals.iter_mut().zip(values) {
            signal.push(value?);
        }
    }
    check_time_axis(path, &time)?;
    Ok(Waveform {
        time,
        names: columns[1..].to_vec(),
        signals,
    })
}

/// Reads the first plot of an ngspice ASCII rawfile (`SPICE_ASCIIRAWFILE=1 ngspice -b -r`).
pub fn read_ascii_raw(path: &Path) -> Result<Waveform, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let err = |msg: &str| format!("{}: {msg}", path.display());
    let mut lines = text.lines();
    let (mut n_vars, mut n_points) = (None, None);
    let mut names = Vec::new();
    loop {
        let line = lines.next().ok_or_else(|| err("no `Values:` section"))?;
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        match key.trim().to_lowercase().as_str() {
            "no. variables" => n_vars = value.trim().parse::<usize>().ok(),
            "no. points" => n_points = value.trim().parse::<usize>().ok(),
            "flags" if value.contains("complex") => return Err(err("complex data")),
            "binary" => return Err(err("binary rawfile (set SPICE_ASCIIRAWFILE=1)")),
            "variables" => {
                let n = n_vars.ok_or_else(|| err("`Variables:` before `No. Variables:`"))?;
                for _ in 0..n {
                    let line = lines.next().ok_or_else(|| err("truncated variable list"))?;
                    let name = line.split_whitespace().nth(1).ok_or_else(|| err(line))?;
                    names.push(name.to_lowercase());
                }
            }
            "values" => break,
            _ => {}
        }
    }
    let (n_vars, n_points) = match (n_vars, n_points) {
        (Some(v), Some(p)) if v >= 1 => (v, p),
        _ => return Err(err("missing variable or point count")),
    };
    if names.first().map(String::as_str) != Some("time") {
        return Err(err("first variable is not time"));
    }
    let mut tokens = lines.flat_map(str::split_whitespace);
    let mut time = Vec::with_capacity(n_points);
    let mut signals = vec![Vec::with_capacity(n_points); n_vars - 1];
    for point in 0..n_points {
        let mut next = || {
            let tok = tokens.next().ok_or_else(|| err("truncated values"))?;
            tok.parse::<f64>()
                .map_err(|e| err(&format!("point {point}: `{tok}`: {e}")))
        };
        next()?; // the point index
        time.push(next()?);
        for signal in signals.iter_mut() {
            signal.push(next()?);
        }
    }
    check_time_axis(path, &time)?;
    Ok(Waveform {
        time,
        names: names[1..].to_vec(),
        signals,
    })
}

fn check_time_axis(path: &Path, time: &[f64]) -> Result<(), String> {
    if time.len() < 2 {
        return Err(format!("{}: fewer than two time points", path.display()));
    }
    if let Some(w) = time.windows(2).find(|w| w[1] < w[0] || !w[0].is_finite()) {
        return Err(format!(
            "{}: time goes backwards at {:e}",
            path.display(),
            w[0]
        ));
    }
    Ok(())
}

/// The worst error of one reference signal.
#[derive(Clone, Debug)]
pub struct SignalError {
    pub signal: String,
    /// Reference time point where |test − reference| is largest.
    pub worst_time: f64,
    pub abs_error: f64,
    /// max − min of the reference signal.
    pub range: f64,
    /// `abs_error / range`, or `None` for a flat signal (compared absolutely).
    pub rel_error: Option<f64>,
    pub pass: bool,
}

/// The outcome of comparing one waveform with its reference.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub errors: Vec<SignalError>,
    /// Reference signals the tested waveform does not have.
    pub missing: Vec<String>,
    /// A non-finite value in the tested waveform, as (signal, time).
    pub non_finite: Option<(String, f64)>,
    /// The tested waveform does not cover the reference's time span: (its span, reference's).
    pub short: Option<((f64, f64), (f64, f64))>,
}

impl Comparison {
    pub fn pass(&self) -> bool {
        self.missing.is_empty()
            && self.non_finite.is_none()
            && self.short.is_none()
            && self.errors.iter().all(|e| e.pass)
    }

    /// Worst relative error over the non-flat signals.
    pub fn worst_rel(&self) -> f64 {
        self.errors
            .iter()
            .filter_map(|e| e.rel_error)
            .fold(0.0, f64::max)
    }

    /// One line per signal: `example method signal worst-time error/range verdict`.
    pub fn table(&self, example: &str, method: Method) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<20} {:<6} {:<16} {:>13} {:>10} {:>10} {:>11}",
            "example", "method", "signal", "worst t [s]", "|error|", "range", "error/range"
        );
        for e in &self.errors {
            let rel = match e.rel_error {
                Some(r) => format!("{r:11.3e}"),
                None => format!("{:>11}", "flat(abs)"),
            };
            let verdict = if e.pass { "" } else { "  FAIL" };
            let _ = writeln!(
                s,
                "{example:<20} {:<6} {:<16} {:13.6e} {:10.3e} {:10.3e} {rel}{verdict}",
                method.name(),
                e.signal,
                e.worst_time,
                e.abs_error,
                e.range
            );
        }
        for m in &self.missing {
            let _ = writeln!(
                s,
                "{example:<20} {:<6} {m:<16} missing from the tested output  FAIL",
                method.name()
            );
        }
        if let Some(((t0, t1), (r0, r1))) = self.short {
            let _ = writeln!(
                s,
                "{example:<20} {:<6} time span {t0:e}..{t1:e} s does not cover ngspice's {r0:e}..{r1:e} s  FAIL",
                method.name()
            );
        }
        if let Some((signal, t)) = &self.non_finite {
            let _ = writeln!(
                s,
                "{example:<20} {:<6} {signal:<16} non-finite value at t = {t:e}  FAIL",
                method.name()
            );
        }
        s
    }
}

/// Compares `test` with `reference` on the reference's time points (see the module docs).
pub fn compare(test: &Waveform, reference: &Waveform) -> Comparison {
    let mut errors = Vec::new();
    let mut missing = Vec::new();
    let mut non_finite = None;
    for (name, ys_ref) in reference.names.iter().zip(&reference.signals) {
        let Some(k) = test.names.iter().position(|n| n == name) else {
            missing.push(name.clone());
            continue;
        };
        if let Some(i) = test.signals[k].iter().position(|y| !y.is_finite()) {
            non_finite.get_or_insert((name.clone(), test.time[i]));
            continue;
        }
        let (mut worst, mut worst_time) = (0.0_f64, reference.time[0]);
        for (&t, &y) in reference.time.iter().zip(ys_ref) {
            let e = (test.interpolate(k, t) - y).abs();
            if e > worst {
                (worst, worst_time) = (e, t);
            }
        }
        let (lo, hi) = ys_ref
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| {
                (lo.min(y), hi.max(y))
            });
        let range = hi - lo;
        let flat = flat_limit(name);
        let (rel_error, pass) = if range > flat {
            (Some(worst / range), worst <= REL_TOL * range)
        } else {
            (None, worst <= flat)
        };
        errors.push(SignalError {
            signal: name.clone(),
            worst_time,
            abs_error: worst,
            range,
            rel_error,
            pass,
        });
    }
    // held-constant extrapolation must not hide a run that stopped early
    let span = |w: &Waveform| (w.time[0], w.time[w.time.len() - 1]);
    let (test_span, ref_span) = (span(test), span(reference));
    let slack = 1e-9 * (ref_span.1 - ref_span.0);
    let short = (test_span.0 > ref_span.0 + slack || test_span.1 < ref_span.1 - slack)
        .then_some((test_span, ref_span));
    Comparison {
        errors,
        missing,
        non_finite,
        short,
    }
}

/// Copies `netlist` to `dir/<same file name>` with `cards` inserted before its last `.end`
/// line (or appended when it has none). Simulators keep the last value of an option, so a
/// card overrides the netlist's own setting. Relative `.include`/`.lib` file paths are made
/// absolute (relative to the original netlist's directory), so the copy reads the same files.
pub fn write_variant(netlist: &Path, dir: &Path, cards: &[&str]) -> PathBuf {
    let text = std::fs::read_to_string(netlist)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", netlist.display()));
    let home = netlist
        .parent()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
        .unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(|l| absolute_include(l, &home)).collect();
    let end = lines
        .iter()
        .rposition(|l| l.trim().eq_ignore_ascii_case(".end"))
        .unwrap_or(lines.len());
    for (i, card) in cards.iter().enumerate() {
        lines.insert(end + i, card.to_string());
    }
    let path = dir.join(netlist.file_name().expect("netlist has a file name"));
    std::fs::write(&path, lines.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// `.include FILE`, `.inc FILE` or `.lib FILE SECTION` with a relative FILE: FILE made
/// absolute against `home`; any other line unchanged.
fn absolute_include(line: &str, home: &Path) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let is_file_card = match words.first().map(|w| w.to_ascii_lowercase()) {
        Some(card) if card == ".include" || card == ".inc" => words.len() >= 2,
        Some(card) if card == ".lib" => words.len() >= 3,
        _ => false,
    };
    let file = words
        .get(1)
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''));
    match file {
        Some(file) if is_file_card && Path::new(file).is_relative() => {
            let mut out = vec![words[0].to_string(), home.join(file).display().to_string()];
            out.extend(words[2..].iter().map(|w| w.to_string()));
            out.join(" ")
        }
        _ => line.to_string(),
    }
}

/// Runs a command to completion with `RUN_TIMEOUT`; returns its combined output on failure.
fn run_with_timeout(mut cmd: Command, what: &str) -> Result<(), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what}: no result after {RUN_TIMEOUT:?} (hang?)"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (
        out_thread.join().unwrap_or_default(),
        err_thread.join().unwrap_or_default(),
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status}):\n{stdout}\n{stderr}"))
    }
}

/// Runs `dfcsim run NETLIST -o DIR` and reads `DIR/<stem>.csv`.
pub fn run_dfcsim(netlist: &Path, out_dir: &Path) -> Result<Waveform, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dfcsim"));
    cmd.arg("run").arg(netlist).arg("-o").arg(out_dir);
    run_with_timeout(cmd, &format!("dfcsim run {}", netlist.display()))?;
    let stem = netlist
        .file_stem()
        .expect("netlist has a file stem")
        .to_string_lossy();
    read_csv(&out_dir.join(format!("{stem}.csv")))
}

/// Whether an `ngspice` executable is on PATH.
/// Runs dfcsim on `netlist` (outputs under `dir/out`) and asserts that it matches
/// `reference` within [`REL_TOL`] of each signal's range; `against` names the reference in
/// the failure message. Prints the comparison table either way.
pub fn assert_dfcsim_matches(
    name: &str,
    method: Method,
    netlist: &Path,
    dir: &Path,
    reference: &Waveform,
    against: &str,
) {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("create output dir");
    let tested =
        run_dfcsim(netlist, &out).unwrap_or_else(|e| panic!("{name} ({}): {e}", method.name()));
    let comparison = compare(&tested, reference);
    let table = comparison.table(name, method);
    assert!(
        comparison.pass(),
        "dfcsim differs from {against} by more than {REL_TOL:e} of a signal's range:\n{table}"
    );
    eprintln!("{table}");
}

pub fn ngspice_available() -> bool {
    Command::new("ngspice")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `ngspice -b` on `netlist`, writing an ASCII rawfile into `out_dir`, and returns its
/// node voltages and V-source currents (the golden CSV's signal set).
pub fn run_ngspice(netlist: &Path, out_dir: &Path) -> Result<Waveform, String> {
    let raw = out_dir.join("ngspice.raw");
    let log = out_dir.join("ngspice.log");
    let mut cmd = Command::new("ngspice");
    cmd.env("SPICE_ASCIIRAWFILE", "1")
        .arg("-b")
        .arg("-o")
        .arg(&log)
        .arg("-r")
        .arg(&raw)
        .arg(netlist)
        .current_dir(out_dir);
    let ran = run_with_timeout(cmd, &format!("ngspice -b {}", netlist.display()));
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    // ngspice may exit 0 after an aborted analysis; its log says so.
    let aborted = log_text.lines().any(|l| {
        let l = l.trim_start().to_lowercase();
        l.starts_with("error") || l.contains("simulation(s) aborted")
    });
    match ran {
        Ok(()) if !aborted => {}
        Ok(()) => return Err(format!("ngspice on {}:\n{log_text}", netlist.display())),
        Err(e) => return Err(format!("{e}\n{log_text}")),
    }
    Ok(read_ascii_raw(&raw)?.only_nodes_and_vsource_currents())
}

/// One test module per example netlist of `netlists/examples/`, each with a `trap` and a
/// `gear` test that calls `$check(name, method)`, and `TESTED`, the list of examples (each
/// test crate checks it against the directory, so a new example cannot go untested).
#[allow(unused_macros)] // used by the ngspice test crates only
macro_rules! per_example_tests {
    ($check:ident) => {
        per_example_tests!(
            @list $check;
            behavioural,
            controlled_sources,
            ic_uic,
            integrator_e,
            integrator_opamp,
            rc_step,
            rlc_ringdown,
            sources,
            subckt_params,
            syntax,
            tanh_chain,
        );
    };
    (@list $check:ident; $($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(mod $name {
            #[test]
            fn trap() {
                super::$check(stringify!($name), super::Method::Trap);
            }
            #[test]
            fn gear() {
                super::$check(stringify!($name), super::Method::Gear);
            }
        })*
    };
}

/// Array and flat form of a generated DFC circuit `arch` (linear layers, seed 5, one
/// student-teacher sample) on hardware `hw`, written to `dir/net.cir` and `dir/net_flat.cir`;
/// returns (array, flat).
pub fn dfc_forms(dir: &Path, arch: &[usize], hw: &dfcsim::r#gen::Hardware) -> (PathBuf, PathBuf) {
    use dfcsim::r#gen::network::{self, DfcNetwork};
    use dfcsim::r#gen::{self as dfcgen, GenConfig, Phi};
    use rand::SeedableRng;
    let phis = dfcgen::layer_phis(arch, Phi::Linear);
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
    let net = DfcNetwork::xavier(arch, phis, &mut rng).unwrap();
    let sample = network::student_teacher_sample(&net, 5, 0.05).unwrap();
    let mut out = Vec::new();
    for flat in [false, true] {
        let stem = if flat { "net_flat" } else { "net" };
        let mut cfg = GenConfig::new(stem);
        cfg.flat = flat;
        cfg.seed = 5;
        cfg.hardware = hw.clone();
        let path = dir.join(format!("{stem}.cir"));
        dfcgen::generate(&net, &sample, &cfg)
            .unwrap()
            .write(&path)
            .unwrap();
        out.push(path);
    }
    (out[0].clone(), out[1].clone())
}
