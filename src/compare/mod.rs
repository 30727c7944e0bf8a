//! `dfcsim compare`: the ideal DFC model and the circuit under several hardware presets or
//! sweep points, trained on the same data, seed and schedule, then one report.
//!
//! A comparison is a list of [`Configuration`]s built by [`configurations`]: always the
//! ideal model (the reference, palette colour 0), then one configuration per preset or
//! sweep point. [`run_all`] trains them in parallel (rayon; each configuration owns its
//! RNGs, so results do not depend on the thread count) and stores each finished one in
//! `DIR/runs/NAME/` (`metrics.csv`, `summary.json`, `example.json`); a configuration whose
//! `summary.json` holds the same fingerprint is loaded instead of re-run (resume).
//! [`report::write_report`] then writes `report.json`, `report.md` and the plots.
//!
//! Units: the ideal model is dimensionless (time in τ_u); circuit fields are SI (s, J).

pub mod circuit;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ideal::config::{Config, FeedbackMode, Variant};
use crate::ideal::data::{Dataset, Splits};
use crate::ideal::linalg::Mat;
use crate::ideal::loss::Loss;
use crate::ideal::sample;
use crate::ideal::train::{self, TrainSpec};

/// Errors of a comparison; each names the configuration or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Spec(String),
    #[error("configuration `{name}`: {message}")]
    Run { name: String, message: String },
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> CompareError {
    CompareError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One swept parameter and its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub param: String,
    pub values: Vec<f64>,
}

impl Sweep {
    /// Parses `PARAM=V1,V2,…` (values as numbers, SI prefixes allowed).
    pub fn parse(text: &str) -> Result<Sweep, CompareError> {
        let bad =
            |m: &str| CompareError::Spec(format!("--sweep `{text}`: {m} (use PARAM=V1,V2,…)"));
        let (param, list) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let param = param.trim();
        if param.is_empty() {
            return Err(bad("empty parameter name"));
        }
        let values = list
            .split(',')
            .map(|v| {
                crate::plot::format::parse_si(v.trim())
                    .ok_or_else(|| bad(&format!("`{v}` is not a number")))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        if values.is_empty() {
            return Err(bad("no values"));
        }
        Ok(Sweep {
            param: param.to_string(),
            values,
        })
    }

    /// Whether the swept parameter is a key of the ideal model's configuration (`k_p`,
    /// `alpha`, `lr`, …): then the sweep points are ideal-model configurations, otherwise
    /// circuit configurations (a hardware parameter of each preset).
    pub fn is_model_param(&self) -> bool {
        model_table().contains_key(&self.param)
    }
}

fn model_table() -> toml::Table {
    toml::Table::try_from(Config::default()).unwrap_or_default()
}

/// What a configuration trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Kind {
    /// The ideal (mathematical) DFC model.
    IdealModel,
    /// The DFC circuit with a hardware preset (`ideal`, `rram`, `pcm`, `ecram`, …).
    Circuit { preset: String },
}

/// One trained configuration of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// Unique, usable as a directory name.
    pub name: String,
    pub kind: Kind,
    /// Swept parameter and its value at this point.
    pub sweep: Option<(String, f64)>,
    /// Palette index: the same in every plot of the report.
    pub color: usize,
}

impl Configuration {
    pub fn is_reference(&self) -> bool {
        self.kind == Kind::IdealModel && self.sweep.is_none()
    }
}

/// Everything shared by the configurations of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// Layer sizes, input to output.
    pub sizes: Vec<usize>,
    /// User netlist (`dfcsim compare net.cir`), else the circuit is generated from `sizes`.
    pub netlist: Option<PathBuf>,
    pub epochs: usize,
    pub seed: u64,
    /// Training samples per epoch.
    pub samples: usize,
    pub test_samples: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Where the hardware presets' `PRESET.lib` files are (`netlists/models`).
    pub models_dir: PathBuf,
}

