//! The layered network of the ideal DFC model (dimensionless): forward weights W_i, biases
//! b_i, direct feedback weights Q_i (n_i × n_L), one activation per layer.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::linalg::{Mat, matvec};

/// Element-wise nonlinearity φ of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Linear,
    Relu,
    Sigmoid,
}

/// Constants of [`fast_exp`], shared with the vector kernel in `lanes` (same bits).
pub mod exp_consts {
    pub const LOG2E: f64 = std::f64::consts::LOG2_E;
    /// ln 2, high 32 bits.
    pub const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    /// ln 2 − LN2_HI.
    pub const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    /// Adding 1.5·2^52 rounds to the nearest integer; its low bits hold k.
    pub const SHIFT: f64 = 6_755_399_441_055_744.0;
    /// Taylor coefficients 1/k!, k = 13 down to 0 (Horner order); truncation < 1e-17 on
    /// |r| ≤ ln2/2.
    pub const TAYLOR: [f64; 14] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];
    /// Exponent bias shifted into place: 2^k has the bits (k + 1023) << 52.
    pub const BIAS: u64 = 1023 << 52;
}

/// e^x for |x| ≤ 709, accurate to about 1 ulp, branch-free so that loops over slices
/// vectorise (libm's tanh dominated the dynamics' run time).
#[inline(always)]
pub fn fast_exp(x: f64) -> f64 {
    use exp_consts::*;
    let kf = x * LOG2E + SHIFT;
    let kr = kf - SHIFT;
    let r = (x - kr * LN2_HI) - kr * LN2_LO; // |r| ≤ ln2/2
    let mut p = TAYLOR[0];
    for c in &TAYLOR[1..] {
        p = p * r + c;
    }
    // kf's low mantissa bits hold k (two's complement): shifting them into the exponent
    // field and adding the bias builds 2^k with integer ops that vectorise.
    let scale = f64::from_bits((kf.to_bits() << 52).wrapping_add(BIAS));
    p * scale
}

/// tanh(v) with absolute error ≲ 2e-16 (what the dynamics need: rates are O(1)).
#[inline(always)]
#[allow(clippy::manual_clamp)] // max/min vectorise; clamp would not change the result
pub fn fast_tanh(v: f64) -> f64 {
    let x = v.max(-20.0).min(20.0);
    let e = fast_exp(2.0 * x);
    (e - 1.0) / (e + 1.0)
}

impl Activation {
    #[inline]
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Activation::Tanh => fast_tanh(v),
            Activation::Linear => v,
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }

    /// φ'(v); the ReLU derivative at 0 is 0, as in torch.
    #[inline]
    pub fn derivative(self, v: f64) -> f64 {
        match self {
            Activation::Tanh => {
                let t = fast_tanh(v);
                1.0 - t * t
            }
            Activation::Linear => 1.0,
            Activation::Relu => {
                if v > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-v).exp());
                s * (1.0 - s)
            }
        }
    }

    #[inline]
    pub fn apply_slice(self, v: &[f64], r: &mut [f64]) {
        match self {
            Activation::Linear => r.copy_from_slice(v),
            Activation::Tanh => {
                for (ri, &vi) in r.iter_mut().zip(v) {
                    *ri = fast_tanh(vi);
                }
            }
            _ => {
                for (ri, &vi) in r.iter_mut().zip(v) {
                    *ri = self.apply(vi);
                }
            }
        }
    }
}

/// One layer: v_i = W_i r_{i-1} + b_i (+ Q_i u during control), r_i = φ(v_i).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// n_out × n_in.
    pub w: Mat,
    pub b: Vec<f64>,
    /// n_out × n_L.
    pub q: Mat,
    pub act: Activation,
}

impl Layer {
    pub fn n_in(&self) -> usize {
        self.w.cols
    }
    pub fn n_out(&self) -> usize {
        self.w.rows
    }
}

/// How the feedback weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackInit {
    /// Q_i = W_{i+1}ᵀ ⋯ W_Lᵀ, Q_L = I.
    WeightProduct,
    /// Xavier-normal Q_i, Q_L = I.
    XavierNormal,
    /// Q = 0: a network only run forward (a teacher); draws nothing from the RNG.
    Zero,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub layers: Vec<Layer>,
}

