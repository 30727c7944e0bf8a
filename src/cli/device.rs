//! `dfcsim device`: sample a conductance device model and print its pulse statistics.
//!
//! ```text
//! dfcsim device constantstep
//! dfcsim device rram_dev --lib netlists/models/rram.lib --pulses 1,10,100 --json
//! dfcsim device linearstep --set gamma_up=0.5,gamma_down=0.5 --plot resp.png
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use crate::circuit::{Model, ParamValue};
use crate::learn::device::{DeviceParams, plot_pulse_response, pulse_response, pulse_statistics};
use crate::span::Span;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A `.model` name from `--lib`, or an aihwkit device type / preset: ideal, constantstep,
    /// linearstep, softbounds, expstep, powstep, reramsb, pcm, ecram, capacitor.
    pub model: String,
    /// Library file holding `.model` cards (e.g. netlists/models/rram.lib).
    #[arg(long)]
    pub lib: Option<PathBuf>,
    /// Parameter overrides, aihwkit names: `--set dw_min=0.002,up_down=0.1`.
    #[arg(long, value_delimiter = ',')]
    pub set: Vec<String>,
    /// Number of sampled devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: usize,
    /// Pulse counts at which to report statistics.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    pub pulses: Vec<u32>,
    /// Starting weight (dimensionless, clipped into each device's bounds).
    #[arg(long = "from", default_value_t = 0.0, allow_negative_numbers = true)]
    pub from: f64,
    /// Seed of the device sampling and of the cycle-to-cycle noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Draw pulse-response curves (PNG, or SVG by extension).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

pub fn main(args: Args) -> Result<(), crate::CliError> {
    if args.devices == 0 {
        return Err("--devices must be at least 1".into());
    }
    if args.pulses.is_empty() {
        return Err("--pulses needs at least one count".into());
    }
    let mut model = match &args.lib {
        Some(lib) => {
            let models = crate::elaborate::load_models(lib)?;
            let wanted = args.model.to_ascii_lowercase();
            let found = models.iter().find(|m| m.name == wanted).cloned();
            found.ok_or_else(|| {
                let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "no `.model {}` in {} (models there: {})",
                    args.model,
                    lib.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            })?
        }
        None => {
            if DeviceParams::named(&args.model).is_none() {
                return Err(format!(
                    "`{}` is not an aihwkit device type (ideal, constantstep, linearstep, \
                     softbounds, expstep, powstep, reramsb, pcm, ecram, capacitor); to use a \
                     `.model` card, give its library with --lib",
                    args.model
                )
                .into());
            }
            Model {
                name: args.model.to_ascii_lowercase(),
                kind: args.model.to_ascii_lowercase(),
                params: Default::default(),
                span: Span {
                    file: Arc::new(PathBuf::from("<command line>")),
                    line: 0,
                    col: 0,
                },
            }
        }
    };
    for item in &args.set {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("--set `{item}`: expected name=value"))?;
        let value = parse_value(value.trim())
            .ok_or_else(|| format!("--set `{item}`: cannot read the value `{value}`"))?;
        model.params.insert(name.trim().to_ascii_lowercase(), value);
    }
    let mut params = DeviceParams::from_model(&model)?;
    params.preset = model.name.clone();

    let report = pulse_statistics(&params, args.devices, &args.pulses, args.from, args.seed);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "device model `{}` ({}), {} devices from w0 = {}, seed {}",
            model.name, params.kind, args.devices, args.from, args.seed
        );
        println!(
            "{:>8} {:>13} {:>13} {:>13} {:>13}",
            "pulses", "up_mean", "up_std", "down_mean", "down_std"
        );
        for r in &report.rows {
            println!(
                "{:>8} {:>13.6e} {:>13.6e} {:>13.6e} {:>13.6e}",
                r.pulses, r.up_mean, r.up_std, r.down_mean, r.down_std
            );
        }
        let kmax = report.rows.last().map_or(0, |r| r.pulses);
        println!(
            "at a bound after {kmax} pulses: up {:.4}, down {:.4}",
            report.up_at_bound, report.down_at_bound
        );
    }
    if let Some(path) = &args.plot {
        let kmax = *args.pulses.iter().max().expect("checked non-empty");
        // The mean curve averages up to 1000 devices: enough for a smooth line, bounded cost.
        let resp = pulse_response(
            &params,
            args.devices.min(1000),
            5,
            kmax,
            args.from,
            args.seed,
        );
        let title = format!(
            "{} ({}): {kmax} up, {kmax} down pulses",
            model.name, params.kind
        );
        plot_pulse_response(&resp, &title, path)?;
        if !args.json {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// A number with an optional SPICE scale suffix (f p n u m k meg g t) and trailing unit
/// letters (`25uS`), or a word (`true`, `false`) kept as a string.
pub fn parse_value(text: &str) -> Option<ParamValue> {
    if let Some(x) = crate::parse::number::parse_value_token(text) {
        return Some(ParamValue::Num(x));
    }
    let word_like = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    word_like.then(|| ParamValue::Str(text.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value("25uS"), Some(ParamValue::Num(25e-6)));
        assert_eq!(parse_value("1meg"), Some(ParamValue::Num(1e6)));
        assert_eq!(parse_value("-0.6"), Some(ParamValue::Num(-0.6)));
        assert_eq!(parse_value("1.2.3"), None);
        assert_eq!(parse_value("False"), Some(ParamValue::Str("false".into())));
    }
}
