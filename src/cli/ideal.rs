//! `dfcsim ideal`: train the ideal (mathematical) DFC model and write `metrics.csv` and
//! `summary.json`; optionally probe the first minibatch in the reference fixture format.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::ideal::config::{Config, FeedbackMode, Variant, VisionTask};
use crate::ideal::data::{self, PixelScaling, Splits};
use crate::ideal::error::IdealError;
use crate::ideal::loss::Loss;
use crate::ideal::probe;
use crate::ideal::train::{self, EpochRow, TrainSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    StudentTeacher,
    Mnist,
    FashionMnist,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Task; student-teacher defaults to the reference toy configuration, mnist and
    /// fashion-mnist to the reference's Table 1 configuration (784-256-256-256-10).
    #[arg(long, value_enum, default_value = "student-teacher")]
    pub task: Task,
    #[arg(long, value_enum, default_value = "dfc")]
    pub variant: Variant,
    /// Feedback weights of the DFC variants. With --task mnist|fashion-mnist each
    /// (variant, feedback) pair has its own reference hyper-parameters: Table 1's plain
    /// DFC rows are `learned`, its "(fixed)" rows `fixed`.
    #[arg(long, value_enum, default_value = "fixed")]
    pub feedback: FeedbackMode,
    /// Training epochs (overrides the configuration).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of initialisation, data generation and noise (overrides the configuration).
    #[arg(long)]
    pub seed: Option<u64>,
    /// TOML file setting any hyper-parameter.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory: train.csv/val.csv/test.csv (student-teacher) or IDX files (MNIST).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Initial weights in the fixture's key format (W1, b1, Q1, …).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Write the first minibatch's evaluation with the initial weights to this JSON file.
    #[arg(long)]
    pub probe_batch: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Output directory.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

/// Task defaults, then the TOML file's keys, then the command-line overrides.
pub fn build_config(args: &Args) -> Result<Config, IdealError> {
    // Task defaults: the reference toy configuration, or the reference's Table 1
    // configuration of the chosen variant and feedback mode.
    let base = match args.task {
        Task::StudentTeacher => Config::default(),
        Task::Mnist => Config::vision(VisionTask::Mnist, args.variant, args.feedback),
        Task::FashionMnist => Config::vision(VisionTask::FashionMnist, args.variant, args.feedback),
    };
    let mut cfg = match &args.config {
        None => base,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| IdealError::io(path, e))?;
            let overlay: toml::Table = toml::from_str(&text).map_err(|e| {
                let off = e.span().map_or(0, |s| s.start);
                let before = &text[..off.min(text.len())];
                IdealError::Parse {
                    path: path.clone(),
                    line: before.matches('\n').count() + 1,
                    col: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
                    msg: e.message().to_string(),
                }
            })?;
            let mut table =
                toml::Table::try_from(&base).map_err(|e| IdealError::Config(e.to_string()))?;
            for (k, v) in overlay {
                table.insert(k, v);
            }
            let merged = toml::to_string(&table).map_err(|e| IdealError::Config(e.to_string()))?;
            Config::from_toml_str(&merged, path)?
        }
    };
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Validation images drawn from the IDX training set, as in the reference.
const IDX_VALIDATION: usize = 5000;

fn load_data(args: &Args, cfg: &Config) -> Result<(Splits, String), IdealError> {
    let (mut splits, source) = match (args.task, &args.data) {
        (Task::StudentTeacher, Some(dir)) => (data::load_csv_dir(dir)?, dir.display().to_string()),
        (Task::StudentTeacher, None) => (
            data::student_teacher(cfg.seed),
            format!("generated student-teacher, seed {}", cfg.seed),
        ),
        (Task::Mnist, Some(dir)) => (
            data::load_idx_dir(dir, PixelScaling::MNIST, IDX_VALIDATION, cfg.seed)?,
            dir.display().to_string(),
        ),
        (Task::FashionMnist, Some(dir)) => (
            data::load_idx_dir(dir, PixelScaling::UNIT, IDX_VALIDATION, cfg.seed)?,
            dir.display().to_string(),
        ),
        (_, None) => {
            return Err(IdealError::Config(
                "--task mnist|fashion-mnist needs --data DIR with IDX files".into(),
            ));
        }
    };
    if cfg.train_samples > 0 && cfg.train_samples < splits.train.len() {
        let k = cfg.train_samples;
        let t = &mut splits.train;
        t.x.data.truncate(k * t.x.cols);
        t.x.rows = k;
        t.y.data.truncate(k * t.y.cols);
        t.y.rows = k;
    }
    Ok((splits, source))
}

/// The epoch with the best validation result (lowest error for classification, lowest
/// loss otherwise; the first on ties), as the paper's Table 1 reports.
pub fn best_validation_epoch(rows: &[EpochRow]) -> Option<&EpochRow> {
    let key = |r: &EpochRow| r.val_error.unwrap_or(r.val_loss);
    rows.iter()
        .filter(|r| key(r).is_finite())
        .fold(None, |best: Option<&EpochRow>, r| match best {
            Some(b) if key(b) <= key(r) => Some(b),
            _ => Some(r),
        })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.10e}"))
}

pub const CSV_HEADER: &str = "epoch,train_loss,test_loss,test_error,c1,c2,angle_gn_deg,angle_mn_deg,angle_bp_deg,angle_ssa_deg,lambda_max,val_loss,val_error,seconds";

