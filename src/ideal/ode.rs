//! The controlled dynamics of one sample in continuous time (eq. 1–5, instantaneous apical
//! compartment, leak on the total u), integrated with the adaptive Dormand–Prince 5(4)
//! method. Time in units of τ_u. This is the reference the circuit co-simulation compares
//! against; as dt → 0 the reference Euler scheme converges to it.
//!
//! ```text
//! ratio·dv_i/dt = −v_i + W_i φ(v_{i−1}) + b_i + Q_i u,   u = u_int + k_p e,  e = r_L* − φ(v_L)
//! du_int/dt = e − α u
//! dq_i/dt  = [φ(v_i) − φ(W_i r_{i−1} + b_i)] r_{i−1}ᵀ    (DFC update integrand)
//! ```
//! The update returned is −2/T·q(T) (the positive-gradient convention of the reference,
//! minibatch of one sample); the quadrature is part of the error control.

use super::error::IdealError;
use super::linalg::matvec;
use super::network::{Network, ParamGrads};

/// Controller and network constants of the continuous system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OdeParams {
    pub k_p: f64,
    pub alpha: f64,
    /// τ_v/τ_u.
    pub ratio: f64,
}

/// Integration settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OdeOptions {
    /// End time T (units of τ_u).
    pub t_end: f64,
    pub rtol: f64,
    pub atol: f64,
    /// First trial step.
    pub h0: f64,
    pub max_steps: usize,
    /// Keep the state at every accepted step.
    pub record: bool,
}

impl Default for OdeOptions {
    fn default() -> Self {
        OdeOptions {
            t_end: 5.0,
            rtol: 1e-9,
            atol: 1e-11,
            h0: 1e-3,
            max_steps: 1_000_000,
            record: false,
        }
    }
}

/// One recorded time point: v_i per layer and u.
#[derive(Debug, Clone, PartialEq)]
pub struct OdePoint {
    pub t: f64,
    pub v: Vec<Vec<f64>>,
    pub u: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OdeRun {
    /// Accepted steps (t = 0 first) when `record` was set.
    pub trajectory: Vec<OdePoint>,
    /// State at T.
    pub last: OdePoint,
    /// DFC update −2/T ∫ [φ(v_i) − φ(v^B_i)] r_{i−1}ᵀ dt (unclipped).
    pub update: ParamGrads,
    pub steps_accepted: usize,
    pub steps_rejected: usize,
}

struct System<'a> {
    net: &'a Network,
    x: &'a [f64],
    target: &'a [f64],
    p: OdeParams,
    offs: Vec<usize>,
    n_v: usize,
    n_l: usize,
    q_offs: Vec<(usize, usize)>,
    r: Vec<Vec<f64>>,
    tmp: Vec<f64>,
    tmp_q: Vec<f64>,
    u: Vec<f64>,
}

impl System<'_> {
    fn len(&self) -> usize {
        let last = self.q_offs.last().unwrap();
        last.1 + self.net.layers.last().unwrap().n_out()
    }

    /// dy/dt at y (state: v̄, u_int, then quadratures W_1, b_1, W_2, …).
    fn rhs(&mut self, y: &[f64], dy: &mut [f64]) {
        let net = self.net;
        let depth = net.depth();
        for i in 0..depth {
            let n = net.layers[i].n_out();
            net.layers[i]
                .act
                .apply_slice(&y[self.offs[i]..self.offs[i] + n], &mut self.r[i]);
        }
        let u_int = &y[self.n_v..self.n_v + self.n_l];
        for k in 0..self.n_l {
            let e = self.target[k] - self.r[depth - 1][k];
            self.u[k] = u_int[k] + self.p.k_p * e;
            dy[self.n_v + k] = e - self.p.alpha * self.u[k];
        }
        for (i, l) in net.layers.iter().enumerate() {
            let n = l.n_out();
            let input: &[f64] = if i == 0 { self.x } else { &self.r[i - 1] };
            let vb = &mut self.tmp[..n];
            matvec(&l.w.data, n, l.n_in(), input, vb);
            for j in 0..n {
                vb[j] += l.b[j];
            }
            let qu = &mut self.tmp_q[..n];
            matvec(&l.q.data, n, self.n_l, &self.u, qu);
            let o = self.offs[i];
            for j in 0..n {
                dy[o + j] = (-y[o + j] + vb[j] + qu[j]) / self.p.ratio;
            }
            let (qw, qb) = self.q_offs[i];
            for j in 0..n {
                let d = self.r[i][j] - l.act.apply(vb[j]);
                dy[qb + j] = d;
                for (k, rk) in input.iter().enumerate() {
                    dy[qw + j * input.len() + k] = d * rk;
                }
            }
        }
    }

    fn point(&self, t: f64, y: &[f64]) -> OdePoint {
        let v = self
            .net
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| y[self.offs[i]..self.offs[i] + l.n_out()].to_vec())
            .collect();
        let depth = self.net.depth();
        let n = self.net.layers[depth - 1].n_out();
        let vl = &y[self.offs[depth - 1]..self.offs[depth - 1] + n];
        let u = (0..self.n_l)
            .map(|k| {
                y[self.n_v + k]
                    + self.p.k_p * (self.target[k] - self.net.layers[depth - 1].act.apply(vl[k]))
            })
            .collect();
        OdePoint { t, v, u }
    }
}

