//! Metrics of the paper's §6.1 as the reference code computes them (see
//! `DFC-REFERENCE.md`, "Metrics"): Condition 1 and 2, angles of the actual update to the
//! BP, damped Gauss-Newton (GN), weighted minimum-norm (MN) and DFC-SSA updates, and the
//! largest real eigenvalue of the PI system matrix.

use faer::Mat as FMat;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::controller::ControllerParams;
use super::dfc::{BatchForward, FinalState, ssa_batch};
use super::linalg::{Mat, add_outer, angle_deg, matvec_t, norm, solve_in_place};
use super::network::{Network, ParamGrads};

/// Damping γ of the GN and MN reference updates.
pub const GN_DAMPING: f64 = 0.1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub gn_angle_deg: f64,
    pub mn_angle_deg: f64,
    pub bp_angle_deg: f64,
    pub ssa_angle_deg: f64,
    pub gn_angles_layer_deg: Vec<f64>,
    pub mn_angles_layer_deg: Vec<f64>,
    pub bp_angles_layer_deg: Vec<f64>,
    pub ssa_angles_layer_deg: Vec<f64>,
    pub condition_1: f64,
    pub condition_1_per_sample: Vec<f64>,
    pub condition_2: f64,
    pub lambda_max: f64,
    pub lambda_max_per_sample: Vec<f64>,
}

/// Backpropagation gradient of the minibatch-mean loss.
pub fn bp_gradient(net: &Network, xs: &[&[f64]], bf: &BatchForward) -> ParamGrads {
    let mut g = ParamGrads::zeros_like(net);
    let depth = net.depth();
    for s in 0..xs.len() {
        let ff = &bf.ff[s];
        let mut delta: Vec<f64> = bf.grad_out[s]
            .iter()
            .zip(&ff.v[depth - 1])
            .map(|(gk, v)| gk * net.layers[depth - 1].act.derivative(*v))
            .collect();
        for i in (0..depth).rev() {
            let l = &net.layers[i];
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            add_outer(&mut g.w[i].data, &delta, input);
            g.b[i].iter_mut().zip(&delta).for_each(|(a, d)| *a += d);
            if i > 0 {
                let mut back = vec![0.0; l.n_in()];
                matvec_t(&l.w.data, l.n_out(), l.n_in(), &delta, &mut back);
                let prev = &net.layers[i - 1];
                for (k, bk) in back.iter_mut().enumerate() {
                    *bk *= prev.act.derivative(ff.v[i - 1][k]);
                }
                delta = back;
            }
        }
    }
    g
}

/// (A + γI)^{-1} g for a small square A.
fn damped_solve(a: &Mat, gamma: f64, g: &[f64]) -> Vec<f64> {
    let n = a.rows;
    let mut m = a.data.clone();
    for k in 0..n {
        m[k * n + k] += gamma;
    }
    let mut w = g.to_vec();
    if !solve_in_place(&mut m, n, &mut w, 1) {
        w.iter_mut().for_each(|x| *x = f64::NAN);
    }
    w
}

fn add_jjt(acc: &mut Mat, j: &Mat, scale: f64) {
    let (n, c) = (j.rows, j.cols);
    for a in 0..n {
        for b in 0..n {
            let s: f64 = (0..c).map(|k| j.data[a * c + k] * j.data[b * c + k]).sum();
            acc.data[a * n + b] += scale * s;
        }
    }
}

/// Damped GN update mean_b J_θᵀ(J_θJ_θᵀ + γI)^{-1} g_b over all weights and biases.
pub fn gn_update(net: &Network, xs: &[&[f64]], bf: &BatchForward, gamma: f64) -> ParamGrads {
    let mut g = ParamGrads::zeros_like(net);
    let n_l = net.n_out();
    let bsz = xs.len() as f64;
    for s in 0..xs.len() {
        let ff = &bf.ff[s];
        let js = net.jacobians(&ff.v);
        let mut jjt = Mat::zeros(n_l, n_l);
        for (i, j) in js.iter().enumerate() {
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            add_jjt(&mut jjt, j, norm(input).powi(2) + 1.0);
        }
        let w = damped_solve(&jjt, gamma, &bf.grad_out[s]);
        for (i, j) in js.iter().enumerate() {
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            let mut jtw = vec![0.0; j.cols];
            matvec_t(&j.data, j.rows, j.cols, &w, &mut jtw);
            jtw.iter_mut().for_each(|x| *x /= bsz);
            add_outer(&mut g.w[i].data, &jtw, input);
            g.b[i].iter_mut().zip(&jtw).for_each(|(a, d)| *a += d);
        }
    }
    g
}