pub fn csv_row(r: &EpochRow) -> String {
    let m = r.metrics.as_ref();
    format!(
        "{},{:.10e},{:.10e},{},{},{},{},{},{},{},{},{:.10e},{},{:.3}",
        r.epoch,
        r.train_loss,
        r.test_loss,
        fmt_opt(r.test_error),
        fmt_opt(m.map(|m| m.condition_1)),
        fmt_opt(m.map(|m| m.condition_2)),
        fmt_opt(m.map(|m| m.gn_angle_deg)),
        fmt_opt(m.map(|m| m.mn_angle_deg)),
        fmt_opt(m.map(|m| m.bp_angle_deg)),
        fmt_opt(m.map(|m| m.ssa_angle_deg)),
        fmt_opt(m.map(|m| m.lambda_max)),
        r.val_loss,
        fmt_opt(r.val_error),
        r.seconds,
    )
}

fn write_file(path: &Path, text: &str) -> Result<(), IdealError> {
    std::fs::write(path, text).map_err(|e| IdealError::io(path, e))
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    let start = Instant::now();
    let cfg = build_config(&args)?;
    let (splits, data_source) = load_data(&args, &cfg)?;
    let loss = if splits.classification {
        Loss::CrossEntropy
    } else {
        Loss::Mse
    };
    let spec = TrainSpec {
        variant: args.variant,
        feedback: args.feedback,
        loss,
    };
    let n_in = splits.train.x.cols;
    let n_out = splits.train.y.cols;
    let net = match &args.init {
        Some(p) => probe::load_network(p, &cfg)?,
        None => train::initial_network(&cfg, &spec, n_in, n_out),
    };
    if net.n_in() != n_in || net.n_out() != n_out {
        return Err(format!(
            "network is {}→{}, data is {n_in}→{n_out}",
            net.n_in(),
            net.n_out()
        )
        .into());
    }
    std::fs::create_dir_all(&args.out).map_err(|e| IdealError::io(&args.out, e))?;
    if let Some(pb_path) = &args.probe_batch {
        let k = cfg.batch_size.min(splits.train.len());
        let xs: Vec<&[f64]> = (0..k).map(|i| splits.train.x.row(i)).collect();
        let ys: Vec<&[f64]> = (0..k).map(|i| splits.train.y.row(i)).collect();
        let v = probe::probe_batch(&net, &xs, &ys, &cfg, args.variant, loss);
        write_file(pb_path, &serde_json::to_string(&v)?)?;
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.epochs as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>22} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    let csv_path = args.out.join("metrics.csv");
    let result = train::train(
        &cfg,
        &spec,
        &splits,
        net,
        |phase, i, n| {
            bar.set_message(phase.to_string());
            bar.set_length(n as u64);
            bar.set_position(i as u64);
        },
        |row| {
            let _ = writeln!(csv, "{}", csv_row(row));
            // Written every epoch so that a long run can be followed.
            let _ = std::fs::write(&csv_path, &csv);
            bar.set_position(row.epoch as u64);
            bar.set_message(format!("loss {:.4}", row.train_loss));
        },
    );
    bar.finish_and_clear();
    write_file(&csv_path, &csv)?;
    let last = result.rows.last();
    let m = last.and_then(|r| r.metrics.as_ref());
    let best = best_validation_epoch(&result.rows);
    let summary = json!({
        "task": args.task,
        "variant": args.variant,
        "feedback": args.feedback,
        "seed": cfg.seed,
        "data": data_source,
        "init": args.init.as_ref().map(|p| p.display().to_string()),
        "loss": loss,
        "epochs_run": result.rows.len(),
        "diverged": result.diverged,
        "wall_time_s": start.elapsed().as_secs_f64(),
        "final": {
            "epoch": last.map(|r| r.epoch),
            "train_loss": last.map(|r| r.train_loss),
            "val_loss": last.map(|r| r.val_loss),
            "val_error": last.and_then(|r| r.val_error),
            "test_loss": last.map(|r| r.test_loss),
            "test_error": last.and_then(|r| r.test_error),
            "c1": m.map(|m| m.condition_1),
            "c2": m.map(|m| m.condition_2),
            "angle_gn_deg": m.map(|m| m.gn_angle_deg),
            "angle_mn_deg": m.map(|m| m.mn_angle_deg),
            "angle_bp_deg": m.map(|m| m.bp_angle_deg),
            "angle_ssa_deg": m.map(|m| m.ssa_angle_deg),
            "lambda_max": m.map(|m| m.lambda_max),
        },
        "best_validation": best.map(|r| json!({
            "epoch": r.epoch,
            "val_loss": r.val_loss,
            "val_error": r.val_error,
            "test_loss": r.test_loss,
            "test_error": r.test_error,
        })),
        "training_samples": splits.train.len(),
        "validation_samples": splits.val.len(),
        "test_samples": splits.test.len(),
        "config": cfg,
        "effective_lr": cfg.effective_lr(),
    });
    write_file(
        &args.out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    if let (false, Some(r)) = (args.quiet, last) {
        {
            eprintln!(
                "{} epochs in {:.1} s: train loss {:.5}, test loss {:.5}{}",
                result.rows.len(),
                start.elapsed().as_secs_f64(),
                r.train_loss,
                r.test_loss,
                r.test_error
                    .map_or(String::new(), |e| format!(", test error {e:.2} %"))
            );
            if let Some(b) = best.filter(|b| b.test_error.is_some()) {
                eprintln!(
                    "best validation error {:.2} % at epoch {}: test error {:.2} %",
                    b.val_error.unwrap_or(f64::NAN),
                    b.epoch,
                    b.test_error.unwrap_or(f64::NAN)
                );
            }
        }
    }
    if let Some(d) = result.diverged {
        return Err(format!(
            "training diverged ({d}); partial results in {}",
            args.out.display()
        )
        .into());
    }
    Ok(())
}
