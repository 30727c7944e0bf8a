//! dfcsim against the committed ngspice 39 waveforms (`tests/golden/`, made by
//! `tests/golden/regen.sh`): every example netlist × {trap, gear}, dfcsim interpolated onto
//! ngspice's time points, within 1e-3 of each signal's range (rule in `common`).
//! Also checks the goldens themselves and that the comparison catches real differences.

#[macro_use]
mod common;

use common::{
    Comparison, Method, REL_TOL, Waveform, assert_dfcsim_matches, compare, example_names,
    example_netlist, golden_path, read_csv, scratch_dir, write_variant,
};

fn golden(name: &str, method: Method) -> Waveform {
    let path = golden_path(name, method);
    read_csv(&path)
        .unwrap_or_else(|e| panic!("golden {}: {e} (run tests/golden/regen.sh)", path.display()))
}

/// Runs dfcsim on example `name` with `method` and checks it against the ngspice golden.
fn check_against_golden(name: &str, method: Method) {
    let reference = golden(name, method);
    let dir = scratch_dir(&format!("golden-{name}-{}", method.name()));
    let netlist = write_variant(&example_netlist(name), &dir, method.cards());
    assert_dfcsim_matches(name, method, &netlist, &dir, &reference, "ngspice 39");
}

per_example_tests!(check_against_golden);

#[test]
fn every_example_is_tested_and_has_goldens() {
    let names = example_names();
    assert_eq!(
        names, TESTED,
        "netlists/examples/ and the per_example_tests! list differ"
    );
    for name in &names {
        for method in Method::ALL {
            let g = golden(name, method);
            assert!(
                g.time.len() > 100,
                "{name} {method:?}: only {} points",
                g.time.len()
            );
            assert!(
                g.names.iter().any(|n| n.starts_with("v(")),
                "{name}: no node voltage"
            );
        }
    }
}

/// ngspice's own trap and gear waveforms must agree well within the tolerance dfcsim is held
/// to; otherwise the test would be measuring ngspice's integration error, not dfcsim's.
/// (`scripts/ngspice_selfcheck.py` measures both against a tight reference: <= 2.6e-4.)
#[test]
fn ngspice_trap_and_gear_goldens_agree() {
    let mut report = String::new();
    for name in example_names() {
        let (trap, gear) = (golden(&name, Method::Trap), golden(&name, Method::Gear));
        for (tested, reference, method) in
            [(&gear, &trap, Method::Trap), (&trap, &gear, Method::Gear)]
        {
            let c = compare(tested, reference);
            if !c.pass() || c.worst_rel() > 0.7 * REL_TOL {
                report += &c.table(&name, method);
            }
        }
    }
    assert!(
        report.is_empty(),
        "ngspice trap vs gear differ by more than 0.7e-3 of range:\n{report}"
    );
}

// ---- the comparison itself: it must pass what is right and catch what is wrong ----

fn rc_golden() -> Waveform {
    golden("rc_step", Method::Trap)
}

fn with_signal(mut w: Waveform, name: &str, f: impl Fn(f64, f64) -> f64) -> Waveform {
    let k = w
        .names
        .iter()
        .position(|n| n == name)
        .expect("signal exists");
    let time = w.time.clone();
    for (y, t) in w.signals[k].iter_mut().zip(time) {
        *y = f(t, *y);
    }
    w
}

fn failing(c: &Comparison) -> Vec<&str> {
    c.errors
        .iter()
        .filter(|e| !e.pass)
        .map(|e| e.signal.as_str())
        .collect()
}

#[test]
fn comparison_accepts_identical_and_small_errors() {
    let g = rc_golden();
    let same = compare(&g, &g);
    assert!(same.pass() && same.worst_rel() == 0.0);
    // 0.5e-3 of v(out)'s 1 V range everywhere: within tolerance
    let shifted = with_signal(g.clone(), "v(out)", |_, y| y + 0.5e-3);
    let c = compare(&shifted, &g);
    assert!(c.pass(), "{}", c.table("rc_step", Method::Trap));
    assert!((c.worst_rel() - 0.5e-3).abs() < 1e-6, "{}", c.worst_rel());
}

