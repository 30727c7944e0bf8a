//! Every hyper-parameter of the ideal model, with the reference toy configuration
//! (student-teacher 15-10-10-5, tanh hidden, linear output) as defaults. Loaded from TOML;
//! unknown keys are errors.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::controller::ControllerParams;
use super::error::IdealError;
use super::network::{Activation, FeedbackInit};

/// Learning method of the forward weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Updates averaged over the simulated trajectory.
    Dfc,
    /// Update at the last simulated time point.
    DfcSs,
    /// Analytical linearised steady state (Lemma 1).
    DfcSsa,
    /// Backpropagation baseline.
    Bp,
    /// Direct feedback alignment baseline (fixed random direct feedback).
    Dfa,
}

impl Variant {
    pub fn simulates(self) -> bool {
        matches!(self, Variant::Dfc | Variant::DfcSs)
    }
    pub fn uses_feedback_weights(self) -> bool {
        matches!(self, Variant::Dfc | Variant::DfcSs | Variant::DfcSsa)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackMode {
    /// Q fixed (weight product by default).
    Fixed,
    /// Q trained in the sleep phase (eq. 12–13).
    Learned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    // Architecture.
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    pub hidden_activation: Activation,
    pub output_activation: Activation,
    /// Initial feedback weights; default: weight product for fixed, xavier-normal for
    /// learned feedback.
    pub feedback_init: Option<FeedbackInit>,

    // Forward ("wake") phase, time in units of τ_u.
    pub k_p: f64,
    /// Controller leak α (on the total u).
    pub alpha: f64,
    /// Target stepsize λ.
    pub target_stepsize: f64,
    /// τ_v/τ_u.
    pub time_constant_ratio: f64,
    pub dt: f64,
    /// Number of simulated time points N.
    pub steps: usize,
    /// Apical time constant of the forward phase; none = instantaneous.
    pub apical_time_constant: Option<f64>,
    pub inst_transmission: bool,

    // Feedback ("sleep") phase.
    pub k_p_fb: f64,
    pub alpha_fb: f64,
    pub dt_fb: f64,
    pub steps_fb: usize,
    pub time_constant_ratio_fb: f64,
    pub apical_time_constant_fb: f64,
    pub sigma_fb: f64,
    pub sigma_output_fb: f64,
    /// Weight decay β of the feedback weights.
    pub feedback_wd: f64,
    pub lr_fb: f64,
    /// Learning rate of the feedback pre-training epochs.
    pub lr_fb_init: f64,
    /// Feedback-only pre-training epochs.
    pub epochs_fb: usize,
    /// Feedback epochs before each forward epoch.
    pub fb_epochs_before: usize,
    /// Feedback epochs after each forward epoch.
    pub extra_fb_epochs: usize,
    pub optimizer_fb: OptimizerKind,
    pub clip_grad_norm_fb: f64,

    // Optimiser of the forward weights.
    pub optimizer: OptimizerKind,
    /// Learning rate; divided by λ when `normalize_lr`.
    pub lr: f64,
    pub normalize_lr: bool,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub beta1_fb: f64,
    pub beta2_fb: f64,
    pub epsilon_fb: f64,
    /// Per-tensor clipping norm of the forward updates (≤ 0: off).
    pub clip_grad_norm: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    /// Shuffle the training set each epoch (the reference's toy loader does not).
    pub shuffle: bool,
    /// Train on the first `train_samples` training samples only (0 = all); for timing
    /// and short trials, not for reproducing published figures.
    pub train_samples: usize,

    // Metrics.
    /// Compute the §6.1 metrics on the first minibatch of each epoch.
    pub metrics: bool,
    /// Damping γ of the GN/MN reference updates.
    pub gn_damping: f64,
    /// MN reference with φ(v + Δv) − φ(v) (true) or Δv (false).
    pub mn_nonlinear: bool,
    /// Limit on samples used for the metrics (0 = whole first minibatch).
    pub metrics_samples: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: vec![10, 10],
            hidden_activation: Activation::Tanh,
            output_activation: Activation::Linear,
            feedback_init: None,
            k_p: 1.5,
            alpha: 0.0015,
            target_stepsize: 0.05,
            time_constant_ratio: 0.2,
            dt: 0.005,
            steps: 1000,
            apical_time_constant: None,
            inst_transmission: true,
            k_p_fb: 0.1,
            alpha_fb: 0.25,
            dt_fb: 0.002,
            steps_fb: 50,
            time_constant_ratio_fb: 0.01,
            apical_time_constant_fb: 0.3,
            sigma_fb: 0.01,
            sigma_output_fb: 0.01,
            feedback_wd: 0.025,
            lr_fb: 0.002,
            lr_fb_init: 0.1,
            epochs_fb: 50,
            fb_epochs_before: 1,
            extra_fb_epochs: 2,
            optimizer_fb: OptimizerKind::Sgd,
            clip_grad_norm_fb: 1.0,
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            normalize_lr: true,
            beta1: 0.99,
            beta2: 0.99,
            epsilon: 1e-8,
            beta1_fb: 0.99,
            beta2_fb: 0.99,
            epsilon_fb: 1e-8,
            clip_grad_norm: 1.0,
            batch_size: 128,
            epochs: 300,
            seed: 42,
            shuffle: false,
            train_samples: 0,
            metrics: true,
            gn_damping: 0.1,
            mn_nonlinear: true,
            metrics_samples: 0,
        }
    }
}