/// Weighted minimum-norm update: Δv̄ = J̄ᵀ(J̄J̄ᵀ + γI)^{-1} g per sample, then
/// ΔW_i = mean_b [φ(v_i^- + Δv_i) − φ(v_i^-)] r_{i−1}^{-ᵀ} (`nonlinear`) or Δv_i r_{i−1}^{-ᵀ}.
pub fn mn_update(
    net: &Network,
    xs: &[&[f64]],
    bf: &BatchForward,
    gamma: f64,
    nonlinear: bool,
) -> ParamGrads {
    let mut g = ParamGrads::zeros_like(net);
    let n_l = net.n_out();
    let bsz = xs.len() as f64;
    for s in 0..xs.len() {
        let ff = &bf.ff[s];
        let js = net.jacobians(&ff.v);
        let mut jjt = Mat::zeros(n_l, n_l);
        for j in &js {
            add_jjt(&mut jjt, j, 1.0);
        }
        let w = damped_solve(&jjt, gamma, &bf.grad_out[s]);
        for (i, j) in js.iter().enumerate() {
            let l = &net.layers[i];
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            let mut dv = vec![0.0; j.cols];
            matvec_t(&j.data, j.rows, j.cols, &w, &mut dv);
            let upd: Vec<f64> = if nonlinear {
                dv.iter()
                    .zip(&ff.v[i])
                    .map(|(d, v)| (l.act.apply(v + d) - l.act.apply(*v)) / bsz)
                    .collect()
            } else {
                dv.iter().map(|d| d / bsz).collect()
            };
            add_outer(&mut g.w[i].data, &upd, input);
            g.b[i].iter_mut().zip(&upd).for_each(|(a, d)| *a += d);
        }
    }
    g
}

/// Condition 2 of one sample: ‖J̄ᵀ(J̄J̄ᵀ)^{-1}J̄ Q̄‖_F / ‖Q̄‖_F.
pub fn condition_2_sample(net: &Network, js: &[Mat]) -> f64 {
    let n_l = net.n_out();
    let mut g = Mat::zeros(n_l, n_l);
    let mut m = Mat::zeros(n_l, n_l);
    let mut q_norm2 = 0.0;
    for (j, l) in js.iter().zip(&net.layers) {
        add_jjt(&mut g, j, 1.0);
        let jq = j.matmul(&l.q);
        m.data.iter_mut().zip(&jq.data).for_each(|(a, b)| *a += b);
        q_norm2 += l.q.data.iter().map(|x| x * x).sum::<f64>();
    }
    // ‖P Q̄‖²_F = tr(Mᵀ G^{-1} M) with M = J̄Q̄, G = J̄J̄ᵀ.
    let mut x = m.data.clone();
    let mut gd = g.data.clone();
    if !solve_in_place(&mut gd, n_l, &mut x, n_l) {
        return f64::NAN;
    }
    let tr: f64 = m.data.iter().zip(&x).map(|(a, b)| a * b).sum();
    (tr.max(0.0) / q_norm2).sqrt()
}

/// Condition 1 (as coded in the reference): n_0 = ‖x‖, n_k = ‖r_k^-‖ for hidden k,
/// m = mean; sqrt(Σ(n_k − m)² / (L·m)).
pub fn condition_1_sample(net: &Network, x: &[f64], r: &[Vec<f64>]) -> f64 {
    let depth = net.depth();
    let mut norms = vec![norm(x)];
    norms.extend(r[..depth - 1].iter().map(|ri| norm(ri)));
    let l = depth as f64;
    let m = norms.iter().sum::<f64>() / l;
    let var: f64 = norms.iter().map(|n| (n - m) * (n - m)).sum();
    (var / l / m).sqrt()
}

