//! Failures name the time and the node or branch; partial waveforms survive.

use std::collections::BTreeMap;

use dfcsim::circuit::{Analysis, ElementKind, Model, Port, Waveform};
use dfcsim::engine::{CircuitBuilder, SimError, Simulator, simulate};
use dfcsim::expr::{BinaryOp, Expr, Func};

#[test]
fn floating_node_in_op_is_named() {
    let mut b = CircuitBuilder::new("floating");
    b.v("v1", "a", "0", Waveform::Dc(1.0));
    b.r("r1", "a", "0", 1e3);
    b.c("c1", "a", "mid", 1e-6, None);
    b.c("c2", "mid", "0", 1e-6, None);
    b.circuit.analyses.push(Analysis::Op);
    let out = simulate(&b.build());
    let err = out
        .error
        .expect("a node between two capacitors has no DC path");
    let msg = err.to_string();
    assert!(matches!(err, SimError::Singular { .. }), "{msg}");
    assert!(msg.contains("node mid"), "{msg}");
}

#[test]
fn voltage_source_loop_is_named() {
    let mut b = CircuitBuilder::new("loop");
    b.v("v1", "a", "0", Waveform::Dc(1.0));
    b.v("v2", "a", "0", Waveform::Dc(2.0));
    b.r("r1", "a", "0", 1e3);
    let err = Simulator::new(&b.build()).expect_err("parallel voltage sources are singular");
    let msg = err.to_string();
    assert!(msg.contains("i(v1)") || msg.contains("i(v2)"), "{msg}");
}