/// Computer-vision benchmark of the paper's Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisionTask {
    Mnist,
    FashionMnist,
}

impl Config {
    /// The reference's configuration for `task` and the given variant and feedback mode
    /// (its `configs/configs_mnist/*.py` and `configs_fmnist/*.py`, the settings behind
    /// Table 1): 784-256-256-256-10, tanh hidden layers, linear output with softmax
    /// cross-entropy, Adam (β = 0.99, 0.99), batch 128, 100 epochs, per-tensor clipping 1,
    /// shuffled minibatches. Learned feedback: 10 pre-training epochs, then 1 feedback
    /// epoch + 1 forward epoch + 2 feedback epochs. Fixed feedback: the weight product.
    ///
    /// Not reproduced (see bench/results/mnist_README.md): the reference's
    /// `proactive_controller` (u[k+1] drives v^A[k+1]) and, for Fashion-MNIST with learned
    /// feedback, `freeze_fb_weights_output` (Q_L kept at I).
    pub fn vision(task: VisionTask, variant: Variant, feedback: FeedbackMode) -> Config {
        let mut c = Config {
            hidden: vec![256, 256, 256],
            hidden_activation: Activation::Tanh,
            output_activation: Activation::Linear,
            optimizer: OptimizerKind::Adam,
            optimizer_fb: OptimizerKind::Adam,
            beta1: 0.99,
            beta2: 0.99,
            beta1_fb: 0.99,
            beta2_fb: 0.99,
            epsilon_fb: 1e-8,
            clip_grad_norm: 1.0,
            clip_grad_norm_fb: 1.0,
            normalize_lr: true,
            batch_size: 128,
            epochs: 100,
            seed: 42,
            shuffle: true,
            inst_transmission: true,
            apical_time_constant: None,
            fb_epochs_before: 1,
            extra_fb_epochs: 2,
            epochs_fb: 10,
            // Metrics (GN angle, λ_max of a 778×778 matrix) on a few samples only.
            metrics: true,
            metrics_samples: 8,
            ..Config::default()
        };
        let learned = feedback == FeedbackMode::Learned && variant.uses_feedback_weights();
        match (task, variant, learned) {
            (VisionTask::Mnist, Variant::Bp, _) => {
                c.lr = 2.97764587844326e-07;
                c.target_stepsize = 0.001;
                c.epsilon = 5.770311627459478e-08;
            }
            (VisionTask::Mnist, Variant::Dfa, _) => {
                c.lr = 2.6298517958226435e-07;
                c.target_stepsize = 0.001;
                c.epsilon = 2.483437226361463e-08;
            }
            (VisionTask::FashionMnist, Variant::Bp, _) => {
                c.lr = 5.442490245182536e-07;
                c.target_stepsize = 0.001;
                c.epsilon = 2.7090253686612157e-08;
            }
            (VisionTask::FashionMnist, Variant::Dfa, _) => {
                c.lr = 7.67552163131779e-06;
                c.target_stepsize = 0.001;
                c.epsilon = 3.251744567222374e-07;
            }
            (VisionTask::Mnist, _, true) => {
                c.lr = 9.265965477237583e-05;
                c.target_stepsize = 0.07794471150634391;
                c.epsilon = 9.446010081075931e-08;
                c.alpha = 0.0013890445062125412;
                c.k_p = 2.0;
                c.dt = 0.02;
                c.steps = 1000;
                c.time_constant_ratio = 0.2;
                c.k_p_fb = 0.1565387776131571;
                c.alpha_fb = 0.6133635688698066;
                c.dt_fb = 0.0020299480251123815;
                c.steps_fb = 48;
                c.time_constant_ratio_fb = 0.00630250312119787;
                c.apical_time_constant_fb = 0.32469417320648936;
                c.sigma_fb = 0.001524181852173024;
                c.sigma_output_fb = 0.001524181852173024;
                c.feedback_wd = 0.001;
                c.lr_fb = 0.0005265408146208675;
                c.lr_fb_init = 0.0003170276937521561;
                c.epsilon_fb = 1.5611352228965008e-06;
            }
            (VisionTask::FashionMnist, _, true) => {
                c.lr = 4.406433064602529e-05;
                c.target_stepsize = 0.056066652694809475;
                c.epsilon = 3.661367432183572e-08;
                c.alpha = 0.00020607985040655872;
                c.k_p = 2.0;
                c.dt = 0.02;
                c.steps = 300;
                c.time_constant_ratio = 0.2;
                c.k_p_fb = 0.006426940850583915;
                c.alpha_fb = 0.23370420882566645;
                c.dt_fb = 0.003097349374603956;
                c.steps_fb = 34;
                c.time_constant_ratio_fb = 0.00547324603685296;
                c.apical_time_constant_fb = 0.13465111151646356;
                c.sigma_fb = 0.002451309464861252;
                c.sigma_output_fb = 0.002451309464861252;
                c.feedback_wd = 0.1;
                c.lr_fb = 0.00023725294281298016;
                c.lr_fb_init = 0.00045372617633919964;
                c.epsilon_fb = 3.561070445920531e-08;
            }
            (VisionTask::Mnist, _, false) => {
                c.lr = 6.043454783083358e-05;
                c.target_stepsize = 0.1;
                c.epsilon = 1.3326841152257578e-08;
                c.alpha = 0.00024658638831547176;
                c.k_p = 2.0;
                c.dt = 0.02;
                c.steps = 500;
                c.time_constant_ratio = 0.2;
            }
            (VisionTask::FashionMnist, v, false) => {
                c.lr = 5.423883572845198e-05;
                c.target_stepsize = 0.1;
                c.epsilon = 1.4648080760625163e-10;
                c.alpha = 0.7985041176538932;
                c.k_p = 2.0;
                c.time_constant_ratio = 0.2;
                // DFC-SS (fixed) runs a finer, longer simulation than DFC (fixed).
                (c.dt, c.steps) = if v == Variant::DfcSs {
                    (0.0005, 3000)
                } else {
                    (0.001, 1500)
                };
            }
        }
        if variant == Variant::DfcSsa {
            // Lemma 1 needs no simulation; the reference's SSA configs set k_p = 0 and a
            // fast ratio, which only matter for the metrics' λ_max.
            c.k_p = 0.0;
            c.time_constant_ratio = 0.005;
            c.dt = 0.001;
        }
        c
    }

