//! Continuous-time reference of the circuit the generator writes: the DFC equations
//! (1)–(4) integrated with classical RK4 at a small fixed step, in dimensionless units
//! (time in τ_u, activations in units of V_s). It is the yardstick the `--flat` netlist is
//! checked against (tests/gen_flat.rs); the full ideal model lives in `crate::ideal`.
//!
//! Equations (what the circuit realises; α acts on the total u as in the reference code):
//! ```text
//!   ratio · dv_i/dt = −v_i + v_i^ff + v_i^fb,  v_i^ff = W_i φ(v_{i−1}) + b_i,  v_i^fb = Q_i u
//!   e = en(t) · (r_L* − φ_L(v_L)),   u = u_int + k_p e,   du_int/dt = e − α u
//! ```
//! with φ(v_0) = x, `ratio` = τ_v/τ_u and en(t) the controller enable (0 before `t_on`, a
//! linear ramp of length `t_rise`, then 1). Initial state: the feed-forward point, u_int = 0.

use super::network::{DfcNetwork, Matrix};

/// Controller enable waveform en(t) in dimensionless time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Enable {
    pub t_on: f64,
    pub t_rise: f64,
}

impl Enable {
    pub fn at(&self, t: f64) -> f64 {
        if t <= self.t_on {
            0.0
        } else if t >= self.t_on + self.t_rise {
            1.0
        } else {
            (t - self.t_on) / self.t_rise
        }
    }
}

/// Parameters of the controlled network (dimensionless).
#[derive(Debug, Clone)]
pub struct DfcOde<'a> {
    pub net: &'a DfcNetwork,
    pub x: &'a [f64],
    pub target: &'a [f64],
    pub k_p: f64,
    pub alpha: f64,
    /// τ_v / τ_u
    pub ratio: f64,
    pub enable: Enable,
}

/// Every probed quantity at one instant, per layer where layered.
#[derive(Debug, Clone, PartialEq)]
pub struct Compartments {
    pub v: Vec<Vec<f64>>,
    pub vff: Vec<Vec<f64>>,
    pub vfb: Vec<Vec<f64>>,
    pub u: Vec<f64>,
    pub u_int: Vec<f64>,
    pub e: Vec<f64>,
}

impl<'a> DfcOde<'a> {
    /// Feed-forward state packed as [v_1 … v_L, u_int = 0].
    pub fn initial_state(&self) -> Vec<f64> {
        let (vs, _) = self.net.feedforward(self.x);
        let mut y: Vec<f64> = vs.concat();
        y.extend(std::iter::repeat_n(0.0, self.n_out()));
        y
    }

    fn n_out(&self) -> usize {
        *self.net.arch.last().expect("arch has ≥ 2 entries")
    }

    /// Unpacks a state into all compartments (the algebraic parts evaluated at time t).
    pub fn compartments(&self, t: f64, y: &[f64]) -> Compartments {
        let layers = self.net.layers();
        let mut v = Vec::with_capacity(layers);
        let mut off = 0;
        for &n in &self.net.arch[1..] {
            v.push(y[off..off + n].to_vec());
            off += n;
        }
        let u_int = y[off..].to_vec();
        let phi_l = self.net.phi[layers - 1];
        let en = self.enable.at(t);
        let e: Vec<f64> = (0..self.n_out())
            .map(|k| en * (self.target[k] - phi_l.apply(v[layers - 1][k])))
            .collect();
        let u: Vec<f64> = u_int
            .iter()
            .zip(&e)
            .map(|(a, b)| a + self.k_p * b)
            .collect();
        let mut vff = Vec::with_capacity(layers);
        let mut vfb = Vec::with_capacity(layers);
        for i in 0..layers {
            let input: Vec<f64> = if i == 0 {
                self.x.to_vec()
            } else {
                v[i - 1]
                    .iter()
                    .map(|&a| self.net.phi[i - 1].apply(a))
                    .collect()
            };
            let mut ff = self.net.w[i].matvec(&input);
            for (f, b) in ff.iter_mut().zip(&self.net.b[i]) {
                *f += b;
            }
            vff.push(ff);
            vfb.push(self.net.q[i].matvec(&u));
        }
        Compartments {
            v,
            vff,
            vfb,
            u,
            u_int,
            e,
        }
    }

    fn derivative(&self, t: f64, y: &[f64], dy: &mut [f64]) {
        let c = self.compartments(t, y);
        let mut off = 0;
        for i in 0..self.net.layers() {
            for k in 0..c.v[i].len() {
                dy[off + k] = (-c.v[i][k] + c.vff[i][k] + c.vfb[i][k]) / self.ratio;
            }
            off += c.v[i].len();
        }
        for k in 0..c.u.len() {
            dy[off + k] = c.e[k] - self.alpha * c.u[k];
        }
    }

