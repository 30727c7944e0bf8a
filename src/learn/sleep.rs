//! Feedback ("sleep") phase of the circuit: rule (13) of DFC, τ_Q dQ_i/dt = −v_i^fb uᵀ − βQ_i,
//! learnt from noise (paper §5, eq. 12–13).
//!
//! Per sample: input DACs set, feed-forward settle (controller off), target r_L* = r_L^−
//! (the sampled feed-forward output: no teaching signal), then the controller runs while a
//! noise current is injected into every neuron's feedback column wire `c{i}fb_k`, ahead of
//! the apical ammeter: the sensed apical compartment is v_i^fb = Q_i u + n_i, as the paper
//! assumes ("a subset of the noise enters through the feedback compartment").
//!
//! Noise: white, on its own time grid t_s = t_on + s·h (s = 0..N−1), held constant on each
//! interval (t_{s−1}, t_s] at n = σ/√h·ξ_s (σ_out on the output layer; h in τ_u), ξ drawn
//! from [`crate::ideal::feedback::sample_seed`] in the ideal model's order (step, layer,
//! unit). The ideal model run with the circuit's controller (k_p, α, τ_v/τ_u), an
//! instantaneous apical compartment and Euler step h draws exactly the same ξ, so one
//! realisation drives both. The sources get PWL waveforms with a jump at every grid point
//! (`Simulator::set_source`), so the engine lands on the grid (breakpoints) and the
//! waveform does not depend on its step choice.
//!
//! Rule (13) over the waveform, in the ideal model's conventions (positive-gradient sign;
//! the optimiser subtracts it and adds the decay βQ):
//!
//! ```text
//!   gradQ_i = Σ_{s=1}^{N−1} v_i^fb(t_{s−1}⁺) u(t_s)ᵀ / (σ'² (N−1) B),  σ' = max(σ, 0.01)
//! ```
//!
//! v^fb(t⁺) is the apical value just after the noise update at t (Q u(t) plus the new
//! interval's noise; the sensed compartment is instantaneous, so it is the waveform value at
//! t plus the known noise step). Why a sum on the noise grid and not a trapezoidal integral
//! over the solver's points: with white noise the informative term of E[v^fb uᵀ] is the
//! correlation of one interval's noise with u at the interval's end (Euler–Maruyama pairing,
//! as the reference code pairs v^A[t−1] with u[t]); a trapezoidal integral would halve that
//! term and make the update depend on the quadrature, not on the circuit. The remaining gap
//! to the ideal model (a few degrees at h = 0.01 τ_u, falling with h) is the ideal model's
//! forward-Euler error (step h, h/(τ_v/τ_u) = 0.05) and its lag of u in v^A: both O(h).
//!
//! Units: circuit SI; voltages / V_s, time / τ_u in everything handed to the rule.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

use crate::circuit::{ElementKind, Method, Waveform};
use crate::engine::{SimError, Simulator, TranSpec};
use crate::ideal::controller::{ApicalNoise, ControllerParams};
use crate::ideal::feedback;
use crate::ideal::linalg::Mat;
use crate::ideal::network::Network;
use crate::learn::cosim::{CosimError, DfcCircuit};

/// The feedback phase's parameters (`.learn` keys in brackets). Dimensionless but for the
/// times in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepSpec {
    /// Noise σ of the hidden layers' apical compartments [`sigma_fb`].
    pub sigma: f64,
    /// Noise σ of the output layer [`sigma_out_fb`] (default σ).
    pub sigma_out: f64,
    /// Controlled phase of the sleep transient, after the feed-forward settle [`t_fb`], s.
    pub t_fb_s: f64,
    /// Noise grid step h [`dt_fb`], s.
    pub dt_s: f64,
    /// Learning rate of Q in the feedback epochs around each forward epoch [`lr_fb`] and
    /// in the pre-training epochs [`lr_fb_init`].
    pub lr: f64,
    pub lr_init: f64,
    /// Weight decay β [`wd_fb`].
    pub weight_decay: f64,
    /// Joint Frobenius clip of all gradQ_i [`clip_fb`] (≤ 0: off).
    pub clip: f64,
    /// Feedback-only pre-training epochs before the first forward epoch [`epochs_fb`].
    pub epochs_init: usize,
    /// Feedback epochs before each forward epoch [`fb_epochs`].
    pub epochs_per_epoch: usize,
    /// Minibatch of the feedback phase [`batch_fb`] (default: the card's `batch`).
    pub batch: usize,
}

