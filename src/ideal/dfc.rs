//! Minibatch-level DFC: output targets, the simulated forward ("wake") phase with its
//! trajectory-averaged (DFC) or last-step (DFC-SS) update, and the analytical steady
//! state of Lemma 1 (DFC-SSA). Samples run in parallel in fixed-size chunks whose partial
//! sums are added in chunk order, so the bits do not depend on the thread count.

use rayon::prelude::*;

use super::controller::{self, ControlState, ControllerParams, DfcAccumulator};
use super::lanes::{self, LANES};
use super::linalg::{Mat, add_outer, matvec, solve_in_place};
use super::loss::Loss;
use super::network::{ForwardState, Network, ParamGrads};

/// Samples per parallel work item; fixed so that the summation order never changes.
pub const CHUNK: usize = 8;

/// Feed-forward pass of a minibatch and its output targets r_L* = r_L^- − λ ∂ℒ/∂r_L.
#[derive(Debug, Clone)]
pub struct BatchForward {
    pub ff: Vec<ForwardState>,
    /// ∂ℒ/∂r_L per sample (ℒ the minibatch-mean loss).
    pub grad_out: Vec<Vec<f64>>,
    /// r_L* per sample.
    pub targets: Vec<Vec<f64>>,
    /// Minibatch-mean loss.
    pub loss: f64,
}

pub fn forward_batch(
    net: &Network,
    xs: &[&[f64]],
    ys: &[&[f64]],
    loss: Loss,
    lambda: f64,
) -> BatchForward {
    let b = xs.len();
    let ff: Vec<ForwardState> = xs.par_iter().map(|x| net.forward(x)).collect();
    let mut grad_out = Vec::with_capacity(b);
    let mut targets = Vec::with_capacity(b);
    let mut total = 0.0;
    for (s, y) in ff.iter().zip(ys) {
        let rl = s.r.last().unwrap();
        total += loss.sample_loss(rl, y);
        let mut g = vec![0.0; rl.len()];
        loss.gradient(rl, y, b, &mut g);
        targets.push(rl.iter().zip(&g).map(|(r, gi)| r - lambda * gi).collect());
        grad_out.push(g);
    }
    BatchForward {
        ff,
        grad_out,
        targets,
        loss: total / b as f64,
    }
}

/// State of one sample at the last simulated time point N−1.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalState {
    pub vs: Vec<Vec<f64>>,
    pub vb: Vec<Vec<f64>>,
    pub r: Vec<Vec<f64>>,
    pub u: Vec<f64>,
}

/// Values of one sample at the requested trace time points: [step][layer][unit].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleTrace {
    pub u: Vec<Vec<f64>>,
    pub vs: Vec<Vec<Vec<f64>>>,
    pub vb: Vec<Vec<Vec<f64>>>,
    pub r: Vec<Vec<Vec<f64>>>,
}

/// Result of simulating a minibatch.
#[derive(Debug, Clone)]
pub struct SimOutput {
    /// DFC update −2/(B·N) Σ_t Σ_b [φ(v_i) − φ(v^B_i)] r_{i−1}ᵀ (unclipped), if asked for.
    pub dfc: Option<ParamGrads>,
    pub finals: Vec<FinalState>,
    /// Per sample, if trace steps were given.
    pub traces: Vec<SampleTrace>,
}