// Dormand–Prince 5(4) tableau (autonomous system: the nodes c_s are not needed).
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
const B5: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Integrates one sample from the feed-forward state (u_int = 0) to `opts.t_end`.
pub fn simulate_continuous(
    net: &Network,
    x: &[f64],
    target: &[f64],
    p: OdeParams,
    opts: &OdeOptions,
) -> Result<OdeRun, IdealError> {
    let depth = net.depth();
    let n_l = net.n_out();
    let mut offs = Vec::with_capacity(depth);
    let mut o = 0;
    for l in &net.layers {
        offs.push(o);
        o += l.n_out();
    }
    let n_v = o;
    let mut q_offs = Vec::with_capacity(depth);
    let mut q = n_v + n_l;
    for l in &net.layers {
        q_offs.push((q, q + l.w.data.len()));
        q += l.w.data.len() + l.n_out();
    }
    let max_n = net.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
    let mut sys = System {
        net,
        x,
        target,
        p,
        offs,
        n_v,
        n_l,
        q_offs,
        r: net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect(),
        tmp: vec![0.0; max_n],
        tmp_q: vec![0.0; max_n],
        u: vec![0.0; n_l],
    };
    let n = sys.len();
    let ff = net.forward(x);
    let mut y = vec![0.0; n];
    for i in 0..depth {
        y[sys.offs[i]..sys.offs[i] + ff.v[i].len()].copy_from_slice(&ff.v[i]);
    }
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let mut ytmp = vec![0.0; n];
    let mut ynew = vec![0.0; n];
    let mut t = 0.0;
    let mut h = opts.h0.min(opts.t_end);
    let (mut acc, mut rej) = (0, 0);
    let mut trajectory = Vec::new();
    if opts.record {
        trajectory.push(sys.point(0.0, &y));
    }
    sys.rhs(&y, &mut k[0]);
    while t < opts.t_end {
        if acc + rej >= opts.max_steps {
            return Err(IdealError::Config(format!(
                "continuous simulation: more than {} steps before t = {}",
                opts.max_steps, opts.t_end
            )));
        }
        h = h.min(opts.t_end - t);
        for s in 1..7 {
            for j in 0..n {
                let mut acc_j = 0.0;
                for (m, a) in A[s][..s].iter().enumerate() {
                    acc_j += a * k[m][j];
                }
                ytmp[j] = y[j] + h * acc_j;
            }
            sys.rhs(&ytmp, &mut k[s]);
        }
        // ytmp now holds the 5th-order solution (stage 7 is evaluated there: FSAL).
        ynew.copy_from_slice(&ytmp);
        let mut err2 = 0.0;
        for j in 0..n {
            let mut e = 0.0;
            for s in 0..7 {
                e += (B5[s] - B4[s]) * k[s][j];
            }
            let sc = opts.atol + opts.rtol * y[j].abs().max(ynew[j].abs());
            err2 += (h * e / sc).powi(2);
        }
        let err = (err2 / n as f64).sqrt();
        if !err.is_finite() {
            return Err(IdealError::Config(format!(
                "continuous simulation diverged at t = {t}"
            )));
        }
        if err <= 1.0 {
            t += h;
            y.copy_from_slice(&ynew);
            k.swap(0, 6);
            acc += 1;
            if opts.record {
                trajectory.push(sys.point(t, &y));
            }
        } else {
            rej += 1;
        }
        let factor = if err == 0.0 {
            5.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.2, 5.0)
        };
        h *= factor;
        if h < 1e-14 * opts.t_end.max(1.0) {
            return Err(IdealError::Config(format!(
                "continuous simulation: step size underflow at t = {t}"
            )));
        }
    }
    let mut update = ParamGrads::zeros_like(net);
    let scale = -2.0 / opts.t_end;
    for (i, l) in net.layers.iter().enumerate() {
        let (qw, qb) = sys.q_offs[i];
        for (g, v) in update.w[i].data.iter_mut().zip(&y[qw..qw + l.w.data.len()]) {
            *g = scale * v;
        }
        for (g, v) in update.b[i].iter_mut().zip(&y[qb..qb + l.n_out()]) {
            *g = scale * v;
        }
    }
    Ok(OdeRun {
        trajectory,
        last: sys.point(t, &y),
        update,
        steps_accepted: acc,
        steps_rejected: rej,
    })
}