impl SleepSpec {
    /// Number of noise grid points N (t_0 … t_{N−1} span t_fb).
    pub fn steps(&self) -> usize {
        (self.t_fb_s / self.dt_s).round() as usize + 1
    }

    /// The ideal model's controller parameters of the same phase: the circuit's k_p, α and
    /// τ_v/τ_u, instantaneous apical compartment (the circuit has no apical low-pass), Euler
    /// step = the noise grid step.
    pub fn ideal_params(&self, k_p: f64, alpha: f64, ratio: f64, tau_u: f64) -> ControllerParams {
        ControllerParams {
            k_p,
            alpha,
            ratio,
            dt: self.dt_s / tau_u,
            steps: self.steps(),
            apical_tau: None,
            inst_transmission: true,
        }
    }

    pub fn noise(&self) -> ApicalNoise {
        ApicalNoise {
            sigma: self.sigma,
            sigma_out: self.sigma_out,
        }
    }
}

/// Fixed solver steps per noise interval of the sleep transient.
pub const SUBSTEPS: usize = 2;

/// Seed of the noise of the `pos`-th sample of feedback minibatch `counter` (the ideal
/// model's [`feedback::sample_seed`]).
pub fn noise_seed(seed: u64, counter: u64, pos: usize) -> u64 {
    feedback::sample_seed(seed, counter, pos)
}

/// One sample's noise realisation, dimensionless: `n[i][k][s−1]` is the value on the
/// interval (t_{s−1}, t_s] of unit k of layer i (0-based), s = 1..N−1. Drawn exactly as the
/// ideal model's Euler steps draw it (per step, layer, unit), scaled by σ_i/√h.
pub fn noise_realisation(
    layer_sizes: &[usize],
    spec: &SleepSpec,
    tau_u: f64,
    seed: u64,
) -> Vec<Vec<Vec<f64>>> {
    let steps = spec.steps();
    let h = spec.dt_s / tau_u;
    let depth = layer_sizes.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n: Vec<Vec<Vec<f64>>> = layer_sizes
        .iter()
        .map(|&m| vec![Vec::with_capacity(steps.saturating_sub(1)); m])
        .collect();
    for _ in 1..steps {
        for (i, layer) in n.iter_mut().enumerate() {
            let sigma = if i == depth - 1 {
                spec.sigma_out
            } else {
                spec.sigma
            };
            let scale = sigma / h.sqrt();
            for unit in layer.iter_mut() {
                let xi: f64 = rng.sample(StandardNormal);
                unit.push(scale * xi);
            }
        }
    }
    n
}

/// PWL of a current held at `amps[s−1]` on [t_{s−1}, t_s] (t_s = t_on + s·h_s) that steps
/// to the next value within 1e-9·h_s after t_s; zero before t_0 and after t_{N−1}. The
/// value at a grid time is the ending interval's (a solver step ending there sees it), and
/// the step's tail is far below the engine's breakpoint resolution, so the grid times are
/// the breakpoints.
pub fn noise_pwl(amps: &[f64], t_on_s: f64, h_s: f64) -> Waveform {
    let eps = 1e-9 * h_s;
    let mut pts = Vec::with_capacity(2 * amps.len() + 3);
    pts.push((0.0, 0.0));
    if t_on_s > 0.0 {
        pts.push((t_on_s, 0.0));
    }
    for (k, &a) in amps.iter().enumerate() {
        pts.push((t_on_s + k as f64 * h_s + eps, a));
        pts.push((t_on_s + (k + 1) as f64 * h_s, a));
    }
    pts.push((t_on_s + amps.len() as f64 * h_s + eps, 0.0));
    Waveform::Pwl(pts)
}

/// Outcome of one sample's feedback phase.
#[derive(Debug, Clone)]
pub struct SleepOutcome {
    /// gradQ_i of this sample (n_i × n_L), already divided by the minibatch size.
    pub grad_q: Vec<Mat>,
    /// Feed-forward output (the sleep target), dimensionless.
    pub r_ff: Vec<f64>,
    /// Accepted time points of the transient.
    pub tran_points: usize,
    /// ∫ Σ_sources v·i dt over the transient (J), as the forward phase counts it.
    pub source_energy_j: f64,
}