/// PI system matrix A at the pre-activations `v` (see `DFC-REFERENCE.md`).
pub fn system_matrix(net: &Network, v: &[Vec<f64>], p: &ControllerParams) -> FMat<f64> {
    let depth = net.depth();
    let n_l = net.n_out();
    let sizes: Vec<usize> = net.layers.iter().map(|l| l.n_out()).collect();
    let offs: Vec<usize> = sizes
        .iter()
        .scan(0, |acc, &n| {
            let o = *acc;
            *acc += n;
            Some(o)
        })
        .collect();
    let sv = net.total_units();
    let n = sv + n_l;
    let js = net.jacobians(v);
    // a11 = (I − Ĵ)/ratio, Ĵ block sub-diagonal W_i diag(φ'_{i−1}).
    let mut a11 = Mat::identity(sv);
    for i in 1..depth {
        let l = &net.layers[i];
        let prev = &net.layers[i - 1];
        for r in 0..l.n_out() {
            for c in 0..l.n_in() {
                a11.data[(offs[i] + r) * sv + offs[i - 1] + c] -=
                    l.w.at(r, c) * prev.act.derivative(v[i - 1][c]);
            }
        }
    }
    a11.data.iter_mut().for_each(|x| *x /= p.ratio);
    let q = net.full_q();
    let a11q = a11.matmul(&q);
    let kr = p.k_p / p.ratio;
    let jl = &js[depth - 1];
    let jlql = jl.matmul(&net.layers[depth - 1].q);
    FMat::from_fn(n, n, |r, c| {
        if r < sv {
            if c < sv {
                -a11.data[r * sv + c]
            } else {
                a11q.data[r * n_l + (c - sv)]
            }
        } else {
            let rr = r - sv;
            if c < sv {
                // −J̄ + k_p/ratio·J_L0
                let layer = offs.iter().rposition(|&o| o <= c).unwrap();
                let cc = c - offs[layer];
                let jv = js[layer].data[rr * sizes[layer] + cc];
                if layer == depth - 1 {
                    -jv + kr * jv
                } else {
                    -jv
                }
            } else {
                let cc = c - sv;
                let id = if rr == cc { p.alpha } else { 0.0 };
                -(id + kr * jlql.data[rr * n_l + cc])
            }
        }
    })
}

/// Largest real part of the eigenvalues of the PI system matrix.
pub fn lambda_max(net: &Network, v: &[Vec<f64>], p: &ControllerParams) -> f64 {
    let a = system_matrix(net, v, p);
    match a.eigenvalues() {
        Ok(ev) => ev.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max),
        Err(_) => f64::NAN,
    }
}

/// Per-layer weight angles and the total angle over [W_1, b_1, …].
fn angles(reference: &ParamGrads, update: &ParamGrads) -> (f64, Vec<f64>) {
    let total = angle_deg(&reference.flatten(), &update.flatten());
    let layers = reference
        .w
        .iter()
        .zip(&update.w)
        .map(|(a, b)| angle_deg(&a.data, &b.data))
        .collect();
    (total, layers)
}

/// All metrics for the minibatch, given the actual (clipped) `update`. `finals` is the
/// simulated last state (None for variants without simulation: the feed-forward point
/// is used). `clip` is the per-tensor clipping norm applied to the SSA update.
pub fn compute(
    net: &Network,
    xs: &[&[f64]],
    bf: &BatchForward,
    update: &ParamGrads,
    finals: Option<&[FinalState]>,
    p: &ControllerParams,
    clip: f64,
    mn_nonlinear: bool,
) -> Metrics {
    let bsz = xs.len();
    let bp = bp_gradient(net, xs, bf);
    let gn = gn_update(net, xs, bf, GN_DAMPING);
    let mn = mn_update(net, xs, bf, GN_DAMPING, mn_nonlinear);
    let (mut ssa, _) = ssa_batch(net, xs, bf, p.alpha, finals);
    ssa.clip_per_tensor(clip);
    let (gn_angle_deg, gn_angles_layer_deg) = angles(&gn, update);
    let (mn_angle_deg, mn_angles_layer_deg) = angles(&mn, update);
    let (bp_angle_deg, bp_angles_layer_deg) = angles(&bp, update);
    let (ssa_angle_deg, ssa_angles_layer_deg) = angles(&ssa, update);
    let per: Vec<(f64, f64, f64)> = (0..bsz)
        .into_par_iter()
        .map(|s| {
            let ff = &bf.ff[s];
            let js = net.jacobians(&ff.v);
            let c2 = condition_2_sample(net, &js);
            let c1 = condition_1_sample(net, xs[s], &ff.r);
            let v = finals.map_or(&ff.v, |f| &f[s].vs);
            (c1, c2, lambda_max(net, v, p))
        })
        .collect();
    let mean = |f: &dyn Fn(&(f64, f64, f64)) -> f64| per.iter().map(f).sum::<f64>() / bsz as f64;
    Metrics {
        gn_angle_deg,
        mn_angle_deg,
        bp_angle_deg,
        ssa_angle_deg,
        gn_angles_layer_deg,
        mn_angles_layer_deg,
        bp_angles_layer_deg,
        ssa_angles_layer_deg,
        condition_1: mean(&|x| x.0),
        condition_1_per_sample: per.iter().map(|x| x.0).collect(),
        condition_2: mean(&|x| x.1),
        lambda_max: mean(&|x| x.2),
        lambda_max_per_sample: per.iter().map(|x| x.2).collect(),
    }
}
