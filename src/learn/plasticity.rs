//! Plasticity rule (5) of Deep Feedback Control over a sampled waveform, dimensionless.
//!
//! τ_W dW_i/dt = (φ(v_i) − φ(v_i^ff)) r_{i−1}ᵀ. Over one sample's controlled phase of length
//! T the plasticity module integrates the integrand on the solver's own (non-uniform) time
//! points with the trapezoidal rule (variant DFC), or takes it at the last time point
//! (DFC-SS). The result follows the ideal model's conventions exactly
//! ([`crate::ideal::dfc::simulate_batch`], [`crate::ideal::dfc::ss_update`]): it is a
//! *gradient-like* quantity
//!
//! ```text
//!   DFC:    g_W_i = −2/B · (1/T) ∫ (φ(v_i) − φ(v_i^ff)) r_{i−1}ᵀ dt
//!   DFC-SS: g_W_i = −2/B ·        (φ(v_i) − φ(v_i^ff)) r_{i−1}ᵀ |_(t = T)
//! ```
//!
//! (biases: the same with r_{i−1} ≡ 1; B the minibatch size; the reference's mean over N
//! Euler points is the continuous-time mean (1/T)∫). The optimiser then clips each tensor to
//! the Frobenius norm `clip` and takes the SGD step ΔW = −(lr/λ)·g, see [`sgd_step`].
//!
//! Inputs are dimensionless: node voltages divided by V_s, time divided by τ_u.

#![allow(clippy::needless_range_loop)]

use crate::ideal::linalg::Mat;
use crate::ideal::network::{Activation, ParamGrads};

/// Which update the plasticity module computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Trajectory average over the controlled phase (trapezoidal rule).
    Dfc,
    /// Final (steady) state of the controlled phase.
    DfcSs,
}

impl Rule {
    pub fn parse(s: &str) -> Option<Rule> {
        match s.to_ascii_lowercase().as_str() {
            "dfc" => Some(Rule::Dfc),
            "dfc-ss" | "dfc_ss" | "dfcss" => Some(Rule::DfcSs),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Rule::Dfc => "dfc",
            Rule::DfcSs => "dfc-ss",
        }
    }
}

/// One time point of a sample's controlled phase, per layer i = 1..L (index i−1):
/// `phi_v[i]` = φ(v_i) (the transfer stage output), `v_ff[i]` = v_i^ff (basal compartment,
/// φ applied here), `r_prev[i]` = r_{i−1} (r_0 = x). All dimensionless.
#[derive(Debug, Clone, Copy)]
pub struct TimePoint<'a> {
    /// Dimensionless time (units of τ_u).
    pub t: f64,
    pub phi_v: &'a [Vec<f64>],
    pub v_ff: &'a [Vec<f64>],
    pub r_prev: &'a [Vec<f64>],
}

/// Accumulates rule (5) over the time points of one or more samples. Buffers are sized once;
/// adding a time point allocates nothing.
#[derive(Debug, Clone)]
pub struct Plasticity {
    rule: Rule,
    /// φ of each layer 1..L (applied to v^ff).
    acts: Vec<Activation>,
    /// Sum over samples of the sample's finished gradient (already scaled).
    sum: ParamGrads,
    /// Current sample: ∫ d rᵀ dt and ∫ d dt.
    int_w: Vec<Mat>,
    int_b: Vec<Vec<f64>>,
    /// Integrand factors at the previous time point: d_i and r_{i−1}.
    prev_d: Vec<Vec<f64>>,
    prev_r: Vec<Vec<f64>>,
    cur_d: Vec<Vec<f64>>,
    t_first: f64,
    t_prev: f64,
    points: usize,
    samples: usize,
}