/// The comparison's configurations: the ideal model first, then ideal-model sweep points
/// (when the swept parameter is a model key), then each preset (× each sweep point when
/// the swept parameter is a hardware one).
pub fn configurations(
    presets: &[String],
    sweep: Option<&Sweep>,
) -> Result<Vec<Configuration>, CompareError> {
    let mut out = vec![Configuration {
        name: "ideal-model".into(),
        kind: Kind::IdealModel,
        sweep: None,
        color: 0,
    }];
    let point_name =
        |base: &str, p: &str, v: f64| format!("{base}_{p}={}", crate::plot::format::compact(v));
    match sweep {
        Some(s) if s.is_model_param() => {
            for &v in &s.values {
                out.push(Configuration {
                    name: point_name("ideal-model", &s.param, v),
                    kind: Kind::IdealModel,
                    sweep: Some((s.param.clone(), v)),
                    color: 0,
                });
            }
        }
        _ => {}
    }
    for p in presets {
        let p = p.trim().to_ascii_lowercase();
        if p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(CompareError::Spec(format!(
                "preset `{p}`: not a preset name"
            )));
        }
        let kind = Kind::Circuit { preset: p.clone() };
        match sweep {
            Some(s) if !s.is_model_param() => {
                for &v in &s.values {
                    out.push(Configuration {
                        name: point_name(&format!("circuit-{p}"), &s.param, v),
                        kind: kind.clone(),
                        sweep: Some((s.param.clone(), v)),
                        color: 0,
                    });
                }
            }
            _ => out.push(Configuration {
                name: format!("circuit-{p}"),
                kind,
                sweep: None,
                color: 0,
            }),
        }
    }
    for (i, c) in out.iter_mut().enumerate() {
        c.color = i;
    }
    let mut names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(CompareError::Spec(
            "duplicate configuration (preset or sweep value listed twice)".into(),
        ));
    }
    Ok(out)
}

/// One epoch of one configuration. Circuit-only fields are `None` for the ideal model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_loss: f64,
    /// Percent, classification only.
    pub test_error: Option<f64>,
    /// Mean angle between this configuration's wanted (rule-5) and the ideal model's
    /// per-sample updates (0 for the ideal model itself).
    pub update_angle_deg: f64,
    /// Mean angle between the weight change the devices made and the ideal model's SGD
    /// step, per minibatch (0 for the ideal model).
    #[serde(default)]
    pub programmed_angle_deg: Option<f64>,
    /// Mean ‖programmed change‖ / ‖ideal SGD step‖ per minibatch: the effective
    /// learning-rate gain of the devices (1 for the ideal model).
    #[serde(default)]
    pub programmed_step_ratio: Option<f64>,
    /// Mean component of the programmed change along the ideal SGD step, in units of that
    /// step (1 for the ideal model): the learning-rate gain along the ideal direction.
    #[serde(default)]
    pub programmed_step_along: Option<f64>,
    /// Mean ‖e(T)‖ / ‖r_L* − r_L^−‖ (circuit).
    pub steady_state_error: Option<f64>,
    /// Mean settling time of ‖e‖ in seconds (circuit).
    pub settling_time_s: Option<f64>,
    /// Energy per training sample in joules (circuit).
    pub energy_per_sample_j: Option<f64>,
}

pub const METRICS_HEADER: &str = "epoch,train_loss,test_loss,test_error,update_angle_deg,programmed_angle_deg,programmed_step_ratio,programmed_step_along,steady_state_error,settling_time_s,energy_per_sample_j";

impl RunRow {
    pub fn csv_row(&self) -> String {
        let f = |x: f64| format!("{x:.10e}");
        let o = |x: Option<f64>| x.map_or(String::new(), f);
        format!(
            "{},{},{},{},{},{},{},{},{},{},{}",
            self.epoch,
            f(self.train_loss),
            f(self.test_loss),
            o(self.test_error),
            f(self.update_angle_deg),
            o(self.programmed_angle_deg),
            o(self.programmed_step_ratio),
            o(self.programmed_step_along),
            o(self.steady_state_error),
            o(self.settling_time_s),
            o(self.energy_per_sample_j)
        )
    }
}

/// One example sample's trajectory: target, output, control u and one hidden neuron's
/// three compartments (somatic, basal, apical). `time_unit` is `""` (τ_u, ideal model) or
/// `"s"` and `voltage_unit` `""` or `"V"` (circuit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ExampleWaveforms {
    pub time_unit: String,
    pub voltage_unit: String,
    pub t: Vec<f64>,
    /// Per output neuron, over time.
    pub target: Vec<Vec<f64>>,
    pub output: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    /// Somatic, basal and apical potential of neuron 0 of the first hidden layer.
    pub hidden: [Vec<f64>; 3],
}

/// A finished configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub config: Configuration,
    pub rows: Vec<RunRow>,
    /// Test loss before training, of the weights as this configuration holds them (the
    /// circuit: after programming the initial weights into its devices).
    #[serde(default)]
    pub initial_test_loss: Option<f64>,
    pub example: Option<ExampleWaveforms>,
    /// Why training stopped early, if it did.
    pub diverged: Option<String>,
}