/// Runs one sample's feedback phase on `sim` (holding the current conductances) with the
/// noise of (`seed`, `counter`, `pos`) and returns its rule-(13) gradient. `batch` = B.
#[allow(clippy::too_many_arguments)]
pub fn run_sleep_sample(
    dc: &DfcCircuit,
    spec: &SleepSpec,
    sim: &mut Simulator,
    x: &[f64],
    seed: u64,
    counter: u64,
    pos: usize,
    batch: usize,
    sample: usize,
) -> Result<SleepOutcome, CosimError> {
    let ls = &dc.learn;
    let vs = ls.vs;
    let simerr = |e: SimError| CosimError::Sim { sample, source: e };
    if dc.noise_fb.is_empty() {
        return Err(CosimError::Other(
            "the feedback phase needs the noise sources (no sleep parameters in .learn?)".into(),
        ));
    }
    dc.set_input(sim, x).map_err(simerr)?;
    sim.operating_point(false).map_err(simerr)?;
    let l = dc.layers();
    let lay = sim.layout();
    let col = |name: String| -> Result<usize, CosimError> {
        dc.circuit()
            .find_node(&name)
            .map(|n| lay.node(n) + 1)
            .ok_or_else(|| CosimError::Other(format!("node `{name}` not found")))
    };
    use crate::r#gen::nodes;
    let n_out = dc.sizes[l];
    let r_out: Vec<usize> = (0..n_out)
        .map(|m| col(nodes::r(l, m)))
        .collect::<Result<_, _>>()?;
    let u_col: Vec<usize> = (0..n_out)
        .map(|m| col(nodes::u(m)))
        .collect::<Result<_, _>>()?;
    let vfb_col: Vec<Vec<usize>> = (1..=l)
        .map(|i| {
            (0..dc.sizes[i])
                .map(|k| col(nodes::vfb(i, k)))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let sol = sim.solution();
    let r_ff: Vec<f64> = r_out.iter().map(|&c| sol[c - 1] / vs).collect();
    dc.set_target(sim, &r_ff).map_err(simerr)?;

    let tau_u = ls.tau_u;
    let steps = spec.steps();
    let h_s = spec.dt_s;
    // The controller switches on at t = 0 of the sleep transient (the operating point is
    // the feed-forward state, as after the forward phase's settle): `Ven` ramps 0 → 1 V in
    // 1e-3 τ_v (the generator's ramp) and the noise grid starts at 0.
    let en = dc.en.ok_or_else(|| {
        CosimError::Other("no controller-enable source `Ven`: not a `dfcsim gen` netlist?".into())
    })?;
    let t_rise = 1e-3 * ls.time_constant_ratio * tau_u;
    sim.set_source(en, Waveform::Pwl(vec![(0.0, 0.0), (t_rise, 1.0)]))
        .map_err(simerr)?;
    let t_on = 0.0;
    let noise = noise_realisation(&dc.sizes[1..], spec, tau_u, noise_seed(seed, counter, pos));
    let amps_per_unit = vs / dc.r_f;
    let mut amps = vec![0.0; steps - 1];
    for (i, layer) in noise.iter().enumerate() {
        for (k, n) in layer.iter().enumerate() {
            for (a, v) in amps.iter_mut().zip(n) {
                *a = v * amps_per_unit;
            }
            sim.set_source(dc.noise_fb[i][k], noise_pwl(&amps, t_on, h_s))
                .map_err(simerr)?;
        }
    }
    // Fixed steps on the noise grid (SUBSTEPS per interval), backward Euler: it evaluates
    // the sources at the end of each step, i.e. exactly the interval's noise value, so each
    // interval's noise enters whole. Trap and Gear2 carry part of one interval's forcing
    // into the next (Gear2: 2/9 at 2 substeps), which weakens the noise/u correlation rule
    // (13) feeds on (measured: 27 % smaller update); an adaptive run restarts at each jump
    // (10× the steps).
    let hf = h_s / SUBSTEPS as f64;
    let tran = TranSpec {
        tstep: hf,
        tstop: (steps - 1) as f64 * h_s,
        tstart: 0.0,
        tmax: Some(hf),
        uic: false,
        fixed_step: Some(hf),
    };
    let method = sim.options.method;
    sim.options.method = Method::Be;
    let run = sim.run_tran(&tran);
    sim.options.method = method;
    // Back to the forward phase's sources whatever happened.
    for src in dc.noise_fb.iter().flatten() {
        sim.set_source(*src, Waveform::Dc(0.0)).map_err(simerr)?;
    }
    if let ElementKind::VoltageSource { wave, .. } = &dc.circuit().elements[en].kind {
        sim.set_source(en, wave.clone()).map_err(simerr)?;
    }
    let (res, err) = run;
    if let Some(e) = err {
        return Err(simerr(e));
    }
    let wf = &res.waveforms;
    let energy = crate::learn::cosim::source_energy(dc, sim, wf);

    // Rule (13) on the noise grid: the row at each grid time (a breakpoint).
    let mut acc: Vec<Mat> = dc.sizes[1..]
        .iter()
        .map(|&n| Mat::zeros(n, n_out))
        .collect();
    // v^fb(t_{s−1}⁺): the apical value just after the noise update at t_{s−1}.
    let mut vfb_after: Vec<Vec<f64>> = dc.sizes[1..].iter().map(|&n| vec![0.0; n]).collect();
    let mut u = vec![0.0; n_out];
    let mut row_idx = 0;
    let rows = wf.rows();
    for s in 0..steps {
        let t_s = t_on + s as f64 * h_s;
        while row_idx + 1 < rows && wf.row(row_idx + 1)[0] <= t_s + 1e-6 * h_s {
            row_idx += 1;
        }
        let row = wf.row(row_idx);
        if (row[0] - t_s).abs() > 1e-6 * h_s {
            return Err(CosimError::Other(format!(
                "sample {sample}: the sleep transient has no point at the noise grid time {t_s:e} s \
                 (nearest {:e} s)",
                row[0]
            )));
        }
        if s > 0 {
            for (m, &c) in u_col.iter().enumerate() {
                u[m] = row[c] / vs;
            }
            for (a, vp) in acc.iter_mut().zip(&vfb_after) {
                crate::ideal::linalg::add_outer(&mut a.data, vp, &u);
            }
        }
        if s + 1 < steps {
            // The sensed apical compartment is instantaneous: just after t_s it is the value
            // at t_s (noise of the ending interval) plus the noise step.
            for (i, (vp, cols)) in vfb_after.iter_mut().zip(&vfb_col).enumerate() {
                for (k, (v, &c)) in vp.iter_mut().zip(cols).enumerate() {
                    let ending = if s > 0 { noise[i][k][s - 1] } else { 0.0 };
                    *v = row[c] / vs + noise[i][k][s] - ending;
                }
            }
        }
    }
    let sigma = spec.sigma.max(0.01);
    let scale = 1.0 / (sigma * sigma * (steps - 1) as f64 * batch as f64);
    for a in acc.iter_mut() {
        a.data.iter_mut().for_each(|x| *x *= scale);
    }
    Ok(SleepOutcome {
        grad_q: acc,
        r_ff,
        tran_points: rows,
        source_energy_j: energy,
    })
}

/// The ideal model's rule-(13) gradient of the minibatch `xs` (sample b at position b, as
/// [`run_sleep_sample`] seeds it) for the same weights and noise realisations: the
/// reference against which the circuit's minibatch sum is compared.
pub fn ideal_sleep_gradient(
    net: &Network,
    dc: &DfcCircuit,
    spec: &SleepSpec,
    xs: &[&[f64]],
    seed: u64,
    counter: u64,
) -> Vec<Mat> {
    let ls = &dc.learn;
    let p = spec.ideal_params(ls.k_p, ls.alpha, ls.time_constant_ratio, ls.tau_u);
    feedback::feedback_gradients(net, xs, &p, spec.noise(), seed, counter)
}

/// Angle (degrees) between two lists of tensors, concatenated.
pub fn angle_q_deg(a: &[Mat], b: &[Mat]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (u, v) in x.data.iter().zip(&y.data) {
            dot += u * v;
            na += u * u;
            nb += v * v;
        }
    }
    if na == 0.0 || nb == 0.0 {
        return f64::NAN;
    }
    (dot / (na * nb).sqrt())
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

/// Condition 2 of the paper (mean over `xs` of ‖J̄ᵀ(J̄J̄ᵀ)⁻¹J̄Q̄‖_F/‖Q̄‖_F at the
/// feed-forward points): how well Q̄ lies in the row space of the network Jacobian.
pub fn condition_2(net: &Network, xs: &[&[f64]]) -> f64 {
    let mut sum = 0.0;
    for x in xs {
        let ff = net.forward(x);
        let js = net.jacobians(&ff.v);
        sum += crate::ideal::metrics::condition_2_sample(net, &js);
    }
    sum / xs.len() as f64
}

/// The Q step of one feedback minibatch: joint clip, then ΔQ_i = −lr (gradQ_i + β Q_i), as
/// the ideal model's SGD with weight decay.
pub fn q_step(net: &Network, mut grad_q: Vec<Mat>, lr: f64, spec: &SleepSpec) -> Vec<Mat> {
    feedback::clip_joint(&mut grad_q, spec.clip);
    for (g, l) in grad_q.iter_mut().zip(&net.layers) {
        for (d, &q) in g.data.iter_mut().zip(&l.q.data) {
            *d = -lr * (*d + spec.weight_decay * q);
        }
    }
    grad_q
}