#[test]
fn chattering_b_source_fails_with_time_and_node_and_keeps_waveform() {
    // A 10 mA sink that switches on above 0.5 V, fed by a ramp through 1 kΩ: the node
    // has no consistent solution once it reaches 0.5 V.
    let mut b = CircuitBuilder::new("chatter");
    b.v(
        "v1",
        "in",
        "0",
        Waveform::Pwl(vec![(0.0, 0.0), (1e-3, 1.0)]),
    );
    b.r("r1", "in", "n", 1e3);
    let vn = b.vref("n");
    let sink = Expr::Binary(
        BinaryOp::Mul,
        Box::new(Expr::Const(1e-2)),
        Box::new(Expr::Call(
            Func::Step,
            vec![Expr::Binary(
                BinaryOp::Sub,
                Box::new(vn),
                Box::new(Expr::Const(0.5)),
            )],
        )),
    );
    b.bi("b1", "n", "0", sink);
    b.tran(1e-5, 1e-3);
    let out = simulate(&b.build());
    let err = out.error.expect("no solution past 0.5 V");
    let msg = err.to_string();
    eprintln!("{msg}");
    match &err {
        SimError::TimestepTooSmall { time, unknown, .. }
        | SimError::NoConvergence { time, unknown, .. } => {
            assert!(*time > 0.4e-3 && *time < 0.6e-3, "{msg}");
            assert!(
                unknown.contains("node n") || unknown.contains("b1"),
                "{msg}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
    let w = &out.results[0].waveforms;
    assert!(w.rows() > 10, "waveform up to the failure is kept");
    let t_last = w.row(w.rows() - 1)[0];
    assert!(t_last > 0.4e-3 && t_last < 0.6e-3, "{t_last}");
}

#[test]
fn unknown_array_model_names_element_and_model() {
    let mut b = CircuitBuilder::new("array");
    let (x, y) = (b.node("x"), b.node("y"));
    b.r("r1", "x", "0", 1.0);
    b.r("r2", "y", "0", 1.0);
    let model = Model {
        name: "xw1".into(),
        kind: "crossbar".into(),
        params: BTreeMap::new(),
        span: Default::default(),
    };
    b.element(
        "a1",
        ElementKind::Array {
            ports: vec![Port::Vector(vec![x]), Port::Vector(vec![y])],
            model,
        },
    );
    let err = Simulator::new(&b.build()).expect_err("no crossbar registered");
    let msg = err.to_string();
    assert!(
        msg.contains("a1") && msg.contains("xw1") && msg.contains("crossbar"),
        "{msg}"
    );
}

#[test]
fn bad_tran_arguments_are_errors() {
    let mut b = CircuitBuilder::new("bad");
    b.v("v1", "a", "0", Waveform::Dc(1.0));
    b.r("r1", "a", "0", 1.0);
    b.tran(1e-6, -1.0);
    let out = simulate(&b.build());
    assert!(matches!(out.error, Some(SimError::BadAnalysis(_))));
}

#[test]
fn degenerate_circuits_do_not_panic() {
    // No nodes at all.
    let mut b = CircuitBuilder::new("empty");
    b.circuit.analyses.push(Analysis::Op);
    b.tran(1e-6, 1e-5);
    let out = simulate(&b.build());
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.results[1].waveforms.signals.len(), 1);
    // A node index outside the node list.
    let mut b = CircuitBuilder::new("bad node");
    b.r("r1", "a", "0", 1.0);
    b.element(
        "r2",
        ElementKind::Resistor {
            p: dfcsim::circuit::NodeId(7),
            n: dfcsim::circuit::NodeId(0),
            ohms: 1.0,
        },
    );
    let err = Simulator::new(&b.build()).expect_err("node 7 does not exist");
    assert!(err.to_string().contains("r2"), "{err}");
    // A pulse with a period far below the step: breakpoints are capped, the run ends.
    let mut b = CircuitBuilder::new("fast pulse");
    b.v(
        "v1",
        "a",
        "0",
        Waveform::Pulse {
            v1: 0.0,
            v2: 1.0,
            td: 0.0,
            tr: 1e-12,
            tf: 1e-12,
            pw: 1e-12,
            per: 1e-11,
            np: None,
        },
    );
    b.r("r1", "a", "b", 1e3);
    b.c("c1", "b", "0", 1e-9, None);
    b.tran(1e-6, 1e-5);
    let out = simulate(&b.build());
    assert!(out.results.len() == 1);
    let _ = out.error; // may legitimately fail with "time step too small"; it must not hang or panic
}

#[test]
fn domain_error_in_b_source_is_named() {
    // sqrt of a negative node voltage: ngspice refuses it ("out of range for sqrt").
    let mut b = CircuitBuilder::new("domain");
    b.v("v1", "m", "0", Waveform::Dc(-4.0));
    let vm = b.vref("m");
    b.bv("b1", "o", "0", Expr::Call(Func::Sqrt, vec![vm]));
    b.r("r1", "o", "0", 1.0);
    b.circuit.analyses.push(Analysis::Op);
    let out = simulate(&b.build());
    let err = out.error.expect("sqrt(-4) is an error");
    assert!(matches!(err, SimError::NonFinite { .. }), "{err}");
    assert!(err.to_string().contains("i(b1)"), "{err}");
}

#[test]
fn fixed_step_newton_failures_end_or_advance_never_spin() {
    // The chattering sink of the test above with a capacitor: tiny steps converge (the
    // capacitor holds the node), the fixed step does not. The old fixed-step loop cut the
    // step, then jumped straight back to the full step, failed again, and so crept on by
    // tiny steps without bound (rows and memory growing).
    let mut b = CircuitBuilder::new("chatter_fixed");
    b.v(
        "v1",
        "in",
        "0",
        Waveform::Pwl(vec![(0.0, 0.0), (1e-3, 1.0)]),
    );
    b.r("r1", "in", "n", 1e3);
    b.c("c1", "n", "0", 1e-9, None);
    let vn = b.vref("n");
    let sink = Expr::Binary(
        BinaryOp::Mul,
        Box::new(Expr::Const(1e-2)),
        Box::new(Expr::Call(
            Func::Step,
            vec![Expr::Binary(
                BinaryOp::Sub,
                Box::new(vn),
                Box::new(Expr::Const(0.5)),
            )],
        )),
    );
    b.bi("b1", "n", "0", sink);
    let c = b.build();
    let spec = dfcsim::engine::TranSpec {
        fixed_step: Some(1e-5),
        ..dfcsim::engine::TranSpec::new(1e-5, 1e-3)
    };
    let t0 = std::time::Instant::now();
    let (res, err) = Simulator::new(&c).unwrap().run_tran(&spec);
    let rows = res.waveforms.rows();
    eprintln!("{err:?}, {rows} rows in {:?}", t0.elapsed());
    // 100 grid steps; the step budget bounds the rows however the cuts go
    assert!(rows < 20_000, "{rows} rows");
    if let Some(SimError::TimestepTooSmall { time, .. }) = &err {
        assert!(*time > 0.4e-3 && *time < 0.6e-3, "{err:?}");
    } else {
        assert!(err.is_none(), "{err:?}");
    }
}

/// A singular matrix in a transient cuts the step like any Newton failure (as in ngspice):
/// a diode driven to 10 V at 10 µs steps overflows its exponential from the linear guess
/// (exp(400)) and stopped the run with "singular matrix" at t = 1.04 ms; a shorter step
/// avoids it. A circuit that is singular whatever the step is still reported, with time
/// and node.
#[test]
fn transient_singular_matrix_cuts_the_step_and_is_reported_only_when_it_stays() {
    use dfcsim::elaborate;
    use dfcsim::engine::TranSpec;
    use std::path::Path;
    let rectifier = "rectifier\nVin in 0 SIN(0 10 3k)\nR1 in a 100\n\
                     Bd a c I=1e-14*(exp(v(a,c)/0.025)-1)\nC1 a c 1n\nCl c 0 1u\nRl c 0 1k\n\
                     .tran 10u 2m\n.end\n";
    let c = elaborate::load_str(rectifier, Path::new("rectifier.cir")).unwrap();
    let mut sim = Simulator::new(&c).unwrap();
    sim.set_quadratic_predictor(false);
    let (res, err) = sim.run_tran(&TranSpec::of_circuit(&c).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert!(res.stats.newton_failures > 0, "{:?}", res.stats);
    // From 1 µs a B source cancels node b's only conductance: singular at every step.
    let vanishing = "vanishing conductance\nI1 0 b DC 1m\nR1 b 0 1k\n\
                     Bg b 0 I=(time < 1u ? 0 : -1e-3) * v(b)\n.tran 0.1u 3u\n.end\n";
    let c = elaborate::load_str(vanishing, Path::new("vanishing.cir")).unwrap();
    let (res, err) = Simulator::new(&c)
        .unwrap()
        .run_tran(&TranSpec::of_circuit(&c).unwrap());
    let err = err.expect("node b has no conductance after 1 µs");
    let msg = err.to_string();
    match &err {
        SimError::Singular { time, .. } => assert!((1e-6..1.2e-6).contains(time), "{msg}"),
        other => panic!("expected a singular matrix, got {other:?}"),
    }
    assert!(msg.contains("node b"), "{msg}");
    assert!(
        res.waveforms.rows() > 5,
        "the waveform up to the failure is kept"
    );
}
