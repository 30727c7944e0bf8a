//! `dfcsim train`: learning co-simulation of a generated DFC circuit (array or flat form).
//!
//! ```text
//! dfcsim gen --arch 4-3-2 --flat -o net.cir
//! dfcsim train net.cir --epochs 3 --samples 20 -o run
//! dfcsim train net.cir --epochs 5 --samples 20 -o run --resume   # continues after epoch 3
//! ```
//!
//! Per sample: input DACs set, feed-forward settle (controller off, operating point), target
//! r_L* from the sampled output and the label, controlled transient, rule (5) integrated over
//! the waveform, update programmed into the plastic crossbars' devices (per sample, or
//! buffered over a minibatch of `--batch` samples). When Q is plastic (`dfcsim gen
//! --plastic-feedback`: `.learn` keys sigma_fb, t_fb, dt_fb, lr_fb, lr_fb_init, wd_fb,
//! clip_fb, epochs_fb, fb_epochs, batch_fb), each epoch starts with feedback ("sleep")
//! epochs: noise on the feedback columns, target = feed-forward output, rule (13)
//! programmed into the Q crossbars (`crate::learn::sleep`). The samples of a minibatch run
//! in parallel (rayon; same bits with any thread count). Writes `DIR/metrics.csv` (one row per
//! epoch), `DIR/summary.json` and `DIR/checkpoints/epoch_NNNN.json` (conductances and device
//! weights, bit-exact). The test loss is the ideal model's forward pass on the circuit's
//! current (read) weights — the same numbers a feed-forward circuit run gives with ideal
//! parts, at a fraction of the cost of a transient per test sample.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::circuit::Model;
use crate::learn::cosim::{self, Checkpoint, DfcCircuit, METRICS_HEADER, TrainOptions};
use crate::learn::device::DeviceParams;
use crate::span::Span;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// DFC netlist written by `dfcsim gen` (array form, or `--flat`).
    pub netlist: PathBuf,
    /// Training epochs (in total, also with --resume).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Seed of the data, devices and programming noise (default: the `.learn` card's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Continue from the newest checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Training samples per epoch.
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    /// Test samples (evaluated with the ideal model's forward pass on the circuit's weights).
    #[arg(long, default_value_t = 1000)]
    pub test_samples: usize,
    /// Minibatch size (default: the `.learn` card's `batch`); 1 applies updates per sample.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Conductance device model of the plastic crossbars: an aihwkit type / preset name, or
    /// a `.model` name from --lib.
    #[arg(long, default_value = "ideal")]
    pub device: String,
    /// Library with the device's `.model` card (e.g. netlists/models/rram.lib).
    #[arg(long)]
    pub lib: Option<PathBuf>,
    /// Largest transient step in seconds (default: the `.learn` card's `max_step=`, else
    /// the netlist's `.tran` tmax). The generator's tmax, τ_v/100, suits a waveform
    /// compared with ngspice; its `max_step=` τ_u (with `reltol=1e-4`) keeps the toy's
    /// update within 0.004° and 1e-4 (relative) of a 0.05 τ_u run at reltol 1e-7 and runs
    /// several times faster.
    #[arg(long)]
    pub max_step: Option<f64>,
    /// Relative tolerance of the transients (default: the `.learn` card's `reltol=`, else
    /// the netlist's `.options reltol`; `dfcsim gen` writes 1e-4 and 1e-6).
    #[arg(long)]
    pub reltol: Option<f64>,
    /// Write the transients of these training samples (indices, e.g. `0,5`) each epoch to
    /// `DIR/waveforms/epoch_EEEE_sample_S.csv`.
    #[arg(long, value_delimiter = ',')]
    pub waveforms: Vec<usize>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output directory.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

fn device_params(args: &Args) -> Result<DeviceParams, crate::CliError> {
    let model = match &args.lib {
        Some(lib) => {
            let models = crate::elaborate::load_models(lib)?;
            let wanted = args.device.to_ascii_lowercase();
            models
                .into_iter()
                .find(|m| m.name == wanted)
                .ok_or_else(|| format!("no `.model {}` in {}", args.device, lib.display()))?
        }
        None => Model {
            name: args.device.to_ascii_lowercase(),
            kind: args.device.to_ascii_lowercase(),
            params: Default::default(),
            span: Span {
                file: Arc::new(PathBuf::from("<command line>")),
                line: 1,
                col: 1,
            },
        },
    };
    Ok(DeviceParams::from_model(&model)?)
}

