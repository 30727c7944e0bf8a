//! TRNOISE sources: seeding, step independence, statistics, and the PWL export run live in
//! ngspice (skipped when ngspice is not installed; `.ci/run` installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    Method, compare, ngspice_available, read_csv, run_ngspice, scratch_dir, write_variant,
};
use dfcsim::circuit::{Circuit, ElementKind, Waveform};
use dfcsim::noise::{BOLTZMANN, TrNoise, na_for_psd, unit_sample};

fn example() -> PathBuf {
    common::root().join("netlists/examples/noise/noise_rc.cir")
}

fn load(text: &str, dir: &Path) -> Circuit {
    let path = dir.join("net.cir");
    std::fs::write(&path, text).expect("write netlist");
    dfcsim::elaborate::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn trnoise<'a>(c: &'a Circuit, name: &str) -> &'a TrNoise {
    let el = &c.elements[c.find_element(name).expect("element exists")];
    match &el.kind {
        ElementKind::VoltageSource {
            wave: Waveform::TrNoise(tr),
            ..
        }
        | ElementKind::CurrentSource {
            wave: Waveform::TrNoise(tr),
            ..
        } => tr,
        other => panic!("{name} is not a TRNOISE source: {other:?}"),
    }
}

/// Transient of `circuit`: (time, columns by name).
fn run(circuit: &Circuit) -> dfcsim::waveform::Waveforms {
    let out = dfcsim::engine::simulate(circuit);
    assert!(out.error.is_none(), "{:?}", out.error);
    out.results.last().expect("a transient").waveforms.clone()
}

/// Values of `signal` at the time points that lie on the grid k·nt, as (k, value).
fn on_grid(wf: &dfcsim::waveform::Waveforms, signal: &str, nt: f64) -> Vec<(u64, f64)> {
    let (ti, si) = (0, wf.index_of(signal).expect("signal"));
    (0..wf.rows())
        .filter_map(|r| {
            let row = wf.row(r);
            let x = row[ti] / nt;
            let k = x.round();
            ((x - k).abs() < 1e-9).then_some((k as u64, row[si]))
        })
        .collect()
}

const RC: &str = "noise rc\n\
V1 in 0 DC 0.1 TRNOISE(1 1u)\n\
R1 in out 1k\n\
C1 out 0 1n\n\
.tran 0.1u 100u\n";

#[test]
fn grid_values_do_not_depend_on_step_control() {
    let dir = scratch_dir("noise-step");
    let coarse = load(&format!("{RC}.options seed=5 reltol=1e-2\n.end\n"), &dir);
    let fine = load(
        &format!("{RC}.options seed=5 reltol=1e-6 tmax=0.037u\n.end\n"),
        &dir,
    );
    let tr = trnoise(&coarse, "v1");
    assert_eq!(tr, trnoise(&fine, "v1"), "same seed, same realisation");
    let (a, b) = (run(&coarse), run(&fine));
    assert!(
        b.rows() > 2 * a.rows(),
        "{} vs {} points",
        a.rows(),
        b.rows()
    );
    let (ga, gb) = (on_grid(&a, "v(in)", 1e-6), on_grid(&b, "v(in)", 1e-6));
    // Every grid point is a time point of both runs (breakpoints).
    assert_eq!(ga.len(), 101, "grid points hit: {}", ga.len());
    assert_eq!(gb.len(), 101);
    for ((ka, va), (kb, vb)) in ga.iter().zip(&gb) {
        assert_eq!(ka, kb);
        let src = dfcsim::devices::source::value(&Waveform::TrNoise(tr.clone()), *ka as f64 * 1e-6);
        assert_eq!(src.to_bits(), (0.1 + tr.sample(*ka)).to_bits());
        // The node is pinned by the source: its solved value is the source value.
        assert_eq!(va.to_bits(), vb.to_bits(), "v(in) at grid point {ka}");
        assert!(
            (va - src).abs() <= 1e-15 * src.abs().max(1.0),
            "{va} vs {src}"
        );
    }
}

