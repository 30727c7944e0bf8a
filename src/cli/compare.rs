//! `dfcsim compare [NET.cir] --arch 15-10-10-5 --presets ideal,rram,pcm,ecram
//! [--sweep PARAM=V1,V2,…] [--epochs N] [--seed S] [--samples N] -o DIR`: the ideal model and
//! the circuit under each preset or sweep point on the same data, seed and schedule, then
//! `DIR/report.json`, `DIR/report.md` and the plots. Re-running skips finished configurations.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use crate::compare::{self, Common, Outcome, Progress, Sweep};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The user's own DFC netlist (`dfcsim gen --flat` form); default: generated from --arch.
    pub netlist: Option<PathBuf>,
    /// Layer sizes, input to output (default 15-10-10-5; with NETLIST: the netlist's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Hardware presets of the circuit configurations (comma-separated; empty: ideal model only).
    #[arg(long, default_value = "ideal,rram,pcm,ecram")]
    pub presets: String,
    /// PARAM=V1,V2,…: an ideal-model setting (k_p, alpha, lr, …) or a hardware parameter.
    #[arg(long)]
    pub sweep: Option<String>,
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Training samples per epoch.
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    #[arg(long, default_value_t = 200)]
    pub test_samples: usize,
    /// Minibatch size, the same for every configuration.
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Directory of the hardware presets' `PRESET.lib` files (default: ./netlists/models,
    /// else the presets of the source tree dfcsim was built from).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Configurations trained at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// No progress lines.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
}

pub fn parse_arch(text: &str) -> Result<Vec<usize>, String> {
    text.split('-')
        .map(|s| {
            s.trim().parse::<usize>().map_err(|_| {
                format!("--arch `{text}`: `{s}` is not a layer size (e.g. 15-10-10-5)")
            })
        })
        .collect()
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    let start = Instant::now();
    let sizes = match (&args.netlist, &args.arch) {
        (Some(net), arch) => {
            let sizes = compare::netlist_sizes(net)?;
            if let Some(a) = arch
                && parse_arch(a)? != sizes
            {
                return Err(format!(
                    "--arch {a} does not match {}, whose layers are {}",
                    net.display(),
                    sizes
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join("-")
                )
                .into());
            }
            sizes
        }
        (None, Some(a)) => parse_arch(a)?,
        (None, None) => vec![15, 10, 10, 5],
    };
    let sweep = args.sweep.as_deref().map(Sweep::parse).transpose()?;
    let presets: Vec<String> = args
        .presets
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    let configs = compare::configurations(&presets, sweep.as_ref())?;
    let common = Common {
        sizes,
        netlist: args.netlist.clone(),
        epochs: args.epochs,
        seed: args.seed,
        samples: args.samples,
        test_samples: args.test_samples,
        batch: args.batch,
        models_dir: super::models_dir(args.models_dir.as_deref()),
    };
    let stderr = Mutex::new(());
    let progress = |p: &Progress| {
        if !args.quiet {
            let _guard = stderr.lock();
            eprintln!(
                "[{:7.1} s] {}: epoch {}/{}, test loss {:.4e}, eta {:.0} s",
                start.elapsed().as_secs_f64(),
                p.config,
                p.epoch,
                p.epochs,
                p.test_loss,
                p.eta_s
            );
        }
    };
    if !args.quiet {
        eprintln!(
            "{} configurations: {}",
            configs.len(),
            configs
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let outcomes = compare::run_all(&common, &configs, &args.out, args.jobs, &progress)?;
    let report = compare::report::write_report(
        &args.out,
        &common,
        sweep.as_ref().map(|s| s.param.as_str()),
        &outcomes,
    )?;
    let mut failed = Vec::new();
    for o in &outcomes {
        match o {
            Outcome::Resumed(r) if !args.quiet => {
                eprintln!("{}: finished earlier, loaded from runs/", r.config.name)
            }
            Outcome::Failed { config, message } => {
                failed.push(format!("{}: {message}", config.name))
            }
            _ => {}
        }
    }
    if !args.quiet {
        eprintln!(
            "report: {} ({} plots) in {:.1} s",
            args.out.join("report.md").display(),
            report.plots.len(),
            start.elapsed().as_secs_f64()
        );
    }
    if !failed.is_empty() {
        return Err(format!(
            "{} configuration(s) failed (the others are in the report):\n  {}",
            failed.len(),
            failed.join("\n  ")
        )
        .into());
    }
    Ok(())
}
