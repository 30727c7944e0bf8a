//! The elaborated examples name their signals as ngspice does: the node voltages and
//! V-source currents of every golden (`v(x1.x2.m)`, `i(vsense)`) are exactly the nodes and
//! voltage sources of dfcsim's flat circuit. Runs without `dfcsim run`, through the library's
//! `elaborate::load`, so a naming mismatch shows up before any waveform is compared.

mod common;

use std::collections::BTreeSet;

use common::{Method, example_names, example_netlist, golden_path, read_csv};
use dfcsim::circuit::ElementKind;

#[test]
fn example_signal_names_match_ngspice() {
    let mut report = String::new();
    for name in example_names() {
        let circuit = dfcsim::elaborate::load(&example_netlist(&name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut ours: BTreeSet<String> = circuit
            .nodes
            .iter()
            .skip(1) // ground
            .map(|n| format!("v({})", n.to_lowercase()))
            .collect();
        ours.extend(
            circuit
                .elements
                .iter()
                .filter(|e| matches!(e.kind, ElementKind::VoltageSource { .. }))
                .map(|e| format!("i({})", e.name.to_lowercase())),
        );
        let golden = read_csv(&golden_path(&name, Method::Trap)).unwrap_or_else(|e| panic!("{e}"));
        let theirs: BTreeSet<String> = golden.names.iter().cloned().collect();
        if ours != theirs {
            report += &format!(
                "{name}: only dfcsim {:?}, only ngspice {:?}\n",
                ours.difference(&theirs).collect::<Vec<_>>(),
                theirs.difference(&ours).collect::<Vec<_>>()
            );
        }
    }
    assert!(
        report.is_empty(),
        "signal names differ from ngspice's:\n{report}"
    );
}