#[test]
fn streams_follow_names_and_seed_not_order() {
    let dir = scratch_dir("noise-seed");
    let body = |seed: &str, swap: bool| {
        let (a, b) = (
            "Va a 0 TRNOISE(1 1u)\nRa a 0 1k\n",
            "Vb b 0 TRNOISE(1 1u)\nRb b 0 1k\n",
        );
        let (first, second) = if swap { (b, a) } else { (a, b) };
        format!(
            "t\n.subckt cell p\nVn p 0 TRNOISE(1 1u)\nR p 0 1k\n.ends\n{first}{second}\
             X1 c cell\nX2 d cell\n{seed}.tran 1u 10u\n.end\n"
        )
    };
    let c1 = load(&body("", false), &dir);
    let c2 = load(&body("", true), &dir);
    let c3 = load(&body(".options seed=2\n", false), &dir);
    let c4 = load(&body(".options seed=1\n", false), &dir);
    assert_eq!(
        trnoise(&c1, "va"),
        trnoise(&c2, "va"),
        "order must not matter"
    );
    assert_eq!(trnoise(&c1, "vb"), trnoise(&c2, "vb"));
    assert_eq!(
        trnoise(&c1, "va"),
        trnoise(&c4, "va"),
        "default seed is {}",
        dfcsim::noise::DEFAULT_SEED
    );
    assert_ne!(trnoise(&c1, "va").sample(1), trnoise(&c3, "va").sample(1));
    assert_ne!(trnoise(&c1, "va").sample(1), trnoise(&c1, "vb").sample(1));
    let (x1, x2) = (trnoise(&c1, "v.x1.vn"), trnoise(&c1, "v.x2.vn"));
    assert_ne!(
        x1.sample(3),
        x2.sample(3),
        "each instance has its own stream"
    );
}

/// Mean, variance and autocorrelation of the sampled sequence, and independence of two
/// streams, within 4 standard errors (N = 2·10⁵ samples).
#[test]
fn sampled_sequence_is_white_with_variance_na_squared() {
    let n = 200_000usize;
    let na = 2.5;
    let tr = TrNoise::new(0.0, na, 1e-6, 11, "v1", n as f64 * 1e-6);
    let other = TrNoise::new(0.0, na, 1e-6, 11, "v2", n as f64 * 1e-6);
    let x: Vec<f64> = (1..=n as u64).map(|k| tr.sample(k) / na).collect();
    let y: Vec<f64> = (1..=n as u64).map(|k| other.sample(k) / na).collect();
    let nf = n as f64;
    let se = 1.0 / nf.sqrt();
    let mean = x.iter().sum::<f64>() / nf;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nf;
    assert!(mean.abs() < 4.0 * se, "mean {mean}");
    assert!((var - 1.0).abs() < 4.0 * 2f64.sqrt() * se, "var/NA² {var}");
    for lag in 1..=10 {
        let r: f64 = x.windows(lag + 1).map(|w| w[0] * w[lag]).sum::<f64>() / nf;
        assert!(r.abs() < 4.0 * se, "autocorrelation at lag {lag}: {r}");
    }
    let cross: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() / nf;
    assert!(
        cross.abs() < 4.0 * se,
        "cross-correlation of two streams: {cross}"
    );
    // Far samples drawn on demand (beyond the cache) are the same stream.
    assert_eq!(
        tr.sample(123_456).to_bits(),
        (na * unit_sample(11, tr.stream, 123_456)).to_bits()
    );
}

