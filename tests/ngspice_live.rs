//! dfcsim against ngspice run live in the test (when `ngspice` is on PATH; `.ci/run` installs
//! it): every example netlist × {trap, gear}, same rule as `ngspice_golden` (see `common`).
//! Without ngspice each test prints "ngspice not installed: skipped" and passes.

#[macro_use]
mod common;

use common::{
    Method, assert_dfcsim_matches, compare, example_names, example_netlist, golden_path,
    ngspice_available, read_csv, run_ngspice, scratch_dir, write_variant,
};

fn skip() -> bool {
    let missing = !ngspice_available();
    if missing {
        eprintln!("ngspice not installed: skipped");
    }
    missing
}

fn check_against_live_ngspice(name: &str, method: Method) {
    if skip() {
        return;
    }
    let dir = scratch_dir(&format!("live-{name}-{}", method.name()));
    let netlist = write_variant(&example_netlist(name), &dir, method.cards());
    let reference = run_ngspice(&netlist, &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_dfcsim_matches(name, method, &netlist, &dir, &reference, "live ngspice");
}

per_example_tests!(check_against_live_ngspice);

#[test]
fn every_example_is_tested() {
    assert_eq!(
        example_names(),
        TESTED,
        "netlists/examples/ and the per_example_tests! list differ"
    );
}

/// The installed ngspice still produces the committed goldens (same signals, same waveforms
/// within the test tolerance): a different ngspice version cannot silently move the target.
#[test]
fn live_ngspice_reproduces_the_goldens() {
    if skip() {
        return;
    }
    let mut report = String::new();
    for name in example_names() {
        for method in Method::ALL {
            let dir = scratch_dir(&format!("live-golden-{name}-{}", method.name()));
            let netlist = write_variant(&example_netlist(&name), &dir, method.cards());
            let live = run_ngspice(&netlist, &dir).unwrap_or_else(|e| panic!("{e}"));
            let golden = read_csv(&golden_path(&name, method)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                live.names, golden.names,
                "{name} {method:?}: signal names differ"
            );
            let c = compare(&live, &golden);
            if !c.pass() {
                report += &c.table(&name, method);
            }
        }
    }
    assert!(
        report.is_empty(),
        "live ngspice differs from the goldens:\n{report}"
    );
}