    /// Advances `y` from t0 to t1 in `steps` classical RK4 steps.
    pub fn integrate(&self, y: &mut [f64], t0: f64, t1: f64, steps: usize) {
        let n = y.len();
        let h = (t1 - t0) / steps as f64;
        let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
        );
        for s in 0..steps {
            let t = t0 + s as f64 * h;
            self.derivative(t, y, &mut k1);
            axpy_into(y, 0.5 * h, &k1, &mut tmp);
            self.derivative(t + 0.5 * h, &tmp, &mut k2);
            axpy_into(y, 0.5 * h, &k2, &mut tmp);
            self.derivative(t + 0.5 * h, &tmp, &mut k3);
            axpy_into(y, h, &k3, &mut tmp);
            self.derivative(t + h, &tmp, &mut k4);
            for j in 0..n {
                y[j] += h / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
            }
        }
    }

    /// Integrates from the feed-forward state at t = 0 and returns the compartments at each
    /// of `times` (ascending). Steps never straddle the enable corners and are at most `h_max`.
    pub fn trajectory(&self, times: &[f64], h_max: f64) -> Vec<Compartments> {
        let mut y = self.initial_state();
        let corners = [self.enable.t_on, self.enable.t_on + self.enable.t_rise];
        let mut t = 0.0;
        let mut out = Vec::with_capacity(times.len());
        for &target_t in times {
            while t < target_t {
                let next = corners
                    .iter()
                    .copied()
                    .filter(|&c| c > t && c < target_t)
                    .fold(target_t, f64::min);
                let steps = ((next - t) / h_max).ceil().max(1.0) as usize;
                self.integrate(&mut y, t, next, steps);
                t = next;
            }
            out.push(self.compartments(t, &y));
        }
        out
    }
}

fn axpy_into(y: &[f64], a: f64, x: &[f64], out: &mut [f64]) {
    for ((o, yi), xi) in out.iter_mut().zip(y).zip(x) {
        *o = yi + a * xi;
    }
}

/// DFC-SSA control signal (Lemma 1 with the code's α): u = (J̄ Q̄ + α I)⁻¹ δ_L, with
/// δ_L = r_L* − r_L^− and J̄ Q̄ = Σ_i J_i Q_i, J_i = ∂r_L/∂v_i at the feed-forward point.
pub fn ssa_control(net: &DfcNetwork, x: &[f64], target: &[f64], alpha: f64) -> Vec<f64> {
    let layers = net.layers();
    let n_out = net.arch[layers];
    let (vs, rs) = net.feedforward(x);
    // J_L = diag(φ'_L(v_L)); J_i = J_{i+1} W_{i+1} diag(φ'_i(v_i)).
    let mut j = Matrix::zeros(n_out, n_out);
    for (k, &v) in vs[layers - 1].iter().enumerate() {
        j.set(k, k, net.phi[layers - 1].derivative(v));
    }
    let mut jq = j.matmul(&net.q[layers - 1]);
    for i in (0..layers - 1).rev() {
        let mut next = j.matmul(&net.w[i + 1]);
        for r in 0..next.rows {
            for (c, &v) in vs[i].iter().enumerate() {
                let d = net.phi[i].derivative(v);
                next.set(r, c, next.at(r, c) * d);
            }
        }
        j = next;
        let add = j.matmul(&net.q[i]);
        for (a, b) in jq.data.iter_mut().zip(&add.data) {
            *a += b;
        }
    }
    for k in 0..n_out {
        jq.set(k, k, jq.at(k, k) + alpha);
    }
    let delta: Vec<f64> = target
        .iter()
        .zip(&rs[layers - 1])
        .map(|(t, r)| t - r)
        .collect();
    solve_dense(jq, delta)
}

/// Gaussian elimination with partial pivoting (n is the output width: tiny).
fn solve_dense(mut a: Matrix, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&p, &q| a.at(p, col).abs().total_cmp(&a.at(q, col).abs()))
            .expect("non-empty range");
        if piv != col {
            for c in 0..n {
                let (x, y) = (a.at(col, c), a.at(piv, c));
                a.set(col, c, y);
                a.set(piv, c, x);
            }
            b.swap(col, piv);
        }
        let d = a.at(col, col);
        for r in col + 1..n {
            let f = a.at(r, col) / d;
            for c in col..n {
                a.set(r, c, a.at(r, c) - f * a.at(col, c));
            }
            b[r] -= f * b[col];
        }
    }
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a.at(r, c) * b[c]).sum();
        b[r] = (b[r] - s) / a.at(r, r);
    }
    b
}
