//! Integration formulas (companion coefficients) and ngspice's local truncation error
//! estimate on charges and fluxes (CKTterr).

use crate::circuit::Method;
use crate::devices::Coeffs;

/// TR-BDF2 split: the trapezoidal stage covers γ·h, BDF2 the rest.
pub const TRBDF2_GAMMA: f64 = 2.0 - std::f64::consts::SQRT_2;
/// |LTE constant| of TR-BDF2 for the whole step: (−3γ² + 4γ − 2) / (12(2 − γ)).
const TRBDF2_LTE: f64 = 0.036_130_639_590_096_94;

const GEAR_COEFF: [f64; 2] = [0.5, 0.222_222_222_2];
const TRAP_COEFF: [f64; 2] = [0.5, 0.083_333_333_33];

/// Backward Euler with step h.
pub fn backward_euler(h: f64) -> Coeffs {
    Coeffs {
        ag0: 1.0 / h,
        c1: -1.0 / h,
        c2: 0.0,
        d1: 0.0,
    }
}

/// Trapezoidal rule with step h.
pub fn trapezoidal(h: f64) -> Coeffs {
    Coeffs {
        ag0: 2.0 / h,
        c1: -2.0 / h,
        c2: 0.0,
        d1: -1.0,
    }
}

/// Variable-step BDF2 with current step h and previous step h_prev.
pub fn bdf2(h: f64, h_prev: f64) -> Coeffs {
    let w = h / h_prev;
    Coeffs {
        ag0: (1.0 + 2.0 * w) / ((1.0 + w) * h),
        c1: -(1.0 + w) / h,
        c2: w * w / ((1.0 + w) * h),
        d1: 0.0,
    }
}

/// Coefficients of one (sub)step for `method` at `order` (1 or 2).
pub fn coeffs(method: Method, order: u32, h: f64, h_prev: f64) -> Coeffs {
    match (method, order) {
        (Method::Be, _) | (_, 1) => backward_euler(h),
        (Method::Trap, _) => trapezoidal(h),
        (Method::Gear, _) => bdf2(h, h_prev),
        // TR-BDF2 sub-steps are chosen by the caller.
        (Method::Trbdf2, _) => trapezoidal(h),
    }
}

/// History needed by the error estimate.
pub struct LteInput<'a> {
    /// Charges at t_{n+1}, t_n, t_{n−1}, t_{n−2}.
    pub q: [&'a [f64]; 4],
    /// Currents dq/dt at t_{n+1}, t_n.
    pub i: [&'a [f64]; 2],
    /// Step sizes: deltas[0] = t_{n+1} − t_n, deltas[1] = t_n − t_{n−1}, …
    pub deltas: [f64; 3],
}

/// Tolerances in ngspice's meaning.
#[derive(Debug, Clone, Copy)]
pub struct LteTol {
    pub reltol: f64,
    pub abstol: f64,
    pub chgtol: f64,
    pub trtol: f64,
}

/// ngspice CKTterr over all states: the largest step (seconds) whose estimated error
/// stays within tolerance for `order`; `step` is the step just taken (`deltas[0]`, or the
/// whole TR-BDF2 step), the result is capped at 2·step as ngspice's CKTtrunc does.
/// Also returns the state that limits the step.
pub fn truncation_step(
    method: Method,
    order: u32,
    step: f64,
    inp: &LteInput,
    tol: &LteTol,
) -> (f64, Option<usize>) {
    let order = order.clamp(1, 2) as usize;
    let factor = match (method, order) {
        (Method::Trbdf2, 2) => TRBDF2_LTE,
        (Method::Gear, o) => GEAR_COEFF[o - 1],
        (_, o) => TRAP_COEFF[o - 1],
    };
    let h = inp.deltas[0];
    let dl = inp.deltas;
    // Spans the divided differences divide by (state-independent), summed in ngspice's order.
    let s01 = dl[1] + dl[0];
    let s12 = dl[2] + dl[1];
    let s012 = s12 + dl[0];
    let (q0s, q1s, q2s, q3s) = (inp.q[0], inp.q[1], inp.q[2], inp.q[3]);
    let (i0s, i1s) = (inp.i[0], inp.i[1]);
    let n = q0s.len();
    let (q1s, q2s, i0s, i1s) = (&q1s[..n], &q2s[..n], &i0s[..n], &i1s[..n]);
    let q3s = if order == 2 { &q3s[..n] } else { q3s };
    // The smallest squared (order 2) or plain (order 1) step ratio: sqrt is monotone, so
    // it is taken once, on the winner.
    let mut best = f64::INFINITY;
    let mut worst = None;
    for s in 0..n {
        let (q0, q1, q2) = (q0s[s], q1s[s], q2s[s]);
        let volttol = tol.abstol + tol.reltol * i0s[s].abs().max(i1s[s].abs());
        let chargetol = tol.reltol * q0.abs().max(q1.abs()).max(tol.chgtol) / h;
        let t = volttol.max(chargetol);
        // Divided differences of order `order + 1` over the last order + 2 points.
        let diff0 = if order == 1 {
            let a = (q0 - q1) / dl[0];
            let b = (q1 - q2) / dl[1];
            (a - b) / s01
        } else {
            let q3 = q3s[s];
            let a = (q0 - q1) / dl[0];
            let b = (q1 - q2) / dl[1];
            let c = (q2 - q3) / dl[2];
            let ab = (a - b) / s01;
            let bc = (b - c) / s12;
            (ab - bc) / s012
        };
        let del = tol.trtol * t / tol.abstol.max(factor * diff0.abs());
        if del < best {
            best = del;
            worst = Some(s);
        }
    }
    if order == 2 {
        best = best.sqrt();
    }
    (best.min(2.0 * step), worst)
}
