//! Integrator order of convergence, analytic RLC and nonlinear B-source references.

use dfcsim::circuit::{Circuit, Method, NodeId, Waveform};
use dfcsim::engine::{CircuitBuilder, Simulator, TranSpec, simulate};
use dfcsim::expr::{BinaryOp, Expr, Func};

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}

/// Value of `signal` at the last row.
fn last(w: &dfcsim::waveform::Waveforms, signal: &str) -> f64 {
    w.row(w.rows() - 1)[w.index_of(signal).unwrap()]
}

fn run_fixed(c: &Circuit, method: Method, h: f64, tstop: f64) -> dfcsim::waveform::Waveforms {
    let mut c = c.clone();
    c.options.method = method;
    let mut sim = Simulator::new(&c).unwrap();
    let spec = TranSpec {
        uic: true,
        fixed_step: Some(h),
        ..TranSpec::new(h, tstop)
    };
    let (res, err) = sim.run_tran(&spec);
    assert!(err.is_none(), "{err:?}");
    res.waveforms
}

fn orders(errors: &[f64]) -> Vec<f64> {
    errors.windows(2).map(|w| (w[0] / w[1]).log2()).collect()
}

fn expected_order(m: Method) -> f64 {
    if m == Method::Be { 1.0 } else { 2.0 }
}

const METHODS: [Method; 4] = [Method::Be, Method::Trap, Method::Gear, Method::Trbdf2];

#[test]
fn order_of_convergence_on_exponential_decay() {
    // y' = −y: RC with τ = 1 s, v(0) = 1 V.
    let mut b = CircuitBuilder::new("decay");
    b.r("r1", "y", "0", 1.0);
    b.c("c1", "y", "0", 1.0, Some(1.0));
    let y = b.node("y");
    b.circuit.ics.push((y, 1.0));
    let c = b.build();
    for m in METHODS {
        let errs: Vec<f64> = [0.1, 0.05, 0.025, 0.0125]
            .iter()
            .map(|&h| (last(&run_fixed(&c, m, h, 1.0), "v(y)") - (-1.0f64).exp()).abs())
            .collect();
        let p = orders(&errs);
        eprintln!("{m:?}: errors {errs:?} orders {p:?}");
        for q in &p {
            assert!((q - expected_order(m)).abs() < 0.15, "{m:?}: orders {p:?}");
        }
    }
}

#[test]
fn order_of_convergence_on_stiff_linear_system() {
    // b' = −b (τ = 1 s); a' = (−a + 2·b)/τf with τf = 1 µs, started on its slow manifold.
    let tf = 1e-6;
    let g = 2.0;
    let mut bld = CircuitBuilder::new("stiff");
    bld.r("rb", "b", "0", 1.0);
    bld.c("cb", "b", "0", 1.0, Some(1.0));
    bld.r("ra", "a", "0", 1.0);
    bld.c("ca", "a", "0", tf, None);
    bld.g("ga", "0", "a", "b", "0", g); // drives g·v(b) into a
    let a0 = g / (1.0 - tf);
    let (na, nb) = (bld.node("a"), bld.node("b"));
    bld.circuit.ics.extend([(na, a0), (nb, 1.0)]);
    let c = bld.build();
    for m in METHODS {
        let mut errs = Vec::new();
        for h in [0.02, 0.01, 0.005] {
            let w = run_fixed(&c, m, h, 1.0);
            let eb = (last(&w, "v(b)") - (-1.0f64).exp()).abs();
            let ea = (last(&w, "v(a)") - a0 * (-1.0f64).exp()).abs();
            errs.push(ea.max(eb));
        }
        let p = orders(&errs);
        eprintln!("{m:?}: errors {errs:?} orders {p:?}");
        for q in &p {
            assert!((q - expected_order(m)).abs() < 0.2, "{m:?}: orders {p:?}");
        }
    }
}

