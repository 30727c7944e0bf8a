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
            metrics: true,
            gn_damping: 0.1,
            mn_nonlinear: true,
            metrics_samples: 0,
        }
    }
}

impl Config {
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