#[test]
fn comparison_catches_a_local_error_and_names_its_time() {
    let g = rc_golden();
    let t_bad = g.time[g.time.len() / 2];
    let bad = with_signal(
        g.clone(),
        "v(out)",
        |t, y| if t == t_bad { y + 2e-3 } else { y },
    );
    let c = compare(&bad, &g);
    assert!(!c.pass());
    assert_eq!(failing(&c), ["v(out)"]);
    let e = c.errors.iter().find(|e| e.signal == "v(out)").unwrap();
    assert_eq!(e.worst_time, t_bad);
    assert!(c.table("rc_step", Method::Trap).contains("FAIL"));
}

#[test]
fn comparison_catches_a_time_shift() {
    // the same waveform 5 us late: the step edge and the exponential no longer line up
    let g = rc_golden();
    let mut late = g.clone();
    late.time.iter_mut().skip(1).for_each(|t| *t += 5e-6);
    let c = compare(&late, &g);
    assert!(failing(&c).contains(&"v(in)") && failing(&c).contains(&"v(out)"));
}

#[test]
fn comparison_interpolates_between_test_points() {
    // a test waveform sampled on a different grid (every 2nd golden point) away from the
    // edge still agrees: the interpolation is linear on a smooth signal
    let g = rc_golden();
    let keep: Vec<usize> = (0..g.time.len())
        .filter(|i| i % 2 == 0 || g.time[*i] < 2e-4)
        .collect();
    let coarse = Waveform {
        time: keep.iter().map(|&i| g.time[i]).collect(),
        names: g.names.clone(),
        signals: g
            .signals
            .iter()
            .map(|s| keep.iter().map(|&i| s[i]).collect())
            .collect(),
    };
    let c = compare(&coarse, &g);
    assert!(c.pass(), "{}", c.table("rc_step", Method::Trap));
    assert!(c.worst_rel() > 0.0);
    // interpolation is exact on a straight line
    let line = Waveform {
        time: vec![0.0, 2.0],
        names: vec!["v(a)".into()],
        signals: vec![vec![1.0, 5.0]],
    };
    assert_eq!(line.interpolate(0, 0.5), 2.0);
    assert_eq!(line.interpolate(0, 3.0), 5.0);
}

#[test]
fn comparison_reports_missing_and_non_finite_signals() {
    let g = rc_golden();
    let mut without = g.clone();
    let k = without.names.iter().position(|n| n == "i(v1)").unwrap();
    without.names.remove(k);
    without.signals.remove(k);
    let c = compare(&without, &g);
    assert!(!c.pass() && c.missing == ["i(v1)"]);
    let nan = with_signal(
        g.clone(),
        "v(out)",
        |t, y| if t > 5e-4 { f64::NAN } else { y },
    );
    let c = compare(&nan, &g);
    assert!(!c.pass() && c.non_finite.as_ref().is_some_and(|(s, _)| s == "v(out)"));
}

#[test]
fn comparison_treats_flat_signals_absolutely() {
    // the tanh chain's input sources deliver no current: i(vu1) is identically zero
    let g = golden("tanh_chain", Method::Trap);
    let c = compare(&g, &g);
    let flat = c.errors.iter().find(|e| e.signal == "i(vu1)").unwrap();
    assert!(flat.rel_error.is_none());
    let leaky = with_signal(g.clone(), "i(vu1)", |_, y| y + 1e-8);
    assert_eq!(failing(&compare(&leaky, &g)), ["i(vu1)"]);
    let tiny = with_signal(g.clone(), "i(vu1)", |_, y| y + 1e-12);
    assert!(compare(&tiny, &g).pass());
}

#[test]
fn comparison_catches_a_run_that_stopped_early() {
    // a waveform cut at 90 % of the span, even if the cut part were flat, is not a full run
    let g = rc_golden();
    let stop = 0.9 * g.time[g.time.len() - 1];
    let n = g.time.partition_point(|&t| t <= stop);
    let cut = Waveform {
        time: g.time[..n].to_vec(),
        names: g.names.clone(),
        signals: g.signals.iter().map(|s| s[..n].to_vec()).collect(),
    };
    let c = compare(&cut, &g);
    assert!(!c.pass() && c.short.is_some());
    assert!(c.table("rc_step", Method::Trap).contains("does not cover"));
}