/// Feed-forward values of one sample: v_i^- and r_i^- for every layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardState {
    pub v: Vec<Vec<f64>>,
    pub r: Vec<Vec<f64>>,
}

/// Xavier-normal: N(0, gain²·2/(fan_in+fan_out)).
pub fn xavier_normal<R: Rng + ?Sized>(rows: usize, cols: usize, gain: f64, rng: &mut R) -> Mat {
    let std = gain * (2.0 / (rows + cols) as f64).sqrt();
    let normal = Normal::new(0.0, std).expect("finite std");
    let mut m = Mat::zeros(rows, cols);
    for x in m.data.iter_mut() {
        *x = normal.sample(rng);
    }
    m
}

impl Network {
    /// Layer sizes [n_0, n_1, …, n_L], activations for layers 1..L.
    pub fn new_random<R: Rng + ?Sized>(
        sizes: &[usize],
        acts: &[Activation],
        fb_init: FeedbackInit,
        rng: &mut R,
    ) -> Network {
        assert!(sizes.len() >= 2 && acts.len() == sizes.len() - 1);
        let n_l = *sizes.last().unwrap();
        let mut layers = Vec::new();
        for i in 1..sizes.len() {
            let w = xavier_normal(sizes[i], sizes[i - 1], 1.0, rng);
            layers.push(Layer {
                w,
                b: vec![0.0; sizes[i]],
                q: Mat::zeros(sizes[i], n_l),
                act: acts[i - 1],
            });
        }
        let mut net = Network { layers };
        match fb_init {
            FeedbackInit::WeightProduct => net.set_weight_product_feedback(),
            FeedbackInit::XavierNormal => {
                let depth = net.depth();
                for l in net.layers[..depth - 1].iter_mut() {
                    l.q = xavier_normal(l.n_out(), n_l, 1.0, rng);
                }
                net.layers[depth - 1].q = Mat::identity(n_l);
            }
            FeedbackInit::Zero => {}
        }
        net
    }