/// How a configuration ended in [`run_all`].
#[derive(Debug)]
pub enum Outcome {
    Ran(RunResult),
    /// Loaded from `runs/NAME/` of an earlier identical run.
    Resumed(RunResult),
    Failed {
        config: Configuration,
        message: String,
    },
}

impl Outcome {
    pub fn result(&self) -> Option<&RunResult> {
        match self {
            Outcome::Ran(r) | Outcome::Resumed(r) => Some(r),
            Outcome::Failed { .. } => None,
        }
    }
}

/// The data every configuration trains on: the student-teacher task (the reference's
/// 15-1000⁴-5 teacher for the toy 15-…-5 network, a 32-32 teacher otherwise), the first
/// `samples` training and `test_samples` test samples. The circuit runs use the same rule.
pub fn comparison_data(c: &Common) -> Splits {
    let (n_in, n_out) = (c.sizes[0], *c.sizes.last().unwrap_or(&1));
    let full = if n_in == 15 && n_out == 5 && c.samples <= 5000 && c.test_samples <= 1000 {
        crate::ideal::data::student_teacher(c.seed)
    } else {
        crate::ideal::data::student_teacher_sized(
            c.seed,
            n_in,
            &[32, 32],
            n_out,
            [c.samples, 0, c.test_samples],
        )
    };
    let head = |d: &Dataset, n: usize| {
        let n = n.min(d.len());
        Dataset {
            x: Mat::from_rows(&(0..n).map(|k| d.x.row(k).to_vec()).collect::<Vec<_>>()),
            y: Mat::from_rows(&(0..n).map(|k| d.y.row(k).to_vec()).collect::<Vec<_>>()),
        }
    };
    let test = head(&full.test, c.test_samples);
    Splits {
        train: head(&full.train, c.samples),
        val: test.clone(),
        test,
        classification: full.classification,
    }
}

/// The ideal model's configuration for a comparison point (sweep value applied).
pub fn model_config(c: &Common, cfg: &Configuration) -> Result<Config, CompareError> {
    let mut base = Config {
        hidden: c.sizes[1..c.sizes.len() - 1].to_vec(),
        epochs: c.epochs,
        seed: c.seed,
        batch_size: c.batch.max(1),
        ..Config::default()
    };
    if let (Kind::IdealModel, Some((param, v))) = (&cfg.kind, &cfg.sweep) {
        let mut table = model_table();
        let value = match table.get(param) {
            Some(toml::Value::Integer(_)) if v.fract() == 0.0 => toml::Value::Integer(*v as i64),
            Some(toml::Value::Float(_)) => toml::Value::Float(*v),
            _ => {
                return Err(CompareError::Spec(format!(
                    "sweep parameter `{param}` = {v}: not a numeric ideal-model setting of this type"
                )));
            }
        };
        table.insert(param.clone(), value);
        // Keep the comparison's own settings.
        let keep = toml::Table::try_from(&base).map_err(|e| CompareError::Spec(e.to_string()))?;
        for k in ["hidden", "epochs", "seed", "batch_size"] {
            if k != param
                && let Some(x) = keep.get(k)
            {
                table.insert(k.into(), x.clone());
            }
        }
        let text = toml::to_string(&table).map_err(|e| CompareError::Spec(e.to_string()))?;
        base = Config::from_toml_str(&text, Path::new("<sweep>"))
            .map_err(|e| CompareError::Spec(e.to_string()))?;
    }
    base.validate()
        .map_err(|e| CompareError::Spec(format!("{}: {e}", cfg.name)))?;
    Ok(base)
}

/// Progress of one epoch, for the caller's progress lines.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub config: &'a str,
    pub epoch: usize,
    pub epochs: usize,
    pub test_loss: f64,
    /// Seconds this configuration still needs at its pace so far.
    pub eta_s: f64,
}

