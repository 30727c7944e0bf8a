//! The controlled network dynamics of one sample, discretised exactly as the reference
//! implementation does (time in units of τ_u, dimensionless voltages).
//!
//! State at time point t: central compartment v_i[t] (`vs`), basal v^B_i[t] (`vb`), apical
//! v^A_i[t] (`va`), rates r_i[t] = φ(v_i[t]), control u[t] and its integral part u_int[t].
//! t = 0 is the feed-forward point (u = u_int = v^A = 0). One Euler step t → t+1:
//!
//! ```text
//! e = r_L* − r_L[t];  u_int += dt·(e − α·u[t]);  u[t+1] = u_int + k_p·e
//! for i = 1..L (already-updated r_{i−1}[t+1], r_0 = x):
//!   v^B_i = W_i r_{i−1}[t+1] + b_i
//!   v^A_i[t+1] = Q_i u[t]                       (instantaneous apical compartment), or
//!   v^A_i[t+1] = v^A_i + dt/τ_A·(−v^A_i + Q_i u[t]) + σ·√dt/τ_A·ξ   (low-pass, sleep phase)
//!   v_i[t+1] = v_i + dt/ratio·(v^A_i + v^B_i − v_i);  r_i = φ(v_i)
//! ```
//!
//! The leak acts on the total u, so the code's α is the paper's α̃ = α/(1+α k_p).

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::linalg::{matvec, norm};
use super::network::{ForwardState, Network};

/// Parameters of one controlled phase (forward/"wake" or feedback/"sleep").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ControllerParams {
    /// Proportional gain k_p.
    pub k_p: f64,
    /// Leak α of the controller (acting on the total u).
    pub alpha: f64,
    /// τ_v/τ_u.
    pub ratio: f64,
    /// Euler step in units of τ_u.
    pub dt: f64,
    /// Number of time points N (t = 0..N−1, i.e. N−1 Euler steps).
    pub steps: usize,
    /// Apical time constant τ_A in units of τ_u; `None` = instantaneous (v^A = Q u).
    pub apical_tau: Option<f64>,
    /// Layer-ordered transmission with already-updated r_{i−1}[t+1] (reference default);
    /// false uses r_{i−1}[t].
    pub inst_transmission: bool,
}

/// Noise injected into the apical compartment (sleep phase): standard deviation σ for
/// hidden layers, σ_out for the output layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApicalNoise {
    pub sigma: f64,
    pub sigma_out: f64,
}

/// Mutable state of one sample's controlled dynamics; allocated once, reused.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub vs: Vec<Vec<f64>>,
    pub vb: Vec<Vec<f64>>,
    pub va: Vec<Vec<f64>>,
    pub r: Vec<Vec<f64>>,
    pub u: Vec<f64>,
    pub u_int: Vec<f64>,
    e: Vec<f64>,
    u_next: Vec<f64>,
    qu: Vec<f64>,
}

impl ControlState {
    pub fn for_net(net: &Network) -> Self {
        let per_layer: Vec<Vec<f64>> = net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect();
        let n_l = net.n_out();
        let max_n = net.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
        ControlState {
            vs: per_layer.clone(),
            vb: per_layer.clone(),
            va: per_layer.clone(),
            r: per_layer,
            u: vec![0.0; n_l],
            u_int: vec![0.0; n_l],
            e: vec![0.0; n_l],
            u_next: vec![0.0; n_l],
            qu: vec![0.0; max_n],
        }
    }

    /// Initial state: feed-forward values, u = u_int = v^A = 0.
    pub fn reset(&mut self, ff: &ForwardState) {
        for i in 0..self.vs.len() {
            self.vs[i].copy_from_slice(&ff.v[i]);
            self.vb[i].copy_from_slice(&ff.v[i]);
            self.r[i].copy_from_slice(&ff.r[i]);
            self.va[i].fill(0.0);
        }
        self.u.fill(0.0);
        self.u_int.fill(0.0);
    }

