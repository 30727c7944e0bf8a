//! Training loop, optimisers and the BP/DFA baselines.

use super::dfc::BatchForward;
use super::linalg::{add_outer, matvec};
use super::network::{Network, ParamGrads};

/// DFA update: output layer gets the true error signal δ_L = g ⊙ φ'_L, hidden layer i gets
/// (Q_i g) ⊙ φ'_i through its fixed direct feedback matrix Q_i.
pub fn dfa_gradient(net: &Network, xs: &[&[f64]], bf: &BatchForward) -> ParamGrads {
    let mut g = ParamGrads::zeros_like(net);
    let depth = net.depth();
    let n_l = net.n_out();
    for s in 0..xs.len() {
        let ff = &bf.ff[s];
        let go = &bf.grad_out[s];
        for (i, l) in net.layers.iter().enumerate() {
            let n = l.n_out();
            let mut delta = vec![0.0; n];
            if i + 1 == depth {
                delta.copy_from_slice(go);
            } else {
                matvec(&l.q.data, n, n_l, go, &mut delta);
            }
            for j in 0..n {
                delta[j] *= l.act.derivative(ff.v[i][j]);
            }
            let input: &[f64] = if i == 0 { xs[s] } else { &ff.r[i - 1] };
            add_outer(&mut g.w[i].data, &delta, input);
            g.b[i].iter_mut().zip(&delta).for_each(|(a, d)| *a += d);
        }
    }
    g
}

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::{Config, FeedbackMode, OptimizerKind, Variant};
use super::controller::ApicalNoise;
use super::data::{Dataset, Splits};
use super::dfc;
use super::feedback;
use super::loss::{Loss, argmax};
use super::metrics::{self, Metrics};
use super::network::FeedbackInit;

/// SGD or Adam (torch semantics) over a list of tensors, with optional weight decay
/// (added to the gradient, after any clipping).
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    t: u64,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

impl Optimizer {
    pub fn new(
        kind: OptimizerKind,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Self {
        Optimizer {
            kind,
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// p ← p − step(grad + wd·p).
    pub fn step(&mut self, params: &mut [&mut [f64]], grads: &[&[f64]]) {
        self.t += 1;
        if self.m.len() != params.len() {
            self.m = params.iter().map(|p| vec![0.0; p.len()]).collect();
            self.v = self.m.clone();
        }
        let t = self.t as i32;
        for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            match self.kind {
                OptimizerKind::Sgd => {
                    for (pi, gi) in p.iter_mut().zip(g.iter()) {
                        let d = gi + self.weight_decay * *pi;
                        *pi -= self.lr * d;
                    }
                }
                OptimizerKind::Adam => {
                    let bc1 = 1.0 - self.beta1.powi(t);
                    let bc2 = 1.0 - self.beta2.powi(t);
                    let step = self.lr / bc1;
                    let (m, v) = (&mut self.m[k], &mut self.v[k]);
                    for j in 0..p.len() {
                        let d = g[j] + self.weight_decay * p[j];
                        m[j] = self.beta1 * m[j] + (1.0 - self.beta1) * d;
                        v[j] = self.beta2 * v[j] + (1.0 - self.beta2) * d * d;
                        let denom = v[j].sqrt() / bc2.sqrt() + self.eps;
                        p[j] -= step * m[j] / denom;
                    }
                }
            }
        }
    }
}

fn forward_params(net: &mut Network) -> Vec<&mut [f64]> {
    let mut out: Vec<&mut [f64]> = Vec::new();
    for l in net.layers.iter_mut() {
        out.push(&mut l.w.data);
        out.push(&mut l.b);
    }
    out
}

fn grad_slices(g: &ParamGrads) -> Vec<&[f64]> {
    let mut out: Vec<&[f64]> = Vec::new();
    for (w, b) in g.w.iter().zip(&g.b) {
        out.push(&w.data);
        out.push(b);
    }
    out
}

/// One epoch's row of `metrics.csv`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Validation error in percent (classification only).
    #[serde(default)]
    pub val_error: Option<f64>,
    pub test_loss: f64,
    /// Test error in percent (classification only).
    pub test_error: Option<f64>,
    pub metrics: Option<Metrics>,
    pub seconds: f64,
}

/// Outcome of a training run.
#[derive(Debug, Clone)]
pub struct TrainResult {
    pub net: Network,
    pub rows: Vec<EpochRow>,
    /// Set if training stopped on a non-finite loss or weight.
    pub diverged: Option<String>,
}

/// What to train and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSpec {
    pub variant: Variant,
    pub feedback: FeedbackMode,
    pub loss: Loss,
}

