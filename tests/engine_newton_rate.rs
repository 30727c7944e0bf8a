//! One-iteration transient steps (DASSL's convergence test) and the quadratic predictor of
//! smooth circuits. A step may stop after its first Newton iteration when the convergence
//! rate measured at an earlier step puts the error left well inside the tolerance. The
//! waveforms must stay as accurate as with ngspice's rule (iterate until the update is
//! within the tolerance), measured against a run at 1000× tighter tolerances; circuits with
//! clamps or comparisons never take such steps. A quadratic guess that fails Newton is
//! retried from the line, so that the steps stay those of the linear guess.

use std::path::Path;

use dfcsim::circuit::Circuit;
use dfcsim::elaborate;
use dfcsim::engine::builder::tanh_network;
use dfcsim::engine::{Simulator, Stats, TranSpec};
use dfcsim::waveform::Waveforms;

fn run(c: &Circuit, one_iteration: bool) -> (Waveforms, Stats) {
    let mut sim = Simulator::new(c).unwrap();
    sim.set_one_iteration_steps(one_iteration);
    let spec = TranSpec::of_circuit(c).unwrap();
    let (res, err) = sim.run_tran(&spec);
    assert!(err.is_none(), "{err:?}");
    (res.waveforms, res.stats)
}

/// Worst |w − reference| over all signals at w's own points (the reference, 1000× finer,
/// interpolated), relative to each signal's range: the error of the accepted solutions
/// themselves, not of interpolating between them.
fn worst_error(w: &Waveforms, reference: &Waveforms) -> f64 {
    let mut worst = 0.0f64;
    for j in 1..reference.width() {
        let col = reference.column(j);
        let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if hi - lo < 1e-9 {
            continue;
        }
        for k in 0..w.rows() {
            let r = w.row(k);
            worst = worst.max((reference.value_at(j, r[0]) - r[j]).abs() / (hi - lo));
        }
    }
    worst
}

/// The same circuit at reltol/1000 (vntol, abstol too), every step iterated to convergence.
fn tight_reference(c: &Circuit) -> Waveforms {
    let mut tight = c.clone();
    tight.options.reltol *= 1e-3;
    tight.options.vntol *= 1e-3;
    tight.options.abstol *= 1e-3;
    run(&tight, false).0
}

/// Runs with and without one-iteration steps; returns (iterations with, without) after
/// checking that the error against the tight reference does not grow.
fn compare(c: &Circuit, what: &str) -> (u64, u64) {
    let (w_on, s_on) = run(c, true);
    let (w_off, s_off) = run(c, false);
    let reference = tight_reference(c);
    let (e_on, e_off) = (
        worst_error(&w_on, &reference),
        worst_error(&w_off, &reference),
    );
    eprintln!(
        "{what}: {} iterations / {} steps with one-iteration steps, {} / {} without; \
         error vs reltol/1000: {e_on:.3e} with, {e_off:.3e} without",
        s_on.newton_iterations, s_on.accepted_steps, s_off.newton_iterations, s_off.accepted_steps
    );
    // The Newton error left inside the tolerance still moves an oscillator's phase a
    // little (Van der Pol: 9e-5 -> 1.6e-4): the error may grow by a quarter plus 1e-4 of
    // range, a tenth of the 1e-3 standard against ngspice. An estimate that ignores the
    // nonlinearity's drift (the rectifier turning on) doubles its error (1.0e-2).
    assert!(
        e_on <= 1.25 * e_off + 1e-4,
        "{what}: error {e_on:e} with one-iteration steps, {e_off:e} without"
    );
    (s_on.newton_iterations, s_off.newton_iterations)
}

#[test]
fn tanh_network_takes_one_iteration_steps_at_unchanged_accuracy() {
    let c = tanh_network(&[15, 10, 10, 5], 1, 1e-6, 4e-4);
    let (on, off) = compare(&c, "tanh network 15-10-10-5");
    assert!(
        (on as f64) < 0.8 * off as f64,
        "{on} iterations with one-iteration steps, {off} without"
    );
}