    pub fn depth(&self) -> usize {
        self.layers.len()
    }
    pub fn n_in(&self) -> usize {
        self.layers[0].n_in()
    }
    pub fn n_out(&self) -> usize {
        self.layers.last().unwrap().n_out()
    }
    pub fn sizes(&self) -> Vec<usize> {
        let mut s = vec![self.n_in()];
        s.extend(self.layers.iter().map(|l| l.n_out()));
        s
    }
    /// Σ_i n_i (length of v̄).
    pub fn total_units(&self) -> usize {
        self.layers.iter().map(|l| l.n_out()).sum()
    }
    /// Number of forward parameters [W_1, b_1, …].
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(|l| l.w.data.len() + l.b.len()).sum()
    }

    /// Q_i = W_{i+1}ᵀ ⋯ W_Lᵀ, Q_L = I.
    pub fn set_weight_product_feedback(&mut self) {
        let depth = self.depth();
        let n_l = self.n_out();
        self.layers[depth - 1].q = Mat::identity(n_l);
        for i in (0..depth - 1).rev() {
            let next_t = self.layers[i + 1].w.transpose();
            let q = next_t.matmul(&self.layers[i + 1].q);
            self.layers[i].q = q;
        }
    }

    /// Feed-forward pass of one sample into `fs` (allocated by `ForwardState::for_net`).
    pub fn forward_into(&self, x: &[f64], fs: &mut ForwardState) {
        for i in 0..self.depth() {
            let l = &self.layers[i];
            let (prev, rest) = fs.r.split_at_mut(i);
            let input: &[f64] = if i == 0 { x } else { &prev[i - 1] };
            let v = &mut fs.v[i];
            matvec(&l.w.data, l.n_out(), l.n_in(), input, v);
            for (vj, bj) in v.iter_mut().zip(&l.b) {
                *vj += bj;
            }
            l.act.apply_slice(v, &mut rest[0]);
        }
    }

    /// Outputs r_L of the samples `xs` (rows), `block` samples at a time: each weight row
    /// is read once per block instead of once per sample (a teacher of 1000-wide layers
    /// does not fit in cache). Same operations in the same order as [`Network::forward`],
    /// so the same bits.
    pub fn forward_outputs(&self, xs: &[f64], n_samples: usize, block: usize) -> Vec<f64> {
        let n_out = self.n_out();
        let mut out = vec![0.0; n_samples * n_out];
        if self.depth() == 0 || n_samples == 0 {
            return out;
        }
        let n_in = self.layers[0].n_in();
        let block = block.max(1);
        let widest = self.layers.iter().map(|l| l.n_out()).max().unwrap_or(0);
        let mut cur = vec![0.0; block * widest.max(n_in)];
        let mut next = cur.clone();
        let mut v = vec![0.0; block * widest];
        for (b0, chunk) in (0..n_samples)
            .step_by(block)
            .map(|b0| (b0, block.min(n_samples - b0)))
        {
            cur[..chunk * n_in].copy_from_slice(&xs[b0 * n_in..(b0 + chunk) * n_in]);
            let mut width = n_in;
            for l in &self.layers {
                let (ni, no) = (l.n_in(), l.n_out());
                debug_assert_eq!(ni, width);
                let x_of = |s: usize| &cur[s * ni..(s + 1) * ni];
                for (i, wrow) in l.w.data.chunks_exact(ni).enumerate() {
                    let mut s = 0;
                    while s + 8 <= chunk {
                        let d = super::linalg::dots8(wrow, std::array::from_fn(|j| x_of(s + j)));
                        for (j, dj) in d.into_iter().enumerate() {
                            v[(s + j) * no + i] = dj + l.b[i];
                        }
                        s += 8;
                    }
                    for s in s..chunk {
                        v[s * no + i] = super::linalg::dot(wrow, x_of(s)) + l.b[i];
                    }
                }
                for s in 0..chunk {
                    l.act
                        .apply_slice(&v[s * no..(s + 1) * no], &mut next[s * no..(s + 1) * no]);
                }
                std::mem::swap(&mut cur, &mut next);
                width = no;
            }
            out[b0 * n_out..(b0 + chunk) * n_out].copy_from_slice(&cur[..chunk * n_out]);
        }
        out
    }

    pub fn forward(&self, x: &[f64]) -> ForwardState {
        let mut fs = ForwardState::for_net(self);
        self.forward_into(x, &mut fs);
        fs
    }

    /// Per-layer Jacobians J_i = ∂r_L/∂v_i (n_L × n_i) at the pre-activations `v`:
    /// J_L = diag(φ'_L), J_i = J_{i+1} W_{i+1} diag(φ'_i).
    pub fn jacobians(&self, v: &[Vec<f64>]) -> Vec<Mat> {
        let depth = self.depth();
        let n_l = self.n_out();
        let mut js: Vec<Mat> = Vec::with_capacity(depth);
        let mut jl = Mat::zeros(n_l, n_l);
        for k in 0..n_l {
            jl.data[k * n_l + k] = self.layers[depth - 1].act.derivative(v[depth - 1][k]);
        }
        js.push(jl);
        for i in (0..depth - 1).rev() {
            let next = js.last().unwrap();
            let mut j = next.matmul(&self.layers[i + 1].w);
            let l = &self.layers[i];
            for row in 0..n_l {
                for c in 0..l.n_out() {
                    j.data[row * l.n_out() + c] *= l.act.derivative(v[i][c]);
                }
            }
            js.push(j);
        }
        js.reverse();
        js
    }

    /// Q̄ = [Q_1; …; Q_L] (Σn_i × n_L).
    pub fn full_q(&self) -> Mat {
        let n_l = self.n_out();
        let mut data = Vec::with_capacity(self.total_units() * n_l);
        for l in &self.layers {
            data.extend_from_slice(&l.q.data);
        }
        Mat {
            rows: self.total_units(),
            cols: n_l,
            data,
        }
    }

    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(|l| {
            l.w.data
                .iter()
                .chain(&l.b)
                .chain(&l.q.data)
                .all(|x| x.is_finite())
        })
    }
}

