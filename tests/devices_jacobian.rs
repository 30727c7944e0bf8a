//! Every device's Jacobian against central finite differences of its residual.

use dfcsim::circuit::{Circuit, Waveform};
use dfcsim::engine::{CircuitBuilder, Simulator};
use dfcsim::expr::{BinaryOp, Expr, Func, UnaryOp};

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
fn call(f: Func, args: Vec<Expr>) -> Expr {
    Expr::Call(f, args)
}
fn k(c: f64) -> Expr {
    Expr::Const(c)
}

/// Compares the analytic Jacobian with central differences at a few pseudo-random points.
fn check(name: &str, c: &Circuit) {
    let mut sim = Simulator::new(c).unwrap();
    let n = sim.unknowns();
    let mut seed = 12345u64;
    let mut rnd = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    for h in [None, Some(1e-3)] {
        for _ in 0..3 {
            let x: Vec<f64> = (0..n).map(|_| rnd()).collect();
            let (_, jac) = sim.linearize(&x, 0.3e-3, h);
            for col in 0..n {
                let eps = 1e-6;
                let mut xp = x.clone();
                xp[col] += eps;
                let (fp, _) = sim.linearize(&xp, 0.3e-3, h);
                let mut xm = x.clone();
                xm[col] -= eps;
                let (fm, _) = sim.linearize(&xm, 0.3e-3, h);
                for row in 0..n {
                    let fd = (fp[row] - fm[row]) / (2.0 * eps);
                    let an = jac[row][col];
                    let scale = 1.0 + an.abs().max(fd.abs());
                    assert!(
                        (fd - an).abs() <= 1e-6 * scale,
                        "{name}: J[{row}][{col}] analytic {an} vs finite difference {fd} (h {h:?})"
                    );
                }
            }
        }
    }
}

fn base() -> CircuitBuilder {
    let mut b = CircuitBuilder::new("jac");
    // a DC path from every node keeps the matrix structurally regular
    for node in ["a", "b", "c", "d"] {
        b.r(&format!("r{node}0"), node, "0", 1e4);
    }
    b.v(
        "vc",
        "a",
        "b",
        Waveform::Sin {
            vo: 0.1,
            va: 1.0,
            freq: 1e3,
            td: 0.0,
            theta: 0.0,
            phase_deg: 0.0,
        },
    );
    b
}

#[test]
fn linear_devices() {
    let mut cases: Vec<(&str, Circuit)> = Vec::new();
    let mut b = base();
    b.r("r1", "a", "c", 2.0e3);
    cases.push(("R", b.build()));
    let mut b = base();
    b.c("c1", "c", "d", 1e-6, None);
    cases.push(("C", b.build()));
    let mut b = base();
    b.l("l1", "c", "d", 1e-3, None);
    cases.push(("L", b.build()));
    let mut b = base();
    b.i("i1", "c", "d", Waveform::Pwl(vec![(0.0, 1.0), (1e-3, 2.0)]));
    cases.push(("I", b.build()));
    let mut b = base();
    b.e("e1", "c", "d", "a", "b", 3.0);
    cases.push(("E", b.build()));
    let mut b = base();
    b.g("g1", "c", "d", "a", "b", 3e-3);
    cases.push(("G", b.build()));
    let mut b = base();
    b.f("f1", "c", "d", 4, 2.5);
    cases.push(("F", b.build()));
    let mut b = base();
    b.h("h1", "c", "d", 4, 50.0);
    cases.push(("H", b.build()));
    for (name, c) in &cases {
        check(name, c);
    }
}

#[test]
fn behavioural_sources_have_exact_derivatives() {
    let mut b = base();
    let (va, vb, vc) = (b.vref("a"), b.vref("b"), b.vref("c"));
    let ib = Expr::BranchI(4);
    // tanh(v(a) − v(b))·v(c)² + exp(0.3·v(c)) / (1 + v(a)²) + min(v(a), v(b)) + limit(v(c), −0.5, 0.5)
    let e1 = bin(
        BinaryOp::Add,
        bin(
            BinaryOp::Add,
            bin(
                BinaryOp::Mul,
                call(Func::Tanh, vec![bin(BinaryOp::Sub, va.clone(), vb.clone())]),
                bin(BinaryOp::Pow, vc.clone(), k(2.0)),
            ),
            bin(
                BinaryOp::Div,
                call(Func::Exp, vec![bin(BinaryOp::Mul, k(0.3), vc.clone())]),
                bin(
                    BinaryOp::Add,
                    k(1.0),
                    bin(BinaryOp::Mul, va.clone(), va.clone()),
                ),
            ),
        ),
        bin(
            BinaryOp::Add,
            call(Func::Min, vec![va.clone(), vb.clone()]),
            call(Func::Limit, vec![vc.clone(), k(-0.5), k(0.5)]),
        ),
    );
    // sin(v(a))·i(vc) + sqrt(v(b)² + 1) − atan(v(c)) + (v(a) > 0 ? cosh(v(b)) : −v(c)) + time·1e3
    let e2 = bin(
        BinaryOp::Add,
        bin(
            BinaryOp::Sub,
            bin(
                BinaryOp::Add,
                bin(BinaryOp::Mul, call(Func::Sin, vec![va.clone()]), ib),
                call(
                    Func::Sqrt,
                    vec![bin(
                        BinaryOp::Add,
                        bin(BinaryOp::Mul, vb.clone(), vb.clone()),
                        k(1.0),
                    )],
                ),
            ),
            call(Func::Atan, vec![vc.clone()]),
        ),
        bin(
            BinaryOp::Add,
            Expr::Ternary(
                Box::new(bin(BinaryOp::Gt, va.clone(), k(0.0))),
                Box::new(call(Func::Cosh, vec![vb.clone()])),
                Box::new(Expr::Unary(UnaryOp::Neg, Box::new(vc.clone()))),
            ),
            bin(BinaryOp::Mul, Expr::Time, k(1e3)),
        ),
    );
    let mut bi = b.clone();
    bi.bi("b1", "c", "d", e1.clone());
    check("B I=", &bi.build());
    let mut bv = b.clone();
    bv.bv("b2", "d", "c", e2.clone());
    bv.r("rd", "d", "0", 1e3);
    check("B V=", &bv.build());
    let mut both = b;
    both.bi("b1", "c", "d", e1);
    both.bv("b2", "d", "0", e2);
    check("B both", &both.build());
}
