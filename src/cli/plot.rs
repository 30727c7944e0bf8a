//! `dfcsim plot FILE.(raw|csv) [--signals GLOBS] [--from T0] [--to T1] [-o OUT.(png|svg)]`:
//! waveforms of any dfcsim or ngspice output, or training curves of a `metrics.csv`.

use std::path::{Path, PathBuf};

use crate::output;
use crate::plot::{self, PlotSpec, format::parse_si, format::split_patterns};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Waveform file (`.raw` ngspice rawfile, `.csv`) or a training `metrics.csv`.
    pub file: PathBuf,
    /// Comma-separated glob patterns of signals (`*`, `?`), e.g. 'v(n1_*),u*'; a pattern
    /// without parentheses also matches node names inside v(…)/i(…). Default: all.
    #[arg(short, long)]
    pub signals: Option<String>,
    /// Start of the time window (seconds; SI suffixes allowed: 2u, 1.5ms).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<f64>,
    /// End of the time window (seconds; SI suffixes allowed).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<f64>,
    /// Which plot of a rawfile holding several (e.g. `.op` and `.tran`): its index from 0
    /// or a word of its name (`tran`, `op`). Default: the transient.
    #[arg(long)]
    pub plot: Option<String>,
    /// Output picture, `.png` or `.svg`. Default: next to FILE with `.png`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

fn parse_time(s: &str) -> Result<f64, String> {
    parse_si(s)
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a time (e.g. 2e-6, 2u, 1.5ms)"))
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| args.file.with_extension("png"));
    plot_file(&args, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn plot_file(args: &Args, out: &Path) -> Result<(), crate::CliError> {
    if let (Some(a), Some(b)) = (args.from, args.to)
        && a >= b
    {
        return Err(format!("--from {a:e} must be before --to {b:e}").into());
    }
    let plots = output::read_waveforms(&args.file)?;
    let main = match &args.plot {
        None => output::main_plot(&plots),
        Some(which) => choose_plot(&plots, which),
    };
    let Some(main) = main else {
        let names: Vec<String> = plots
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}: {}", p.plot_name))
            .collect();
        return Err(format!(
            "{}: no plot `{}`; plots in the file: {}",
            args.file.display(),
            args.plot.as_deref().unwrap_or(""),
            names.join(", ")
        )
        .into());
    };
    let is_metrics = main
        .signals
        .first()
        .is_some_and(|s| s.name.eq_ignore_ascii_case("epoch"));
    if is_metrics {
        let mut metrics = main.clone();
        // Name the run after its directory (`runs/rram/metrics.csv` → `rram`).
        if let Some(dir) = args.file.parent().and_then(|d| d.file_name()) {
            metrics.title = dir.to_string_lossy().into_owned();
        }
        if args.signals.is_some() || args.from.is_some() || args.to.is_some() {
            select_metrics(&mut metrics, args)?;
        }
        plot::training(&metrics, out)?;
    } else {
        let spec = PlotSpec {
            signals: args
                .signals
                .as_deref()
                .map(split_patterns)
                .unwrap_or_default(),
            from: args.from,
            to: args.to,
            ..PlotSpec::default()
        };
        plot::waveforms(main, &spec, out)?;
    }
    Ok(())
}

/// Applies `--signals` and `--from/--to` (epochs) to a metrics table.
fn select_metrics(m: &mut crate::waveform::Waveforms, args: &Args) -> Result<(), crate::CliError> {
    let patterns = args
        .signals
        .as_deref()
        .map(split_patterns)
        .unwrap_or_default();
    for p in &patterns {
        if !m.signals[1..]
            .iter()
            .any(|s| plot::format::glob_match(p, &s.name))
        {
            return Err(format!("no metric matches `{p}`").into());
        }
    }
    let keep: Vec<usize> = (0..m.width())
        .filter(|&j| {
            j == 0
                || patterns.is_empty()
                || patterns
                    .iter()
                    .any(|p| plot::format::glob_match(p, &m.signals[j].name))
        })
        .collect();
    let lo = args.from.unwrap_or(f64::NEG_INFINITY);
    let hi = args.to.unwrap_or(f64::INFINITY);
    let mut out = crate::waveform::Waveforms::new(
        &m.title,
        &m.plot_name,
        keep.iter().map(|&j| m.signals[j].clone()).collect(),
    );
    for i in 0..m.rows() {
        let row = m.row(i);
        if row[0] >= lo && row[0] <= hi {
            let picked: Vec<f64> = keep.iter().map(|&j| row[j]).collect();
            out.push_row(&picked);
        }
    }
    *m = out;
    Ok(())
}

/// A plot by index or by a case-insensitive word of its name (`tran` finds
/// `Transient Analysis`, `op` finds `Operating Point`).
fn choose_plot<'a>(
    plots: &'a [crate::waveform::Waveforms],
    which: &str,
) -> Option<&'a crate::waveform::Waveforms> {
    if let Ok(i) = which.trim().parse::<usize>() {
        return plots.get(i);
    }
    let w = which.trim().to_lowercase();
    let initials = |name: &str| -> String {
        name.split_whitespace()
            .filter_map(|word| word.chars().next())
            .collect::<String>()
            .to_lowercase()
    };
    plots.iter().find(|p| {
        let name = p.plot_name.to_lowercase();
        name.contains(&w) || initials(&name) == w
    })
}
