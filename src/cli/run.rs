//! `dfcsim run NETLIST [-o DIR] [--ascii] [--plot]`: parse, elaborate, run `.op`/`.tran`, and
//! write `DIR/NAME.csv`, `DIR/NAME.raw` and `DIR/NAME.summary.json`.
//!
//! The outputs are written even when an analysis fails, so the waveform up to the failure
//! is kept; the exit status is non-zero then.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::circuit::Options;
use crate::engine::{self, Stats};
use crate::{elaborate, output, plot};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Netlist (ngspice syntax), e.g. `netlists/examples/rc_step.cir`.
    pub netlist: PathBuf,
    /// Output directory (created if needed).
    #[arg(short, long, default_value = ".")]
    pub output: PathBuf,
    /// Write the rawfile in ascii instead of binary.
    #[arg(long)]
    pub ascii: bool,
    /// Also draw the waveforms to `DIR/NAME.png`.
    #[arg(long)]
    pub plot: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write `DIR/NAME.cir`: the netlist with every TRNOISE source replaced by the PWL
    /// of its realisation over the `.tran` interval (ngspice reproduces the same waveform).
    #[arg(long, value_name = "DIR")]
    pub export_noise: Option<PathBuf>,
}

/// What `NAME.summary.json` holds.
#[derive(serde::Serialize)]
struct Summary<'a> {
    netlist: String,
    title: &'a str,
    options: &'a Options,
    analyses: Vec<AnalysisSummary<'a>>,
    warnings: Vec<String>,
    /// The error that stopped the run, if any.
    error: Option<String>,
    wall_time_s: f64,
}

#[derive(serde::Serialize)]
struct AnalysisSummary<'a> {
    plot_name: &'a str,
    points: usize,
    #[serde(flatten)]
    stats: &'a Stats,
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    let start = Instant::now();
    let (circuit, warnings) = elaborate::load_with_warnings(&args.netlist)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if let Some(dir) = &args.export_noise {
        export_noise(&args.netlist, &circuit, dir, args.quiet)?;
    }
    let stem = args
        .netlist
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    // The CSV and the rawfile are formatted by a second thread while the analyses run; the
    // transient's rows stay in memory only when they are to be plotted.
    let (outcome, files) =
        output::stream::write_during(&args.output, &stem, args.ascii, args.plot, |sink| {
            engine::simulate_into(&circuit, &crate::devices::ArrayRegistry::new(), sink)
        });
    // Moved out, not copied: a wide run's table can be large.
    let (plots, stats): (Vec<_>, Vec<_>) = outcome
        .results
        .into_iter()
        .map(|r| (r.waveforms, r.stats))
        .unzip();
    let points = files.points().to_vec();
    let mut written = files.finish(&plots)?;
    let summary = Summary {
        netlist: args.netlist.display().to_string(),
        title: &circuit.title,
        options: &circuit.options,
        analyses: plots
            .iter()
            .zip(&stats)
            .enumerate()
            .map(|(i, (w, stats))| AnalysisSummary {
                plot_name: &w.plot_name,
                points: points.get(i).copied().unwrap_or_else(|| w.rows()),
                stats,
            })
            .collect(),
        warnings: warnings.iter().map(|w| w.to_string()).collect(),
        error: outcome.error.as_ref().map(|e| e.to_string()),
        wall_time_s: start.elapsed().as_secs_f64(),
    };
    written.push(output::write_summary(&args.output, &stem, &summary)?);
    if args.plot && output::main_plot(&plots).is_some_and(|w| w.rows() > 1) {
        let png = args.output.join(format!("{stem}.png"));
        plot::plot_run(&plots, &png)?;
        written.push(png);
    }
    if !args.quiet {
        report(&args.netlist, &summary, &written);
    }
    match outcome.error {
        Some(e) => Err(format!(
            "{}: {e} (waveforms up to the failure written)",
            args.netlist.display()
        )
        .into()),
        None => Ok(()),
    }
}

fn export_noise(
    netlist: &Path,
    circuit: &crate::circuit::Circuit,
    dir: &Path,
    quiet: bool,
) -> Result<(), crate::CliError> {
    let tstop = circuit
        .analyses
        .iter()
        .find_map(|a| match a {
            crate::circuit::Analysis::Tran { tstop, .. } => Some(*tstop),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "{}: --export-noise needs a .tran analysis (the PWL covers [0, tstop])",
                netlist.display()
            )
        })?;
    let (path, count) = crate::noise::export_pwl(netlist, circuit, tstop, dir)?;
    if !quiet {
        eprintln!(
            "wrote {} ({count} TRNOISE source(s) as PWL)",
            path.display()
        );
    }
    Ok(())
}

fn report(netlist: &Path, s: &Summary, written: &[PathBuf]) {
    for a in &s.analyses {
        eprintln!(
            "{}: {}: {} points, {} accepted / {} rejected steps, {} Newton iterations, {} numeric LU, {:.3} s",
            netlist.display(),
            a.plot_name,
            a.points,
            a.stats.accepted_steps,
            a.stats.rejected_steps,
            a.stats.newton_iterations,
            a.stats.numeric_factorisations,
            a.stats.wall_time_s
        );
    }
    for p in written {
        eprintln!("wrote {}", p.display());
    }
}