#[test]
fn rlc_ring_down_matches_analytic() {
    // Series R-L-C, capacitor charged to 1 V, released at t = 0 (uic).
    let (r, l, cap) = (10.0, 1e-3, 1e-6);
    let mut b = CircuitBuilder::new("rlc");
    b.r("r1", "a", "b", r);
    b.l("l1", "b", "0", l, Some(0.0));
    b.c("c1", "a", "0", cap, Some(1.0));
    let na = b.node("a");
    b.circuit.ics.push((na, 1.0));
    b.circuit.analyses.push(dfcsim::circuit::Analysis::Tran {
        tstep: 1e-6,
        tstop: 1e-3,
        tstart: 0.0,
        tmax: None,
        uic: true,
    });
    let alpha = r / (2.0 * l);
    let w0 = 1.0 / (l * cap).sqrt();
    let wd = (w0 * w0 - alpha * alpha).sqrt();
    let exact = |t: f64| (-alpha * t).exp() * ((wd * t).cos() + alpha / wd * (wd * t).sin());
    for m in [Method::Trap, Method::Gear, Method::Trbdf2] {
        let mut c = b.build();
        c.options.method = m;
        let out = simulate(&c);
        assert!(out.error.is_none(), "{:?}", out.error);
        let w = &out.results[0].waveforms;
        let ia = w.index_of("v(a)").unwrap();
        let worst = (0..w.rows())
            .map(|k| (w.row(k)[ia] - exact(w.row(k)[0])).abs())
            .fold(0.0, f64::max);
        eprintln!("{m:?}: worst {worst:e} over {} rows", w.rows());
        // range of v(a) is 2 V peak to peak at most
        assert!(worst < 2e-3, "{m:?}: {worst}");
        assert!(w.index_of("i(l1)").is_some());
    }
}

#[test]
fn logistic_b_source_matches_closed_form() {
    // C dv/dt = v(1 − v)/R: B source drives v·(1 − v)/R into node n.
    let (r, cap) = (1e3, 1e-6);
    let tau = r * cap;
    let mut b = CircuitBuilder::new("logistic");
    let v = b.vref("n");
    let i = bin(
        BinaryOp::Div,
        bin(
            BinaryOp::Mul,
            v.clone(),
            bin(BinaryOp::Sub, Expr::Const(1.0), v),
        ),
        Expr::Const(r),
    );
    b.bi("b1", "0", "n", i);
    b.c("c1", "n", "0", cap, Some(0.1));
    let n = b.node("n");
    b.circuit.ics.push((n, 0.1));
    b.circuit.analyses.push(dfcsim::circuit::Analysis::Tran {
        tstep: 1e-5,
        tstop: 8e-3,
        tstart: 0.0,
        tmax: None,
        uic: true,
    });
    let exact = |t: f64| 1.0 / (1.0 + 9.0 * (-t / tau).exp());
    for m in METHODS {
        let mut c = b.build();
        c.options.method = m;
        let out = simulate(&c);
        assert!(out.error.is_none(), "{:?}", out.error);
        let w = &out.results[0].waveforms;
        let iv = w.index_of("v(n)").unwrap();
        let worst = (0..w.rows())
            .map(|k| (w.row(k)[iv] - exact(w.row(k)[0])).abs())
            .fold(0.0, f64::max);
        eprintln!("{m:?}: worst {worst:e}");
        assert!(
            worst < if m == Method::Be { 1e-2 } else { 1e-3 },
            "{m:?}: {worst}"
        );
    }
}