    /// ‖r_L* − r_L‖ at the current time point.
    pub fn output_error_norm(&self, target: &[f64]) -> f64 {
        let rl = self.r.last().unwrap();
        let d: Vec<f64> = target.iter().zip(rl).map(|(a, b)| a - b).collect();
        norm(&d)
    }
}

/// One forward-Euler step t → t+1 of the reference discretisation.
pub fn euler_step<R: Rng + ?Sized>(
    net: &Network,
    _x: &[f64],
    target: &[f64],
    p: &ControllerParams,
    st: &mut ControlState,
    mut noise: Option<(ApicalNoise, &mut R)>,
) {
    let depth = net.depth();
    let n_l = target.len();
    // Controller: u[t+1] from e[t] and u[t]; v^A below still uses u[t].
    for k in 0..n_l {
        st.e[k] = target[k] - st.r[depth - 1][k];
        st.u_int[k] += p.dt * (st.e[k] - p.alpha * st.u[k]);
        st.u_next[k] = st.u_int[k] + p.k_p * st.e[k];
    }
    let gain = p.dt / p.ratio;
    let layer_step =
        |i: usize, st: &mut ControlState, noise: &mut Option<(ApicalNoise, &mut R)>| {
            let l = &net.layers[i];
            let n = l.n_out();
            // The first layer's basal input W_1 x + b_1 is constant: it keeps the value
            // `reset` copied from the feed-forward pass (same arithmetic, same bits).
            if i > 0 {
                let (before, after) = st.vb.split_at_mut(i);
                let _ = before;
                matvec(&l.w.data, n, l.n_in(), &st.r[i - 1], &mut after[0]);
                for (vbj, bj) in after[0].iter_mut().zip(&l.b) {
                    *vbj += bj;
                }
            }
            let qu = &mut st.qu[..n];
            matvec(&l.q.data, n, n_l, &st.u, qu);
            let va = &mut st.va[i];
            match p.apical_tau {
                None => va.copy_from_slice(qu),
                Some(tau) => {
                    let a = p.dt / tau;
                    for j in 0..n {
                        va[j] += a * (-va[j] + qu[j]);
                    }
                }
            }
            if let Some((ns, rng)) = noise.as_mut() {
                let sigma = if i == depth - 1 {
                    ns.sigma_out
                } else {
                    ns.sigma
                };
                let tau = p.apical_tau.unwrap_or(p.dt);
                let scale = sigma * p.dt.sqrt() / tau;
                for vaj in va.iter_mut() {
                    let xi: f64 = rng.sample(StandardNormal);
                    *vaj += scale * xi;
                }
            }
            let vs = &mut st.vs[i];
            let vb = &st.vb[i];
            let va = &st.va[i];
            for j in 0..n {
                vs[j] += gain * (va[j] + vb[j] - vs[j]);
            }
            l.act.apply_slice(&st.vs[i], &mut st.r[i]);
        };
    if p.inst_transmission {
        for i in 0..depth {
            layer_step(i, st, &mut noise);
        }
    } else {
        // Reverse order: every layer sees r_{i−1}[t] before it is updated.
        for i in (0..depth).rev() {
            layer_step(i, st, &mut noise);
        }
    }
    std::mem::swap(&mut st.u, &mut st.u_next);
}

/// Runs N time points of the controlled dynamics from the feed-forward state, calling
/// `observe(t, state)` at every time point t = 0..N−1 (t = 0 is the initial state).
pub fn run<R: Rng + ?Sized, F: FnMut(usize, &ControlState)>(
    net: &Network,
    x: &[f64],
    ff: &ForwardState,
    target: &[f64],
    p: &ControllerParams,
    st: &mut ControlState,
    mut noise: Option<(ApicalNoise, &mut R)>,
    mut observe: F,
) {
    st.reset(ff);
    observe(0, st);
    for t in 1..p.steps {
        let nz = noise.as_mut().map(|(ns, rng)| (*ns, &mut **rng));
        euler_step(net, x, target, p, st, nz);
        observe(t, st);
    }
}