fn train_ideal_model(
    c: &Common,
    cfg: &Configuration,
    data: &Splits,
    on_epoch: &mut dyn FnMut(&RunRow),
) -> Result<RunResult, CompareError> {
    let mc = model_config(c, cfg)?;
    let loss = if data.classification {
        Loss::CrossEntropy
    } else {
        Loss::Mse
    };
    let spec = TrainSpec {
        variant: Variant::Dfc,
        feedback: FeedbackMode::Fixed,
        loss,
    };
    let (mc, net) = match &c.netlist {
        // The user's circuit: the ideal model starts from its weights with its `.learn`
        // settings, so that both sides learn from the same point with the same rule.
        Some(path) => netlist_model(path, mc, cfg)?,
        None => {
            let net = train::initial_network(&mc, &spec, c.sizes[0], *c.sizes.last().unwrap_or(&1));
            (mc, net)
        }
    };
    let initial_test_loss = Some(train::evaluate(&net, &data.test, loss).0);
    let mut rows = Vec::new();
    let result = train::train(
        &mc,
        &spec,
        data,
        net,
        |_, _, _| {},
        |r| {
            let row = RunRow {
                epoch: r.epoch,
                train_loss: r.train_loss,
                test_loss: r.test_loss,
                test_error: r.test_error,
                update_angle_deg: 0.0,
                programmed_angle_deg: Some(0.0),
                programmed_step_ratio: Some(1.0),
                programmed_step_along: Some(1.0),
                steady_state_error: None,
                settling_time_s: None,
                energy_per_sample_j: None,
            };
            on_epoch(&row);
            rows.push(row);
        },
    );
    let example = (!data.test.is_empty()).then(|| {
        ideal_example(
            &result.net,
            &mc,
            data.test.x.row(0),
            data.test.y.row(0),
            loss,
        )
    });
    Ok(RunResult {
        config: cfg.clone(),
        rows,
        initial_test_loss,
        example,
        diverged: result.diverged,
    })
}

/// The ideal model of a user's DFC netlist: its weights (W, b, Q) and the `.learn` card's
/// λ, lr, clipping, k_p, α, τ ratio and controlled-phase length.
fn netlist_model(
    path: &Path,
    mut mc: Config,
    cfg: &Configuration,
) -> Result<(Config, crate::ideal::Network), CompareError> {
    let dc = crate::learn::cosim::DfcCircuit::load(path).map_err(|e| CompareError::Run {
        name: cfg.name.clone(),
        message: e.to_string(),
    })?;
    let l = &dc.learn;
    let p = l.ideal_params();
    mc.target_stepsize = l.lambda;
    mc.lr = l.lr;
    mc.clip_grad_norm = l.clip;
    mc.k_p = p.k_p;
    mc.alpha = p.alpha;
    mc.time_constant_ratio = p.ratio;
    mc.dt = p.dt;
    mc.steps = p.steps;
    Ok((mc, dc.network()))
}

/// Layer sizes of a user's DFC netlist (`dfcsim gen` form).
pub fn netlist_sizes(path: &Path) -> Result<Vec<usize>, CompareError> {
    crate::learn::cosim::DfcCircuit::load(path)
        .map(|dc| dc.sizes)
        .map_err(|e| CompareError::Spec(e.to_string()))
}

/// The ideal model's trajectory (reference Euler dynamics, time in τ_u) of one sample.
pub fn ideal_example(
    net: &crate::ideal::Network,
    mc: &Config,
    x: &[f64],
    y: &[f64],
    loss: Loss,
) -> ExampleWaveforms {
    let target = sample::output_target(net, x, y, loss, mc.target_stepsize);
    let run = sample::simulate_sample(net, x, &target, &mc.forward_params(), true);
    let n_out = target.len();
    let mut ex = ExampleWaveforms {
        target: vec![Vec::new(); n_out],
        output: vec![Vec::new(); n_out],
        u: vec![Vec::new(); n_out],
        ..Default::default()
    };
    for tp in &run.trajectory {
        ex.t.push(tp.t);
        let out = tp.r.last().map(Vec::as_slice).unwrap_or(&[]);
        for (k, &tk) in target.iter().enumerate() {
            ex.target[k].push(tk);
            ex.output[k].push(out.get(k).copied().unwrap_or(f64::NAN));
            ex.u[k].push(tp.u.get(k).copied().unwrap_or(f64::NAN));
        }
        let first = |v: &Vec<Vec<f64>>| {
            v.first()
                .and_then(|l| l.first())
                .copied()
                .unwrap_or(f64::NAN)
        };
        ex.hidden[0].push(first(&tp.vs));
        ex.hidden[1].push(first(&tp.vb));
        ex.hidden[2].push(first(&tp.va));
    }
    ex
}

/// Trains one configuration; a circuit configuration writes its netlist into `dir`.
pub fn run_configuration(
    c: &Common,
    cfg: &Configuration,
    data: &Splits,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&RunRow),
) -> Result<RunResult, CompareError> {
    match &cfg.kind {
        Kind::IdealModel => train_ideal_model(c, cfg, data, on_epoch),
        Kind::Circuit { .. } => circuit::train_circuit(c, cfg, data, dir, on_epoch),
    }
}

/// What makes two runs of a configuration the same: stored in `summary.json`.
fn fingerprint(c: &Common, cfg: &Configuration) -> serde_json::Value {
    serde_json::json!({ "common": c, "config": cfg, "format": 2 })
}