/// Initial network of a run: xavier-normal forward weights, zero biases; feedback
/// weights by `cfg.feedback_init`, else weight product for fixed DFC feedback and
/// xavier-normal for learned feedback and DFA.
pub fn initial_network(cfg: &Config, spec: &TrainSpec, n_in: usize, n_out: usize) -> Network {
    let mut sizes = vec![n_in];
    sizes.extend_from_slice(&cfg.hidden);
    sizes.push(n_out);
    let mut acts = vec![cfg.hidden_activation; cfg.hidden.len()];
    acts.push(cfg.output_activation);
    let fb_init = cfg
        .feedback_init
        .unwrap_or(match (spec.variant, spec.feedback) {
            (Variant::Dfa, _) | (_, FeedbackMode::Learned) => FeedbackInit::XavierNormal,
            _ => FeedbackInit::WeightProduct,
        });
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    Network::new_random(&sizes, &acts, fb_init, &mut rng)
}

/// Minibatch row views of `set` for the sample indices `idx`.
fn batch_views<'a>(set: &'a Dataset, idx: &[usize]) -> (Vec<&'a [f64]>, Vec<&'a [f64]>) {
    (
        idx.iter().map(|&k| set.x.row(k)).collect(),
        idx.iter().map(|&k| set.y.row(k)).collect(),
    )
}

/// Mean loss and (classification) error in percent over a data set.
pub fn evaluate(net: &Network, set: &Dataset, loss: Loss) -> (f64, Option<f64>) {
    use rayon::prelude::*;
    let n = set.len();
    if n == 0 {
        return (f64::NAN, None);
    }
    let per: Vec<(f64, bool)> = (0..n)
        .into_par_iter()
        .map(|k| {
            let out = net.forward(set.x.row(k));
            let r = out.r.last().unwrap();
            let y = set.y.row(k);
            (loss.sample_loss(r, y), argmax(r) == argmax(y))
        })
        .collect();
    let l = per.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let err = loss
        .is_classification()
        .then(|| 100.0 * per.iter().filter(|p| !p.1).count() as f64 / n as f64);
    (l, err)
}

/// The (unclipped) forward update of `variant` for one minibatch, with the simulation's
/// last states when the variant simulates.
pub fn batch_update(
    net: &Network,
    xs: &[&[f64]],
    bf: &dfc::BatchForward,
    cfg: &Config,
    variant: Variant,
) -> (ParamGrads, Option<Vec<dfc::FinalState>>) {
    let p = cfg.forward_params();
    match variant {
        Variant::Dfc => {
            let sim = dfc::simulate_batch(net, xs, bf, &p, true, &[]);
            (sim.dfc.unwrap(), Some(sim.finals))
        }
        Variant::DfcSs => {
            let sim = dfc::simulate_batch(net, xs, bf, &p, false, &[]);
            (dfc::ss_update(net, xs, &sim.finals), Some(sim.finals))
        }
        Variant::DfcSsa => (dfc::ssa_batch(net, xs, bf, p.alpha, None).0, None),
        Variant::Bp => (metrics::bp_gradient(net, xs, bf), None),
        Variant::Dfa => (dfa_gradient(net, xs, bf), None),
    }
}

/// State of the feedback learning across epochs.
struct FeedbackTrainer {
    opt_init: Optimizer,
    opt: Optimizer,
    counter: u64,
}

impl FeedbackTrainer {
    fn new(cfg: &Config) -> Self {
        let mk = |lr| {
            Optimizer::new(
                cfg.optimizer_fb,
                lr,
                cfg.beta1_fb,
                cfg.beta2_fb,
                cfg.epsilon_fb,
                cfg.feedback_wd,
            )
        };
        FeedbackTrainer {
            opt_init: mk(cfg.lr_fb_init),
            opt: mk(cfg.lr_fb),
            counter: 0,
        }
    }

    /// One feedback-only epoch over `order` of the training set.
    fn epoch(
        &mut self,
        net: &mut Network,
        cfg: &Config,
        set: &Dataset,
        order: &[usize],
        pretraining: bool,
    ) {
        let p = cfg.feedback_params();
        let noise = ApicalNoise {
            sigma: cfg.sigma_fb,
            sigma_out: cfg.sigma_output_fb,
        };
        for idx in order.chunks(cfg.batch_size) {
            let (xs, _) = batch_views(set, idx);
            let mut g = feedback::feedback_gradients(net, &xs, &p, noise, cfg.seed, self.counter);
            self.counter += 1;
            feedback::clip_joint(&mut g, cfg.clip_grad_norm_fb);
            let grads: Vec<&[f64]> = g.iter().map(|m| m.data.as_slice()).collect();
            let mut params: Vec<&mut [f64]> = net
                .layers
                .iter_mut()
                .map(|l| l.q.data.as_mut_slice())
                .collect();
            let opt = if pretraining {
                &mut self.opt_init
            } else {
                &mut self.opt
            };
            opt.step(&mut params, &grads);
        }
    }
}

