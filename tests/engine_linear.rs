//! Linear circuits against analytic solutions.

use dfcsim::circuit::{Method, Waveform};
use dfcsim::engine::{CircuitBuilder, Simulator, TranSpec, simulate};

fn step_wave(v: f64) -> Waveform {
    Waveform::Pulse {
        v1: 0.0,
        v2: v,
        td: 0.0,
        tr: 1e-9,
        tf: 1e-9,
        pw: 1.0,
        per: 2.0,
        np: None,
    }
}

fn rc(method: Method) -> dfcsim::circuit::Circuit {
    let mut b = CircuitBuilder::new("rc");
    b.v("v1", "in", "0", step_wave(1.0));
    b.r("r1", "in", "out", 1e3);
    b.c("c1", "out", "0", 1e-6, None);
    b.circuit.options.method = method;
    b.tran(1e-5, 5e-3);
    b.build()
}

#[test]
fn op_divider_and_source_current_sign() {
    let mut b = CircuitBuilder::new("div");
    b.v("v1", "a", "0", Waveform::Dc(10.0));
    b.r("r1", "a", "b", 1e3);
    b.r("r2", "b", "0", 3e3);
    b.i("i1", "0", "b", Waveform::Dc(1e-3)); // pushes 1 mA into b
    let c = b.build();
    let mut sim = Simulator::new(&c).unwrap();
    let (res, err) = sim.run_op();
    assert!(err.is_none(), "{err:?}");
    let w = &res.waveforms;
    let vb = w.row(0)[w.index_of("v(b)").unwrap()];
    // (10 − vb)/1k + 1m = vb/3k → vb = (10/1k + 1m)·(3k/4) = 8.25
    assert!((vb - 8.25).abs() < 1e-9, "{vb}");
    let iv = w.row(0)[w.index_of("i(v1)").unwrap()];
    // current flows out of + into the circuit: i(v1) is negative, as in ngspice
    assert!((iv + (10.0 - 8.25) / 1e3).abs() < 1e-12, "{iv}");
}

#[test]
fn rc_step_matches_exact_solution_adaptive() {
    for m in [Method::Trap, Method::Gear, Method::Be, Method::Trbdf2] {
        let out = simulate(&rc(m));
        assert!(out.error.is_none(), "{m:?}: {:?}", out.error);
        let w = &out.results[0].waveforms;
        let io = w.index_of("v(out)").unwrap();
        let mut worst = 0.0f64;
        for r in 0..w.rows() {
            let row = w.row(r);
            let t = row[0];
            // input ramps over 1 ns: exact response of the ramp, approximated by a step delayed 0.5 ns
            let exact = if t < 1e-9 {
                0.0
            } else {
                1.0 - (-(t - 0.5e-9) / 1e-3).exp()
            };
            worst = worst.max((row[io] - exact).abs());
        }
        let st = &out.results[0].stats;
        eprintln!(
            "{m:?}: worst {worst:e}, {} steps, {} rejected, {} LU",
            st.accepted_steps, st.rejected_steps, st.numeric_factorisations
        );
        let limit = if m == Method::Be { 1e-2 } else { 1e-3 };
        assert!(worst <= limit, "{m:?}: error {worst}");
        let last = w.row(w.rows() - 1)[0];
        assert!((last - 5e-3).abs() < 1e-15);
    }
}

#[test]
fn simulator_reruns_with_new_conductance() {
    let c = rc(Method::Trap);
    let mut sim = Simulator::new(&c).unwrap();
    let spec = TranSpec::new(1e-5, 1e-3);
    let (a, e) = sim.run_tran(&spec);
    assert!(e.is_none());
    sim.set_conductance(1, 1.0 / 500.0).unwrap();
    let (b, e) = sim.run_tran(&spec);
    assert!(e.is_none());
    let io = a.waveforms.index_of("v(out)").unwrap();
    let va = a.waveforms.row(a.waveforms.rows() - 1)[io];
    let vb = b.waveforms.row(b.waveforms.rows() - 1)[io];
    assert!((va - (1.0 - (-1.0f64).exp())).abs() < 2e-3, "{va}");
    assert!((vb - (1.0 - (-2.0f64).exp())).abs() < 2e-3, "{vb}");
    assert_eq!(b.stats.symbolic_factorisations, 0);
}

#[test]
fn interp_option_resamples_onto_tstep_grid() {
    let mut c = rc(Method::Trap);
    c.options.interp = true;
    let out = simulate(&c);
    assert!(out.error.is_none());
    let w = &out.results[0].waveforms;
    assert_eq!(w.rows(), 501, "0 to 5 ms in 10 µs steps");
    let io = w.index_of("v(out)").unwrap();
    for k in [0, 17, 250, 500] {
        let row = w.row(k);
        assert!((row[0] - k as f64 * 1e-5).abs() < 1e-15);
        let exact = if row[0] < 1e-9 {
            0.0
        } else {
            1.0 - (-(row[0] - 0.5e-9) / 1e-3).exp()
        };
        assert!(
            (row[io] - exact).abs() < 1e-3,
            "t {}: {} vs {exact}",
            row[0],
            row[io]
        );
    }
}

#[test]
fn transient_continues_from_a_previous_state() {
    // Two 1 ms halves chained through run_tran_from equal one 2 ms run (RC, τ = 1 ms).
    let mut b = CircuitBuilder::new("rc dc");
    b.v("v1", "in", "0", Waveform::Dc(1.0));
    b.r("r1", "in", "out", 1e3);
    b.c("c1", "out", "0", 1e-6, Some(0.0));
    let c = b.build();
    let mut sim = Simulator::new(&c).unwrap();
    let half = TranSpec {
        uic: true,
        ..TranSpec::new(1e-5, 1e-3)
    };
    let (a, e) = sim.run_tran(&half);
    assert!(e.is_none());
    let x_end: Vec<f64> = sim.solution().to_vec();
    let (b2, e) = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &x_end);
    assert!(e.is_none());
    let io = a.waveforms.index_of("v(out)").unwrap();
    let v1 = a.waveforms.row(a.waveforms.rows() - 1)[io];
    let v2_start = b2.waveforms.row(0)[io];
    let v2 = b2.waveforms.row(b2.waveforms.rows() - 1)[io];
    assert!((v1 - (1.0 - (-1.0f64).exp())).abs() < 1e-3, "{v1}");
    assert_eq!(v1, v2_start);
    assert!((v2 - (1.0 - (-2.0f64).exp())).abs() < 1e-3, "{v2}");
    let wrong = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &[0.0]);
    assert!(wrong.1.is_some());
}