/// Strongly nonlinear smooth circuits (exponential, sinh and cubic B sources in a Van der
/// Pol oscillator): one-iteration steps may only be taken where they keep the accuracy.
#[test]
fn strongly_nonlinear_circuits_keep_their_accuracy() {
    let cases = [
        (
            "exponential rectifier",
            "Vin in 0 SIN(0 2 10k)\nR1 in a 1k\nBd a 0 I=1e-14*(exp(v(a)/0.025)-1)\n\
             C1 a 0 10n\n.tran 1u 300u",
        ),
        (
            "exponential rectifier, coarse steps",
            "Vin in 0 SIN(0 2 10k)\nR1 in a 1k\nBd a 0 I=1e-14*(exp(v(a)/0.025)-1)\n\
             C1 a 0 10n\n.tran 5u 300u",
        ),
        (
            // A rectifier whose diode sleeps for half of each period (the rate measured
            // then is ~1e-12) and wakes inside a step.
            "diode rectifier with a reservoir capacitor",
            "Vin in 0 SIN(0 3 3k)\nR1 in a 100\nBd a c I=1e-14*(exp(v(a,c)/0.025)-1)\n\
             C1 a c 1n\nCl c 0 1u\nRl c 0 1k\n.tran 10u 2m",
        ),
        (
            // Driven to 10 V: the parabola's guess overflows the exponential (a singular
            // matrix from that guess must be retried from the line, not reported).
            "diode rectifier driven to 10 V",
            "Vin in 0 SIN(0 10 3k)\nR1 in a 100\nBd a c I=1e-14*(exp(v(a,c)/0.025)-1)\n\
             C1 a c 1n\nCl c 0 1u\nRl c 0 1k\n.tran 5u 2m",
        ),
        (
            "sinh conductance driven by pulses",
            "Vin in 0 PULSE(-1 1 10u 5u 5u 40u 100u)\nR1 in a 10k\n\
             Bm a 0 I=1e-6*sinh(v(a)/0.1)\nC1 a 0 1n\n.tran 0.5u 300u",
        ),
        (
            "Van der Pol oscillator (cubic conductance)",
            "L1 a 0 1m\nC1 a 0 1u IC=0.5\nBn a 0 I=-1e-2*v(a)+1e-2*v(a)*v(a)*v(a)/3\n\
             .tran 1u 2m uic",
        ),
    ];
    for (what, body) in cases {
        let text = format!("{what}\n{body}\n.end\n");
        let c = elaborate::load_str(&text, Path::new("nonlinear.cir")).unwrap();
        let (on, off) = compare(&c, what);
        assert!(
            on <= off,
            "{what}: {on} iterations with one-iteration steps, {off} without"
        );
    }
}

/// The quadratic predictor (smooth circuits) overshoots into a diode's exponential as it
/// turns on; Newton then fails from that guess. The step must be retried from the line,
/// not cut: the run keeps the steps (and so ngspice's time points) of the linear guess.
/// Cutting instead moved this run off ngspice's grid (error against it 3.6e-4 -> 1.7e-2).
#[test]
fn quadratic_predictor_falls_back_to_the_line_without_cutting_the_step() {
    let text = "rectifier\nVin in 0 SIN(0 3 3k)\nR1 in a 100\n\
                Bd a c I=1e-14*(exp(v(a,c)/0.025)-1)\nC1 a c 1n\nCl c 0 1u\nRl c 0 1k\n\
                .tran 5u 2m\n.end\n";
    let c = elaborate::load_str(text, Path::new("rectifier.cir")).unwrap();
    let spec = TranSpec::of_circuit(&c).unwrap();
    let run = |quadratic: bool| {
        let mut sim = Simulator::new(&c).unwrap();
        sim.set_quadratic_predictor(quadratic);
        let (res, err) = sim.run_tran(&spec);
        assert!(err.is_none(), "{err:?}");
        res
    };
    let (quad, line) = (run(true), run(false));
    eprintln!("quadratic {:?}\nline      {:?}", quad.stats, line.stats);
    assert!(
        quad.stats.newton_failures > 0,
        "the parabola no longer overshoots: the test sees nothing"
    );
    assert_eq!(quad.stats.accepted_steps, line.stats.accepted_steps);
    let (tq, tl) = (quad.waveforms.column(0), line.waveforms.column(0));
    let moved = tq
        .iter()
        .zip(&tl)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        moved < 1e-9 * spec.tstop,
        "time points moved by {moved:e} s"
    );
}

/// Only smooth B expressions allow one-iteration steps: a comparison, ternary, clamp,
/// abs, u, sgn or a power other than a constant ≥ 2 makes every step iterate to
/// convergence, bit for bit the run without one-iteration steps.
#[test]
fn only_smooth_expressions_take_one_iteration_steps() {
    let circuit = |expr: &str| {
        let text = format!(
            "B source {expr}\nVin in 0 SIN(0 1 10k)\nR1 in a 1k\nC1 a 0 10n\n\
             Bx o 0 V={expr}\nR2 o a 10k\n.tran 1u 300u\n.end\n"
        );
        elaborate::load_str(&text, Path::new("b.cir")).unwrap()
    };
    let kinked = [
        "v(a) > 0.2 ? tanh(v(a)) : -0.5",
        "abs(v(a))",
        "min(v(a), 0.3)",
        "max(tanh(v(a)), 0)",
        "limit(v(a), -0.3, 0.3)",
        "u(v(a)) * v(a)",
        "sgn(v(a)) * v(a) * v(a)",
        "v(a)^1.5",
        "pow(v(a), 0.5)",
        "v(a)^v(a)",
        "!(v(a) < 0) * v(a)",
    ];
    for expr in kinked {
        let c = circuit(expr);
        let (w_on, s_on) = run(&c, true);
        let (w_off, s_off) = run(&c, false);
        assert_eq!(s_on.newton_iterations, s_off.newton_iterations, "{expr}");
        assert_eq!(w_on.data, w_off.data, "{expr}");
    }
    let smooth = [
        "tanh(v(a))",
        "v(a)^2",
        "pow(v(a), 3)",
        "0.1 * exp(v(a))",
        "sin(v(a)) * cos(2 * v(a)) / (2 + v(a))",
        "atan(v(a)) - sinh(v(a) / 4)",
    ];
    for expr in smooth {
        let c = circuit(expr);
        let (_, s_on) = run(&c, true);
        let (_, s_off) = run(&c, false);
        assert!(
            s_on.newton_iterations < s_off.newton_iterations,
            "{expr}: {} iterations with one-iteration steps, {} without",
            s_on.newton_iterations,
            s_off.newton_iterations
        );
    }
}