    pub fn from_toml_file(path: &Path) -> Result<Config, IdealError> {
        let text = std::fs::read_to_string(path).map_err(|e| IdealError::io(path, e))?;
        Self::from_toml_str(&text, path)
    }

    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config, IdealError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            IdealError::Parse {
                path: path.to_path_buf(),
                line,
                col,
                msg: e.message().to_string(),
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), IdealError> {
        let bad = |m: &str| Err(IdealError::Config(m.to_string()));
        if self.steps < 1 || self.steps_fb < 2 {
            return bad("steps must be ≥ 1 and steps_fb ≥ 2");
        }
        if !(self.dt > 0.0
            && self.time_constant_ratio > 0.0
            && self.dt_fb > 0.0
            && self.time_constant_ratio_fb > 0.0)
        {
            return bad("dt and time constant ratios must be > 0");
        }
        if self.batch_size == 0 {
            return bad("batch_size must be ≥ 1");
        }
        if self.target_stepsize <= 0.0 && self.normalize_lr {
            return bad("target_stepsize must be > 0 when normalize_lr is set");
        }
        if self.hidden.contains(&0) {
            return bad("hidden layer sizes must be ≥ 1");
        }
        Ok(())
    }

    /// Forward ("wake") phase controller parameters.
    pub fn forward_params(&self) -> ControllerParams {
        ControllerParams {
            k_p: self.k_p,
            alpha: self.alpha,
            ratio: self.time_constant_ratio,
            dt: self.dt,
            steps: self.steps,
            apical_tau: self.apical_time_constant,
            inst_transmission: self.inst_transmission,
        }
    }

    /// Feedback ("sleep") phase controller parameters.
    pub fn feedback_params(&self) -> ControllerParams {
        ControllerParams {
            k_p: self.k_p_fb,
            alpha: self.alpha_fb,
            ratio: self.time_constant_ratio_fb,
            dt: self.dt_fb,
            steps: self.steps_fb,
            apical_tau: Some(self.apical_time_constant_fb),
            inst_transmission: true,
        }
    }

    /// Effective forward learning rate η = lr/λ (if normalised).
    pub fn effective_lr(&self) -> f64 {
        if self.normalize_lr {
            self.lr / self.target_stepsize
        } else {
            self.lr
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