/// Accumulates the DFC update integrand Σ_t [φ(v_i) − φ(v^B_i)] r_{i−1}ᵀ of one or more
/// samples without storing trajectories. Each sample is summed over time on its own and
/// then added to the total, so the lane-parallel path (`lanes`) gives the same bits.
#[derive(Debug, Clone)]
pub struct DfcAccumulator {
    /// Σ_samples Σ_t d_i r_{i−1}ᵀ.
    pub w: Vec<Vec<f64>>,
    /// Σ_samples Σ_t d_i.
    pub b: Vec<Vec<f64>>,
    /// Current sample's sums (layer 0's weights via `sum_d0`: r_0 = x is constant, so its
    /// outer product is taken once per sample).
    sw: Vec<Vec<f64>>,
    sb: Vec<Vec<f64>>,
    sum_d0: Vec<f64>,
    phi_vb0: Vec<f64>,
    phi_vb: Vec<f64>,
    d: Vec<f64>,
}

impl DfcAccumulator {
    pub fn for_net(net: &Network) -> Self {
        let max_n = net.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
        let w: Vec<Vec<f64>> = net
            .layers
            .iter()
            .map(|l| vec![0.0; l.w.data.len()])
            .collect();
        let b: Vec<Vec<f64>> = net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect();
        DfcAccumulator {
            sw: w.clone(),
            sb: b.clone(),
            w,
            b,
            sum_d0: vec![0.0; net.layers[0].n_out()],
            phi_vb0: vec![0.0; net.layers[0].n_out()],
            phi_vb: vec![0.0; max_n],
            d: vec![0.0; max_n],
        }
    }

    /// Starts a sample; φ(v^B_1) = r_1^- stays constant over the trajectory.
    pub fn begin_sample(&mut self, ff: &ForwardState) {
        self.sum_d0.fill(0.0);
        self.phi_vb0.copy_from_slice(&ff.r[0]);
    }

    /// Adds time point t of the current sample.
    #[inline]
    pub fn add(&mut self, net: &Network, st: &ControlState) {
        for (i, l) in net.layers.iter().enumerate() {
            let n = l.n_out();
            let phi_vb: &[f64] = if i == 0 {
                &self.phi_vb0
            } else {
                l.act.apply_slice(&st.vb[i], &mut self.phi_vb[..n]);
                &self.phi_vb[..n]
            };
            let d = &mut self.d[..n];
            for j in 0..n {
                d[j] = st.r[i][j] - phi_vb[j];
            }
            for (bj, dj) in self.sb[i].iter_mut().zip(d.iter()) {
                *bj += dj;
            }
            if i == 0 {
                for (s, dj) in self.sum_d0.iter_mut().zip(d.iter()) {
                    *s += dj;
                }
            } else {
                super::linalg::add_outer(&mut self.sw[i], d, &st.r[i - 1]);
            }
        }
    }

    /// Closes the current sample whose input is `x`: adds it to the total.
    pub fn end_sample(&mut self, x: &[f64]) {
        super::linalg::add_outer(&mut self.sw[0], &self.sum_d0, x);
        for (t, s) in self.w.iter_mut().zip(self.sw.iter_mut()) {
            t.iter_mut().zip(s.iter_mut()).for_each(|(a, b)| {
                *a += *b;
                *b = 0.0;
            });
        }
        for (t, s) in self.b.iter_mut().zip(self.sb.iter_mut()) {
            t.iter_mut().zip(s.iter_mut()).for_each(|(a, b)| {
                *a += *b;
                *b = 0.0;
            });
        }
    }

    /// Adds one finished sample's sums (layer-major, as `w`/`b`) to the total.
    pub fn add_sample(&mut self, sw: &[Vec<f64>], sb: &[Vec<f64>]) {
        for (t, s) in self.w.iter_mut().zip(sw) {
            t.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        }
        for (t, s) in self.b.iter_mut().zip(sb) {
            t.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        }
    }

    pub fn add_assign(&mut self, other: &DfcAccumulator) {
        self.add_sample(&other.w, &other.b);
    }
}