fn write(path: &Path, text: &str) -> Result<(), crate::CliError> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()).into())
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    let start = Instant::now();
    let mut dc = DfcCircuit::load(&args.netlist)?;
    let device = device_params(&args)?;
    if let Some(h) = args.max_step {
        dc.set_max_step(h)?;
    }
    if let Some(r) = args.reltol {
        dc.set_reltol(r)?;
    }
    let opts = TrainOptions {
        epochs: args.epochs,
        seed: args.seed.unwrap_or(dc.learn.seed),
        samples: args.samples,
        test_samples: args.test_samples,
        batch: args.batch.unwrap_or(dc.learn.batch),
        device,
        conversion_energy_j: 0.0,
        waveform_samples: args.waveforms.clone(),
        waveform_dir: (!args.waveforms.is_empty()).then(|| args.out.join("waveforms")),
    };
    if opts.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    std::fs::create_dir_all(args.out.join("checkpoints"))
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    if let Some(d) = &opts.waveform_dir {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let resume: Option<Checkpoint> = if args.resume {
        let ck = cosim::latest_checkpoint(&args.out)?;
        if ck.is_none() && !args.quiet {
            eprintln!(
                "no checkpoint in {}: starting from epoch 1",
                args.out.display()
            );
        }
        ck
    } else {
        None
    };
    if !args.quiet {
        eprintln!(
            "training {} ({} layers {:?}, {} rule, batch {}, device {}) for {} epochs on {} samples",
            args.netlist.display(),
            dc.layers(),
            dc.sizes,
            dc.learn.rule.name(),
            opts.batch,
            opts.device.preset,
            opts.epochs,
            opts.samples
        );
    }
    let metrics_path = args.out.join("metrics.csv");
    let quiet = args.quiet;
    let out = args.out.clone();
    let run = cosim::train(&mut dc, &opts, resume, |row, ck| {
        let mut csv = String::from(METRICS_HEADER);
        csv.push('\n');
        for r in &ck.metrics {
            csv.push_str(&r.csv_row());
            csv.push('\n');
        }
        let ck_path = cosim::checkpoint_path(&out, ck.epoch);
        let text =
            serde_json::to_string(ck).map_err(|e| cosim::CosimError::Other(e.to_string()))?;
        std::fs::write(&ck_path, text)
            .and_then(|_| std::fs::write(&metrics_path, csv))
            .map_err(|e| cosim::CosimError::Other(format!("{}: {e}", out.display())))?;
        if !quiet {
            eprintln!(
                "epoch {:>3}: train loss {:.4e}, test loss {:.4e}, angle to ideal {:.3} deg, \
                 ss error {:.2e}, settling {:.2} tau_u, {:.3} s/sample, condition 2 {:.3}",
                row.epoch,
                row.train_loss,
                row.test_loss,
                row.update_angle_deg,
                row.steady_state_error,
                row.settling_time_tau,
                row.circuit_s_per_sample,
                row.condition_2
            );
            if row.fb_samples > 0 {
                eprintln!(
                    "           feedback phase: {} samples, rule (13) angle to ideal {:.2} deg, \
                     {:.3} s/sample",
                    row.fb_samples,
                    row.fb_angle_deg.unwrap_or(f64::NAN),
                    row.fb_circuit_s_per_sample
                );
            }
        }
        Ok(())
    })?;
    let last = run.rows.last();
    let (reltol, max_step_s) = dc.transient_accuracy();
    let summary = json!({
        "netlist": args.netlist.display().to_string(),
        "sizes": dc.sizes,
        "rule": dc.learn.rule.name(),
        "feedback_phase": dc.learn.sleep.is_some(),
        "lambda": dc.learn.lambda,
        "lr": dc.learn.lr,
        "clip": dc.learn.clip,
        "batch": opts.batch,
        "seed": opts.seed,
        "device": opts.device.preset,
        "epochs": opts.epochs,
        "resumed_from_epoch": run.first_epoch - 1,
        "train_samples": run.samples,
        "test_samples": run.test_samples,
        "max_step_s": max_step_s,
        "reltol": reltol,
        "test_loss_note": "test loss: ideal model forward pass on the circuit's read weights",
        "final": last,
        "wall_time_s": start.elapsed().as_secs_f64(),
    });
    write(
        &args.out.join("summary.json"),
        &serde_json::to_string_pretty(&summary)?,
    )?;
    if !args.quiet {
        eprintln!(
            "wrote {}/metrics.csv, summary.json, checkpoints/",
            args.out.display()
        );
    }
    Ok(())
}