#[test]
fn tanh_network_matches_rk4_reference() {
    // Two leaky integrators: τ v1' = −v1 + tanh(2·v2) + u(t), τ v2' = −v2 − tanh(1.5·v1),
    // u a sine; reference by RK4 with a tiny step.
    let (r, cap) = (1e3, 1e-6);
    let tau = r * cap;
    let mut b = CircuitBuilder::new("tanh2");
    let (v1, v2) = (b.vref("v1"), b.vref("v2"));
    for (name, node) in [("1", "v1"), ("2", "v2")] {
        b.r(&format!("r{name}"), node, "0", r);
        b.c(&format!("c{name}"), node, "0", cap, None);
    }
    let th = |k: f64, x: Expr| Expr::Call(Func::Tanh, vec![bin(BinaryOp::Mul, Expr::Const(k), x)]);
    b.bi(
        "b1",
        "0",
        "v1",
        bin(BinaryOp::Div, th(2.0, v2), Expr::Const(r)),
    );
    b.bi(
        "b2",
        "v2",
        "0",
        bin(BinaryOp::Div, th(1.5, v1), Expr::Const(r)),
    );
    b.v(
        "vu",
        "u",
        "0",
        Waveform::Sin {
            vo: 0.0,
            va: 1.0,
            freq: 500.0,
            td: 0.0,
            theta: 0.0,
            phase_deg: 0.0,
        },
    );
    b.g("gu", "0", "v1", "u", "0", 1.0 / r);
    let (n1, n2) = (b.node("v1"), b.node("v2"));
    assert_ne!(n1, NodeId::GROUND);
    b.circuit.ics.extend([(n1, 0.5), (n2, -0.3)]);
    b.circuit.analyses.push(dfcsim::circuit::Analysis::Tran {
        tstep: 1e-5,
        tstop: 5e-3,
        tstart: 0.0,
        tmax: None,
        uic: true,
    });
    let rhs = |t: f64, y: [f64; 2]| {
        let u = (2.0 * std::f64::consts::PI * 500.0 * t).sin();
        [
            (-y[0] + (2.0 * y[1]).tanh() + u) / tau,
            (-y[1] - (1.5 * y[0]).tanh()) / tau,
        ]
    };
    let reference = |tend: f64| {
        let steps = ((tend / 1e-7).ceil() as usize).max(1);
        let h = tend / steps as f64;
        let mut y = [0.5, -0.3];
        let mut t = 0.0;
        for _ in 0..steps {
            let k1 = rhs(t, y);
            let k2 = rhs(
                t + h / 2.0,
                [y[0] + h / 2.0 * k1[0], y[1] + h / 2.0 * k1[1]],
            );
            let k3 = rhs(
                t + h / 2.0,
                [y[0] + h / 2.0 * k2[0], y[1] + h / 2.0 * k2[1]],
            );
            let k4 = rhs(t + h, [y[0] + h * k3[0], y[1] + h * k3[1]]);
            for j in 0..2 {
                y[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
            }
            t += h;
        }
        y
    };
    for m in [Method::Trap, Method::Gear, Method::Trbdf2] {
        let mut c = b.build();
        c.options.method = m;
        let out = simulate(&c);
        assert!(out.error.is_none(), "{:?}", out.error);
        let w = &out.results[0].waveforms;
        let (i1, i2) = (w.index_of("v(v1)").unwrap(), w.index_of("v(v2)").unwrap());
        let mut worst = 0.0f64;
        for k in (0..w.rows()).step_by((w.rows() / 12).max(1)) {
            let row = w.row(k);
            let y = reference(row[0]);
            worst = worst
                .max((row[i1] - y[0]).abs())
                .max((row[i2] - y[1]).abs());
        }
        eprintln!("{m:?}: worst {worst:e}, {:?}", out.results[0].stats);
        assert!(worst < 2e-3, "{m:?}: {worst}");
    }
}

#[test]
fn diode_like_operating_point_needs_the_fallbacks_and_is_exact() {
    // 5 V → 1 kΩ → exponential B-source "diode" to ground: plain Newton from 0 V overshoots
    // into exp(200); damping / gmin / source stepping must still find the solution.
    let (is, vt, r, vs) = (1e-14, 0.025, 1e3, 5.0);
    let mut b = CircuitBuilder::new("diode");
    b.v("v1", "a", "0", Waveform::Dc(vs));
    b.r("r1", "a", "d", r);
    let vd = b.vref("d");
    let i = bin(
        BinaryOp::Mul,
        Expr::Const(is),
        bin(
            BinaryOp::Sub,
            Expr::Call(Func::Exp, vec![bin(BinaryOp::Div, vd, Expr::Const(vt))]),
            Expr::Const(1.0),
        ),
    );
    b.bi("bd", "d", "0", i);
    b.circuit.analyses.push(dfcsim::circuit::Analysis::Op);
    let out = simulate(&b.build());
    assert!(out.error.is_none(), "{:?}", out.error);
    let w = &out.results[0].waveforms;
    let v = w.row(0)[w.index_of("v(d)").unwrap()];
    // exact: (vs − v)/r = is·(exp(v/vt) − 1), by bisection
    let (mut lo, mut hi) = (0.0f64, vs);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (vs - mid) / r > is * ((mid / vt).exp() - 1.0) {
            lo = mid
        } else {
            hi = mid
        }
    }
    eprintln!("v(d) = {v}, exact {lo}, {:?}", out.results[0].stats);
    assert!((v - lo).abs() < 1e-6, "{v} vs {lo}");
}