/// Thermal noise of R as a current source 4kT/R in parallel with R‖C: the variance of v at
/// the grid points equals the exact variance of the sampled-and-interpolated source through
/// the RC filter (within 4 standard errors of the estimate), which is kT/C to within the
/// sinc⁴ fall-off of the interpolated source (NT = τ/10: −4.8 %).
#[test]
fn rc_thermal_noise_variance_is_kt_over_c() {
    let (r, c, temp) = (1e6, 1e-12, 300.0);
    let tau = r * c;
    let nt = tau / 10.0;
    let k_grid = 200_000u64;
    let na = na_for_psd(4.0 * BOLTZMANN * temp / r, nt);
    let dir = scratch_dir("noise-ktc");
    let circuit = load(
        &format!(
            "kT/C\n.options seed=3\nI1 0 th DC 0 TRNOISE({na:.17e} {nt:e})\nR1 th 0 {r:e}\n\
             C1 th 0 {c:e}\n.tran {nt:e} {:e}\n.end\n",
            k_grid as f64 * nt
        ),
        &dir,
    );
    let wf = run(&circuit);
    let skip = 100; // 10 τ of start-up from the noise-free operating point
    let v: Vec<f64> = on_grid(&wf, "v(th)", nt)
        .into_iter()
        .filter(|(k, _)| *k >= skip)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(v.len() as u64, k_grid - skip + 1, "grid points hit");
    let nf = v.len() as f64;
    let mean = v.iter().sum::<f64>() / nf;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / nf;

    // Exact: τ·y' = R·i − y with i linear between samples x_k (iid, variance NA²) gives
    // y_{k+1} = a·y_k + R(β0·x_k + β1·x_{k+1}), a = e^{−NT/τ}, c = τ(1−a)/NT, β0 = c − a,
    // β1 = 1 − c; stationary var = R²NA²(β1² + g1²/(1 − a²)), g1 = a·β1 + β0.
    let a = (-nt / tau).exp();
    let cc = tau * (1.0 - a) / nt;
    let (b0, b1) = (cc - a, 1.0 - cc);
    let g1 = a * b1 + b0;
    let var_exact = r * r * na * na * (b1 * b1 + g1 * g1 / (1.0 - a * a));
    let ktc = BOLTZMANN * temp / c;
    // Relative standard error of a variance estimate of an AR(1) sequence with coefficient a.
    let rel_se = (2.0 * (1.0 + a * a) / ((1.0 - a * a) * nf)).sqrt();
    eprintln!(
        "var {var:.4e} V², exact {var_exact:.4e}, kT/C {ktc:.4e}, rel se {rel_se:.3}, \
         ratio to exact {:.4}",
        var / var_exact
    );
    // The same variance from the spectrum: the interpolated source has the one-sided PSD
    // 2·NA²·NT·sinc⁴(f·NT); through |H|² = R²/(1 + (2πfτ)²) (Simpson up to f = 400/NT; the
    // tail beyond falls off as f⁻⁶).
    let psd = |f: f64| {
        let x = std::f64::consts::PI * f * nt;
        let sinc = if x == 0.0 { 1.0 } else { x.sin() / x };
        2.0 * na * na * nt * sinc.powi(4) * r * r
            / (1.0 + (2.0 * std::f64::consts::PI * f * tau).powi(2))
    };
    let (m, fmax) = (400_000usize, 400.0 / nt);
    let hf = fmax / m as f64;
    let var_psd = (0..=m)
        .map(|i| {
            let w = if i == 0 || i == m {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * psd(i as f64 * hf)
        })
        .sum::<f64>()
        * hf
        / 3.0;
    // The interpolated source is cyclostationary: the spectrum gives the time-averaged
    // variance, the recursion the variance at the grid points (0.35 % apart at τ = 10 NT).
    assert!(
        (var_psd / var_exact - 1.0).abs() < 0.01,
        "spectrum {var_psd:e} vs recursion {var_exact:e}"
    );
    // kT/C up to the sinc⁴ fall-off of the interpolated source above 1/NT (−4.8 % at τ = 10 NT).
    assert!((var_exact / ktc - 1.0).abs() < 0.06, "{}", var_exact / ktc);
    assert!(
        (var / var_exact - 1.0).abs() < 4.0 * rel_se,
        "variance {var:e} vs exact {var_exact:e} (rel se {rel_se})"
    );
    assert!(
        mean.abs() < 4.0 * (var / nf * (1.0 + a) / (1.0 - a)).sqrt(),
        "mean {mean}"
    );
}

fn dfcsim_run(netlist: &Path, out: &Path, export: Option<&Path>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dfcsim"));
    cmd.arg("run").arg(netlist).arg("-o").arg(out).arg("-q");
    if let Some(dir) = export {
        cmd.arg("--export-noise").arg(dir);
    }
    let st = cmd.output().expect("run dfcsim");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// The exported netlist (TRNOISE → PWL) gives dfcsim the same waveform, and ngspice runs it
/// to within 1e-3 of each signal's range of dfcsim's run of the TRNOISE netlist.
#[test]
fn exported_pwl_reproduces_the_noise_in_dfcsim_and_ngspice() {
    let dir = scratch_dir("noise-export");
    let (out, exp) = (dir.join("out"), dir.join("exp"));
    // v(th) is ~60 µV: tolerances well below it, and tmax = NT/20 (each grid point is a
    // breakpoint, and both simulators restart there with a short backward-Euler step whose
    // error adds up over 10 grid points per τ), so that both simulators' truncation errors
    // stay far below 1e-3 of the range and the test measures the realisation.
    let text = std::fs::read_to_string(example()).expect("example");
    assert!(text.contains("\n.tran 0.1u 200u\n"));
    let variant = dir.join("noise_rc.cir");
    std::fs::write(
        &variant,
        text.replace("\n.tran 0.1u 200u\n", "\n.tran 0.1u 200u 0 5n\n"),
    )
    .expect("write variant");
    let netlist = write_variant(
        &variant,
        &dir,
        &[".options reltol=1e-5 vntol=1e-11 abstol=1e-15"],
    );
    dfcsim_run(&netlist, &out, Some(&exp));
    let exported = exp.join("noise_rc.cir");
    let text = std::fs::read_to_string(&exported).expect("exported netlist");
    assert!(
        !text.to_lowercase().contains("\nv1 in 0 dc 0 trnoise"),
        "{text:.400}"
    );
    assert_eq!(text.matches("PWL(").count(), 2);
    let ours = read_csv(&out.join("noise_rc.csv")).expect("csv");

    let out2 = dir.join("out_pwl");
    dfcsim_run(&exported, &out2, None);
    let pwl = read_csv(&out2.join("noise_rc.csv")).expect("csv");
    let same = compare(&pwl, &ours);
    assert!(
        same.pass() && same.worst_rel() < 1e-6,
        "PWL run differs:\n{}",
        same.table("noise_rc pwl", Method::Trap)
    );

    if !ngspice_available() {
        eprintln!("ngspice not installed: live part skipped");
        return;
    }
    let spice = run_ngspice(&exported, &exp).unwrap_or_else(|e| panic!("{e}"));
    // Both simulators land on every sample time (PWL corners and TRNOISE grid points are
    // breakpoints): compare there, then everywhere with the shared rule (dfcsim interpolated
    // onto ngspice's time points), both to 1e-3 of each signal's range.
    let grid = 1e-7; // the finer of the two sources' NT
    for (k, name) in spice.names.iter().enumerate() {
        let j = ours
            .names
            .iter()
            .position(|n| n == name)
            .expect("same signals");
        let (lo, hi) = spice.signals[k]
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &y| {
                (l.min(y), h.max(y))
            });
        let mut worst = (0.0f64, 0.0f64);
        let mut points = 0;
        for (i, &t) in spice.time.iter().enumerate() {
            let x = t / grid;
            if (x - x.round()).abs() > 1e-6 {
                continue;
            }
            points += 1;
            let e = (ours.interpolate(j, t) - spice.signals[k][i]).abs();
            if e > worst.0 {
                worst = (e, t);
            }
        }
        eprintln!(
            "{name}: {points} grid points, worst |error| {:.3e} at {:.4e} s, range {:.3e}",
            worst.0,
            worst.1,
            hi - lo
        );
        assert!(
            points >= 2000,
            "{name}: only {points} grid points in ngspice's output"
        );
        assert!(
            worst.0 <= 1e-3 * (hi - lo),
            "{name}: dfcsim vs ngspice at the grid points"
        );
    }
    let c = compare(&ours, &spice);
    let table = c.table("noise_rc", Method::Trap);
    eprintln!("{table}");
    assert!(
        c.pass(),
        "dfcsim (TRNOISE) vs ngspice (exported PWL):\n{table}"
    );
}