/// `DIR/runs/NAME`.
pub fn run_dir(out: &Path, cfg: &Configuration) -> PathBuf {
    out.join("runs").join(&cfg.name)
}

/// A finished run stored in `dir` with the same fingerprint, if any.
pub fn load_finished(dir: &Path, c: &Common, cfg: &Configuration) -> Option<RunResult> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("fingerprint")? != &fingerprint(c, cfg) {
        return None;
    }
    let rows: Vec<RunRow> = serde_json::from_value(v.get("rows")?.clone()).ok()?;
    let diverged = v.get("diverged").and_then(|d| d.as_str()).map(String::from);
    let initial_test_loss = v.get("initial_test_loss").and_then(|x| x.as_f64());
    let example = std::fs::read_to_string(dir.join("example.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    Some(RunResult {
        config: cfg.clone(),
        rows,
        initial_test_loss,
        example,
        diverged,
    })
}

fn write_atomic(path: &Path, text: &str) -> Result<(), CompareError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

fn save_run(dir: &Path, c: &Common, r: &RunResult) -> Result<(), CompareError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let mut csv = String::from(METRICS_HEADER);
    csv.push('\n');
    for row in &r.rows {
        csv.push_str(&row.csv_row());
        csv.push('\n');
    }
    write_atomic(&dir.join("metrics.csv"), &csv)?;
    if let Some(ex) = &r.example {
        let text = serde_json::to_string(ex).map_err(|e| io_err(dir, e))?;
        write_atomic(&dir.join("example.json"), &text)?;
    }
    // summary.json last: its presence marks the configuration finished.
    let summary = serde_json::json!({
        "fingerprint": fingerprint(c, &r.config),
        "name": r.config.name,
        "diverged": r.diverged,
        "initial_test_loss": r.initial_test_loss,
        "final": r.rows.last(),
        "rows": r.rows,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| io_err(dir, e))?;
    write_atomic(&dir.join("summary.json"), &text)
}

/// Trains every configuration not already finished in `out/runs/`, `jobs` at a time
/// (0 = rayon's default), and returns the outcomes in configuration order. `progress` is
/// called after every epoch of every configuration (from worker threads).
pub fn run_all(
    c: &Common,
    configs: &[Configuration],
    out: &Path,
    jobs: usize,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Vec<Outcome>, CompareError> {
    if c.sizes.len() < 3 || c.sizes.contains(&0) {
        return Err(CompareError::Spec(format!(
            "architecture {:?}: needs input, at least one hidden and an output layer, all non-empty",
            c.sizes
        )));
    }
    if c.epochs == 0 || c.samples == 0 || c.test_samples == 0 {
        return Err(CompareError::Spec(
            "epochs, samples and test samples must be positive".into(),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let pending: Vec<bool> = configs
        .iter()
        .map(|cfg| load_finished(&run_dir(out, cfg), c, cfg).is_none())
        .collect();
    // Data only when something needs training (the big reference teacher costs seconds).
    let data = pending.iter().any(|&p| p).then(|| comparison_data(c));
    let work = |(cfg, &pend): (&Configuration, &bool)| -> Outcome {
        let dir = run_dir(out, cfg);
        let (Some(data), true) = (&data, pend) else {
            if let Some(r) = load_finished(&dir, c, cfg) {
                return Outcome::Resumed(r);
            }
            return Outcome::Failed {
                config: cfg.clone(),
                message: "stored run vanished".into(),
            };
        };
        let t0 = Instant::now();
        let mut on_epoch = |row: &RunRow| {
            let per_epoch = t0.elapsed().as_secs_f64() / row.epoch.max(1) as f64;
            progress(&Progress {
                config: &cfg.name,
                epoch: row.epoch,
                epochs: c.epochs,
                test_loss: row.test_loss,
                eta_s: per_epoch * c.epochs.saturating_sub(row.epoch) as f64,
            });
        };
        match run_configuration(c, cfg, data, &dir, &mut on_epoch) {
            Ok(r) => match save_run(&dir, c, &r) {
                Ok(()) => Outcome::Ran(r),
                Err(e) => Outcome::Failed {
                    config: cfg.clone(),
                    message: e.to_string(),
                },
            },
            Err(e) => Outcome::Failed {
                config: cfg.clone(),
                message: e.to_string(),
            },
        }
    };
    let run = || -> Vec<Outcome> {
        configs
            .par_iter()
            .zip(pending.par_iter())
            .map(work)
            .collect()
    };
    if jobs == 0 {
        Ok(run())
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .map_err(|e| CompareError::Spec(format!("thread pool: {e}")))?;
        Ok(pool.install(run))
    }
}
