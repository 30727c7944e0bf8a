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
    let (b2, e) = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &x_end, 0.0);
    assert!(e.is_none());
    let io = a.waveforms.index_of("v(out)").unwrap();
    let v1 = a.waveforms.row(a.waveforms.rows() - 1)[io];
    let v2_start = b2.waveforms.row(0)[io];
    let v2 = b2.waveforms.row(b2.waveforms.rows() - 1)[io];
    assert!((v1 - (1.0 - (-1.0f64).exp())).abs() < 1e-3, "{v1}");
    assert_eq!(v1, v2_start);
    assert!((v2 - (1.0 - (-2.0f64).exp())).abs() < 1e-3, "{v2}");
    let wrong = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &[0.0], 0.0);
    assert!(wrong.1.is_some());
    let late = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &x_end, 1e-3);
    assert!(late.1.is_some(), "a start at tstop is an error");
    let too_late = sim.run_tran_from(&TranSpec::new(1e-5, 1e-3), &x_end, 1e-3 * (1.0 - 1e-9));
    assert!(
        too_late.1.is_some(),
        "a start within a breakpoint gap of tstop is an error"
    );
}

/// A transient that starts after a quiescent interval (sources constant until the step
/// at 1 ms) from the operating point matches the full run from time 0, and its waveform
/// holds the rested state at 0 and at the start.
#[test]
fn transient_skips_a_quiescent_interval() {
    let t_on = 1e-3;
    let mut b = CircuitBuilder::new("rc step at 1 ms");
    b.v(
        "v1",
        "in",
        "0",
        Waveform::Pwl(vec![
            (0.0, 0.5),
            (t_on, 0.5),
            (t_on + 1e-6, 1.5),
            (5e-3, 1.5),
        ]),
    );
    b.r("r1", "in", "out", 1e3);
    b.c("c1", "out", "0", 1e-6, None);
    let c = b.build();
    let spec = TranSpec::new(1e-5, 4e-3);
    let mut full = Simulator::new(&c).unwrap();
    assert!(full.quiescent_until(t_on));
    assert!(!full.quiescent_until(1.0001e-3));
    let (a, e) = full.run_tran(&spec);
    assert!(e.is_none());
    let mut skip = Simulator::new(&c).unwrap();
    let (_, e) = skip.run_op();
    assert!(e.is_none());
    let x_op = skip.solution().to_vec();
    let (b2, e) = skip.run_tran_from(&spec, &x_op, t_on);
    assert!(e.is_none());
    let io = a.waveforms.index_of("v(out)").unwrap();
    let (w, wa) = (&b2.waveforms, &a.waveforms);
    assert_eq!((w.row(0)[0], w.row(1)[0]), (0.0, t_on));
    assert_eq!((w.row(0)[io], w.row(1)[io]), (0.5, 0.5));
    assert!(w.rows() < wa.rows(), "{} vs {} points", w.rows(), wa.rows());
    // v(out) = 1.5 − e^(−(t − t_on)/τ) after the (1 µs) step, τ = 1 ms.
    let exact = |t: f64| 1.5 - (-(t - t_on - 0.5e-6) / 1e-3).exp();
    for wf in [w, wa] {
        let last = wf.row(wf.rows() - 1);
        assert_eq!(last[0], 4e-3);
        assert!((last[io] - exact(4e-3)).abs() < 1e-5, "{}", last[io]);
    }
    let (ea, eb) = (wa.row(wa.rows() - 1)[io], w.row(w.rows() - 1)[io]);
    assert!((ea - eb).abs() < 1e-6, "{ea} vs {eb}");
}

/// Which sources keep their time-0 value before t (text netlists, ngspice syntax).
#[test]
fn quiescence_follows_every_time_dependent_source() {
    let cases = [
        ("V1 a 0 DC 1", 1.0, true),
        ("V1 a 0 PULSE(0 1 2m 1u 1u 1m 5m)", 1e-3, true),
        ("V1 a 0 PULSE(0 1 2m 1u 1u 1m 5m)", 3e-3, false),
        ("V1 a 0 PULSE(1 1 0 1u 1u 1m 5m)", 3e-3, true),
        ("V1 a 0 PWL(0 1 1m 1 2m 0)", 1e-3, true),
        ("V1 a 0 PWL(0 1 1m 1 2m 0)", 1.5e-3, false),
        ("V1 a 0 PWL(0 1 2m 0)", 1e-3, false),
        ("V1 a 0 PWL(1m 0 2m 1)", 1e-3, true),
        ("V1 a 0 PWL(0 1 1m 1 1m 0)", 1e-3, true),
        ("V1 a 0 PWL(0 1 1m 1 1m 0)", 1.1e-3, false),
        ("V1 a 0 PULSE(0 1 0 1u 1u 1m 5m)", 1e-6, false),
        ("V1 a 0 TRNOISE(0 1u)", 1e-3, true),
        ("V1 a 0 SIN(0 1 1k 1m)", 1e-3, true),
        ("V1 a 0 SIN(0 1 1k 2m)", 1e-3, true),
        ("V1 a 0 SIN(0 1 1k)", 1e-3, false),
        ("I1 a 0 SIN(0 1 1k)", 1e-3, false),
        ("V1 a 0 TRNOISE(1m 1u)", 1e-3, false),
        ("V1 b 0 DC 1\nB1 a 0 V=v(b)*2", 1.0, true),
        (
            "V1 b 0 DC 1\nB1 a 0 V=v(b)*(time > 1m ? 2 : 1)",
            1e-3,
            false,
        ),
        ("V1 b 0 DC 1\nB1 a 0 I=v(b)+time", 1e-3, false),
    ];
    for (lines, t, want) in cases {
        let text = format!("quiescence\n{lines}\nR1 a 0 1k\nR2 b 0 1k\n.end\n");
        let c = dfcsim::elaborate::load_str(&text, std::path::Path::new("q.cir")).unwrap();
        let sim = Simulator::new(&c).unwrap();
        assert_eq!(sim.quiescent_until(t), want, "{lines} before {t}");
    }
}