impl Plasticity {
    /// For layer sizes n_0..n_L and the activations of layers 1..L.
    pub fn new(sizes: &[usize], acts: &[Activation], rule: Rule) -> Plasticity {
        assert!(sizes.len() >= 2 && acts.len() == sizes.len() - 1);
        let w: Vec<Mat> = sizes.windows(2).map(|p| Mat::zeros(p[1], p[0])).collect();
        let b: Vec<Vec<f64>> = sizes[1..].iter().map(|&n| vec![0.0; n]).collect();
        let r: Vec<Vec<f64>> = sizes[..sizes.len() - 1]
            .iter()
            .map(|&n| vec![0.0; n])
            .collect();
        Plasticity {
            rule,
            acts: acts.to_vec(),
            sum: ParamGrads {
                w: w.clone(),
                b: b.clone(),
            },
            int_w: w,
            int_b: b.clone(),
            prev_d: b.clone(),
            prev_r: r,
            cur_d: b,
            t_first: 0.0,
            t_prev: 0.0,
            points: 0,
            samples: 0,
        }
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Starts a sample (forgets any unfinished one).
    pub fn begin_sample(&mut self) {
        for m in &mut self.int_w {
            m.data.fill(0.0);
        }
        for b in &mut self.int_b {
            b.fill(0.0);
        }
        self.points = 0;
    }

    /// Adds one time point of the current sample (times strictly increasing).
    pub fn add(&mut self, p: &TimePoint<'_>) {
        for (i, act) in self.acts.iter().enumerate() {
            for (k, d) in self.cur_d[i].iter_mut().enumerate() {
                *d = p.phi_v[i][k] - act.apply(p.v_ff[i][k]);
            }
        }
        if self.points > 0 && self.rule == Rule::Dfc {
            let half = 0.5 * (p.t - self.t_prev);
            for i in 0..self.acts.len() {
                let (d0, r0) = (&self.prev_d[i], &self.prev_r[i]);
                let (d1, r1) = (&self.cur_d[i], &p.r_prev[i]);
                let m = &mut self.int_w[i];
                let cols = m.cols;
                for k in 0..m.rows {
                    let (a, b) = (half * d0[k], half * d1[k]);
                    let row = &mut m.data[k * cols..(k + 1) * cols];
                    for j in 0..cols {
                        row[j] += a * r0[j] + b * r1[j];
                    }
                    self.int_b[i][k] += a + b;
                }
            }
        }
        if self.points == 0 {
            self.t_first = p.t;
        }
        for i in 0..self.acts.len() {
            self.prev_d[i].copy_from_slice(&self.cur_d[i]);
            self.prev_r[i].copy_from_slice(&p.r_prev[i]);
        }
        self.t_prev = p.t;
        self.points += 1;
    }

    /// Closes the current sample of a minibatch of `batch` samples and adds its gradient
    /// to the minibatch sum. Returns `false` (nothing added) when the sample had no time
    /// points, or (DFC) a zero-length window.
    pub fn end_sample(&mut self, batch: usize) -> bool {
        let scale = -2.0 / batch as f64;
        match self.rule {
            Rule::Dfc => {
                let span = self.t_prev - self.t_first;
                if self.points < 2 || span <= 0.0 {
                    return false;
                }
                let s = scale / span;
                for i in 0..self.acts.len() {
                    for (g, a) in self.sum.w[i].data.iter_mut().zip(&self.int_w[i].data) {
                        *g += s * a;
                    }
                    for (g, a) in self.sum.b[i].iter_mut().zip(&self.int_b[i]) {
                        *g += s * a;
                    }
                }
            }
            Rule::DfcSs => {
                if self.points == 0 {
                    return false;
                }
                for i in 0..self.acts.len() {
                    let m = &mut self.sum.w[i];
                    let cols = m.cols;
                    for k in 0..m.rows {
                        let d = scale * self.prev_d[i][k];
                        for j in 0..cols {
                            m.data[k * cols + j] += d * self.prev_r[i][j];
                        }
                        self.sum.b[i][k] += d;
                    }
                }
            }
        }
        self.samples += 1;
        self.points = 0;
        true
    }

    /// Samples finished since the last [`take`](Self::take).
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The accumulated (unclipped) minibatch gradient; resets the sum.
    pub fn take(&mut self) -> ParamGrads {
        let zero = ParamGrads {
            w: self
                .sum
                .w
                .iter()
                .map(|m| Mat::zeros(m.rows, m.cols))
                .collect(),
            b: self.sum.b.iter().map(|b| vec![0.0; b.len()]).collect(),
        };
        self.samples = 0;
        std::mem::replace(&mut self.sum, zero)
    }
}

/// The weight change of the ideal model's SGD step: clip each tensor to `clip` (≤ 0: off),
/// then ΔW = −η·g with η = lr/λ (`normalize_lr`) or lr.
pub fn sgd_step(
    mut grad: ParamGrads,
    lr: f64,
    lambda: f64,
    normalize_lr: bool,
    clip: f64,
) -> ParamGrads {
    grad.clip_per_tensor(clip);
    let eta = if normalize_lr { lr / lambda } else { lr };
    grad.scale(-eta);
    grad
}

/// Angle in degrees between two flattened updates (NaN if either is zero).
pub fn angle_deg(a: &ParamGrads, b: &ParamGrads) -> f64 {
    let (a, b) = (a.flatten(), b.flatten());
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return f64::NAN;
    }
    (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
}