/// Simulates the controlled dynamics of every sample of the minibatch.
pub fn simulate_batch(
    net: &Network,
    xs: &[&[f64]],
    bf: &BatchForward,
    p: &ControllerParams,
    accumulate_dfc: bool,
    trace_steps: &[usize],
) -> SimOutput {
    let b = xs.len();
    let idx: Vec<usize> = (0..b).collect();
    let parts: Vec<(Option<DfcAccumulator>, Vec<FinalState>, Vec<SampleTrace>)> = idx
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut st = ControlState::for_net(net);
            let mut acc = accumulate_dfc.then(|| DfcAccumulator::for_net(net));
            let mut finals = Vec::with_capacity(chunk.len());
            let mut traces = Vec::with_capacity(chunk.len());
            if trace_steps.is_empty() && p.inst_transmission && lanes::available() {
                // Lock-step lanes: same bits as the scalar loop below, several times faster.
                for group in chunk.chunks(LANES) {
                    let pick = |q: usize| group[q.min(group.len() - 1)];
                    let finals_g = lanes::simulate_lanes(
                        net,
                        std::array::from_fn(|q| xs[pick(q)]),
                        std::array::from_fn(|q| &bf.ff[pick(q)]),
                        std::array::from_fn(|q| bf.targets[pick(q)].as_slice()),
                        p,
                        group.len(),
                        acc.as_mut(),
                    )
                    .expect("lane kernel available");
                    finals.extend(finals_g);
                    traces.extend(group.iter().map(|_| SampleTrace::default()));
                }
                return (acc, finals, traces);
            }
            for &s in chunk {
                let mut tr = SampleTrace::default();
                if let Some(a) = acc.as_mut() {
                    a.begin_sample(&bf.ff[s]);
                }
                controller::run::<rand::rngs::ChaCha8Rng, _>(
                    net,
                    xs[s],
                    &bf.ff[s],
                    &bf.targets[s],
                    p,
                    &mut st,
                    None,
                    |t, st| {
                        if let Some(a) = acc.as_mut() {
                            a.add(net, st);
                        }
                        if trace_steps.contains(&t) {
                            tr.u.push(st.u.clone());
                            tr.vs.push(st.vs.clone());
                            tr.vb.push(st.vb.clone());
                            tr.r.push(st.r.clone());
                        }
                    },
                );
                if let Some(a) = acc.as_mut() {
                    a.end_sample(xs[s]);
                }
                finals.push(FinalState {
                    vs: st.vs.clone(),
                    vb: st.vb.clone(),
                    r: st.r.clone(),
                    u: st.u.clone(),
                });
                traces.push(tr);
            }
            (acc, finals, traces)
        })
        .collect();
    let mut total: Option<DfcAccumulator> = None;
    let mut finals = Vec::with_capacity(b);
    let mut traces = Vec::with_capacity(b);
    for (acc, f, t) in parts {
        if let Some(a) = acc {
            match total.as_mut() {
                None => total = Some(a),
                Some(tot) => tot.add_assign(&a),
            }
        }
        finals.extend(f);
        traces.extend(t);
    }
    let dfc = total.map(|acc| {
        let mut g = ParamGrads::zeros_like(net);
        let scale = -2.0 / (b as f64 * p.steps as f64);
        for i in 0..net.depth() {
            for (gw, aw) in g.w[i].data.iter_mut().zip(&acc.w[i]) {
                *gw = scale * aw;
            }
            for (gb, ab) in g.b[i].iter_mut().zip(&acc.b[i]) {
                *gb = scale * ab;
            }
        }
        g
    });
    if trace_steps.is_empty() {
        traces.clear();
    }
    SimOutput {
        dfc,
        finals,
        traces,
    }
}

/// Steady-state update rule evaluated layer by layer from Δv_i:
/// grad W_i = −2/B Σ_b [φ(W_i r_{i−1} + b_i + Δv_i) − φ(W_i r_{i−1} + b_i)] r_{i−1}ᵀ,
/// with r_{i−1} = `r_prev[b][i−1]` (r_0 = x). Unclipped.
pub fn steady_state_update(
    net: &Network,
    xs: &[&[f64]],
    dv: &[Vec<Vec<f64>>],
    r_prev: &[Vec<Vec<f64>>],
) -> ParamGrads {
    let bsz = xs.len();
    let mut g = ParamGrads::zeros_like(net);
    for s in 0..bsz {
        for (i, l) in net.layers.iter().enumerate() {
            let input: &[f64] = if i == 0 { xs[s] } else { &r_prev[s][i - 1] };
            let n = l.n_out();
            let mut vb = vec![0.0; n];
            matvec(&l.w.data, n, l.n_in(), input, &mut vb);
            let mut d = vec![0.0; n];
            for j in 0..n {
                vb[j] += l.b[j];
                d[j] = l.act.apply(dv[s][i][j] + vb[j]) - l.act.apply(vb[j]);
            }
            add_outer(&mut g.w[i].data, &d, input);
            for j in 0..n {
                g.b[i][j] += d[j];
            }
        }
    }
    g.scale(-2.0 / bsz as f64);
    g
}