impl ForwardState {
    pub fn for_net(net: &Network) -> Self {
        let v: Vec<Vec<f64>> = net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect();
        ForwardState { r: v.clone(), v }
    }
}

/// Forward parameter gradients/updates in the layout of the network: W_i and b_i.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGrads {
    pub w: Vec<Mat>,
    pub b: Vec<Vec<f64>>,
}

impl ParamGrads {
    pub fn zeros_like(net: &Network) -> Self {
        ParamGrads {
            w: net
                .layers
                .iter()
                .map(|l| Mat::zeros(l.n_out(), l.n_in()))
                .collect(),
            b: net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect(),
        }
    }

    /// Concatenation [W_1, b_1, W_2, b_2, …] (row-major W).
    pub fn flatten(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for (w, b) in self.w.iter().zip(&self.b) {
            out.extend_from_slice(&w.data);
            out.extend_from_slice(b);
        }
        out
    }

    pub fn scale(&mut self, s: f64) {
        for w in &mut self.w {
            w.data.iter_mut().for_each(|x| *x *= s);
        }
        for b in &mut self.b {
            b.iter_mut().for_each(|x| *x *= s);
        }
    }

    pub fn add_assign(&mut self, other: &ParamGrads) {
        for (a, b) in self.w.iter_mut().zip(&other.w) {
            a.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.b.iter_mut().zip(&other.b) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
    }

    /// Clips every tensor on its own to Frobenius norm `max_norm` (torch's
    /// clip_grad_norm_: g·min(1, max/(‖g‖+1e-6))). No-op for max_norm ≤ 0.
    pub fn clip_per_tensor(&mut self, max_norm: f64) {
        if max_norm <= 0.0 {
            return;
        }
        for w in &mut self.w {
            clip_slice(&mut w.data, max_norm);
        }
        for b in &mut self.b {
            clip_slice(b, max_norm);
        }
    }
}

/// g ← g·min(1, max_norm/(‖g‖+1e-6)).
pub fn clip_slice(g: &mut [f64], max_norm: f64) {
    let n = super::linalg::norm(g);
    let coef = max_norm / (n + 1e-6);
    if coef < 1.0 {
        g.iter_mut().for_each(|x| *x *= coef);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_outputs_in_blocks_gives_the_bits_of_forward() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(7);
        let sizes = [7, 13, 6, 5];
        let acts = [Activation::Relu, Activation::Tanh, Activation::Linear];
        let mut net = Network::new_random(&sizes, &acts, FeedbackInit::WeightProduct, &mut rng);
        for l in net.layers.iter_mut() {
            l.b.iter_mut()
                .enumerate()
                .for_each(|(k, b)| *b = 0.1 * k as f64 - 0.2);
        }
        let n = 19;
        let xs: Vec<f64> = (0..n * 7)
            .map(|k| ((k * 37 % 23) as f64 - 11.0) / 7.0)
            .collect();
        let single: Vec<u64> = (0..n)
            .flat_map(|s| {
                net.forward(&xs[s * 7..(s + 1) * 7])
                    .r
                    .last()
                    .unwrap()
                    .clone()
            })
            .map(f64::to_bits)
            .collect();
        for block in [1, 3, 8, 9, 16] {
            let batched: Vec<u64> = net
                .forward_outputs(&xs, n, block)
                .into_iter()
                .map(f64::to_bits)
                .collect();
            assert_eq!(batched, single, "block {block}");
        }
    }

    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst: f64 = 0.0;
        let mut worst_exp: f64 = 0.0;
        for k in -400_000..=400_000 {
            let v = k as f64 * 5e-5 + 1e-7;
            worst = worst.max((fast_tanh(v) - v.tanh()).abs());
            let e = 2.0 * v;
            worst_exp = worst_exp.max(((fast_exp(e) - e.exp()) / e.exp()).abs());
        }
        assert!(worst < 5e-16, "tanh abs error {worst:e}");
        assert!(worst_exp < 4e-16, "exp rel error {worst_exp:e}");
        assert_eq!(fast_tanh(50.0), 1.0);
        assert_eq!(fast_tanh(-50.0), -1.0);
        assert_eq!(fast_tanh(0.0), 0.0);
    }
}