/// Trains `net` on `splits` and calls `on_epoch` after every epoch (for progress).
pub fn train(
    cfg: &Config,
    spec: &TrainSpec,
    splits: &Splits,
    mut net: Network,
    mut on_progress: impl FnMut(&str, usize, usize),
    mut on_epoch: impl FnMut(&EpochRow),
) -> TrainResult {
    let n = splits.train.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut shuffle_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let learned = spec.feedback == FeedbackMode::Learned && spec.variant.uses_feedback_weights();
    let mut fb = FeedbackTrainer::new(cfg);
    let mut opt = Optimizer::new(
        cfg.optimizer,
        cfg.effective_lr(),
        cfg.beta1,
        cfg.beta2,
        cfg.epsilon,
        0.0,
    );
    let mut rows = Vec::new();
    let mut diverged = None;
    if learned {
        for e in 0..cfg.epochs_fb {
            on_progress("feedback pre-training", e, cfg.epochs_fb);
            fb.epoch(&mut net, cfg, &splits.train, &order, true);
        }
    }
    for epoch in 0..cfg.epochs {
        on_progress("training", epoch, cfg.epochs);
        let t0 = Instant::now();
        if cfg.shuffle {
            use rand::seq::SliceRandom;
            order.shuffle(&mut shuffle_rng);
        }
        if learned {
            for _ in 0..cfg.fb_epochs_before {
                fb.epoch(&mut net, cfg, &splits.train, &order, false);
            }
        }
        let mut batch_losses = Vec::new();
        let mut epoch_metrics = None;
        for (bi, idx) in order.chunks(cfg.batch_size).enumerate() {
            let (xs, ys) = batch_views(&splits.train, idx);
            let bf = dfc::forward_batch(&net, &xs, &ys, spec.loss, cfg.target_stepsize);
            batch_losses.push(bf.loss);
            let (mut upd, finals) = batch_update(&net, &xs, &bf, cfg, spec.variant);
            upd.clip_per_tensor(cfg.clip_grad_norm);
            if bi == 0 && cfg.metrics {
                let m = if cfg.metrics_samples > 0 && cfg.metrics_samples < xs.len() {
                    // Metrics on a prefix of the minibatch (large networks): the update
                    // compared is the prefix's own update.
                    let k = cfg.metrics_samples;
                    let bfk = dfc::forward_batch(
                        &net,
                        &xs[..k],
                        &ys[..k],
                        spec.loss,
                        cfg.target_stepsize,
                    );
                    let (mut uk, fk) = batch_update(&net, &xs[..k], &bfk, cfg, spec.variant);
                    uk.clip_per_tensor(cfg.clip_grad_norm);
                    metrics::compute(
                        &net,
                        &xs[..k],
                        &bfk,
                        &uk,
                        fk.as_deref(),
                        &cfg.forward_params(),
                        cfg.clip_grad_norm,
                        cfg.mn_nonlinear,
                    )
                } else {
                    metrics::compute(
                        &net,
                        &xs,
                        &bf,
                        &upd,
                        finals.as_deref(),
                        &cfg.forward_params(),
                        cfg.clip_grad_norm,
                        cfg.mn_nonlinear,
                    )
                };
                epoch_metrics = Some(m);
            }
            let grads = grad_slices(&upd);
            let mut params = forward_params(&mut net);
            opt.step(&mut params, &grads);
        }
        if learned {
            for _ in 0..cfg.extra_fb_epochs {
                fb.epoch(&mut net, cfg, &splits.train, &order, false);
            }
        }
        let train_loss = batch_losses.iter().sum::<f64>() / batch_losses.len().max(1) as f64;
        let (val_loss, val_error) = evaluate(&net, &splits.val, spec.loss);
        let (test_loss, test_error) = evaluate(&net, &splits.test, spec.loss);
        let row = EpochRow {
            epoch: epoch + 1,
            train_loss,
            val_loss,
            val_error,
            test_loss,
            test_error,
            metrics: epoch_metrics,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&row);
        rows.push(row);
        if !train_loss.is_finite() || !net.is_finite() {
            diverged = Some(format!("epoch {}: non-finite loss or weights", epoch + 1));
            break;
        }
    }
    TrainResult {
        net,
        rows,
        diverged,
    }
}