/// DFC-SS update from the last simulated time point.
pub fn ss_update(net: &Network, xs: &[&[f64]], finals: &[FinalState]) -> ParamGrads {
    let dv: Vec<Vec<Vec<f64>>> = finals
        .iter()
        .map(|f| {
            f.vs.iter()
                .zip(&f.vb)
                .map(|(s, b)| s.iter().zip(b).map(|(x, y)| x - y).collect())
                .collect()
        })
        .collect();
    let r_prev: Vec<Vec<Vec<f64>>> = finals.iter().map(|f| f.r.clone()).collect();
    steady_state_update(net, xs, &dv, &r_prev)
}

/// Lemma-1 steady state of one sample: u = (J̄Q̄ + αI)^{-1} δ_L at the feed-forward point,
/// Δv_i = Q_i u, and the steady-state targets v_i = W_i r_{i−1} + b_i + Δv_i, r_i = φ(v_i).
#[derive(Debug, Clone, PartialEq)]
pub struct SsaSample {
    pub u: Vec<f64>,
    pub dv: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
    pub r: Vec<Vec<f64>>,
}

pub fn ssa_sample(
    net: &Network,
    x: &[f64],
    ff: &ForwardState,
    target: &[f64],
    alpha: f64,
) -> SsaSample {
    let n_l = net.n_out();
    let js = net.jacobians(&ff.v);
    let mut m = Mat::zeros(n_l, n_l);
    for (j, l) in js.iter().zip(&net.layers) {
        let jq = j.matmul(&l.q);
        m.data.iter_mut().zip(&jq.data).for_each(|(a, b)| *a += b);
    }
    for k in 0..n_l {
        m.data[k * n_l + k] += alpha;
    }
    let rl = ff.r.last().unwrap();
    let mut u: Vec<f64> = target.iter().zip(rl).map(|(t, r)| t - r).collect();
    if !solve_in_place(&mut m.data, n_l, &mut u, 1) {
        u.iter_mut().for_each(|x| *x = f64::NAN);
    }
    let mut dv = Vec::with_capacity(net.depth());
    let mut v = Vec::with_capacity(net.depth());
    let mut r: Vec<Vec<f64>> = Vec::with_capacity(net.depth());
    for (i, l) in net.layers.iter().enumerate() {
        let n = l.n_out();
        let mut d = vec![0.0; n];
        matvec(&l.q.data, n, n_l, &u, &mut d);
        let input: &[f64] = if i == 0 { x } else { &r[i - 1] };
        let mut vi = vec![0.0; n];
        matvec(&l.w.data, n, l.n_in(), input, &mut vi);
        for j in 0..n {
            vi[j] = d[j] + (vi[j] + l.b[j]);
        }
        let mut ri = vec![0.0; n];
        l.act.apply_slice(&vi, &mut ri);
        dv.push(d);
        v.push(vi);
        r.push(ri);
    }
    SsaSample { u, dv, v, r }
}

/// DFC-SSA of a minibatch: per-sample steady states and the (unclipped) update evaluated
/// with the steady-state r_{i−1} (or, for the SSA metric, with `r_prev_override`).
pub fn ssa_batch(
    net: &Network,
    xs: &[&[f64]],
    bf: &BatchForward,
    alpha: f64,
    r_prev_override: Option<&[FinalState]>,
) -> (ParamGrads, Vec<SsaSample>) {
    let samples: Vec<SsaSample> = (0..xs.len())
        .into_par_iter()
        .map(|s| ssa_sample(net, xs[s], &bf.ff[s], &bf.targets[s], alpha))
        .collect();
    let dv: Vec<Vec<Vec<f64>>> = samples.iter().map(|s| s.dv.clone()).collect();
    let r_prev: Vec<Vec<Vec<f64>>> = match r_prev_override {
        Some(f) => f.iter().map(|f| f.r.clone()).collect(),
        None => samples.iter().map(|s| s.r.clone()).collect(),
    };
    (steady_state_update(net, xs, &dv, &r_prev), samples)
}
