//! `dfcsim device`: sample a conductance device model and print its pulse statistics.
//!
//! ```text
//! dfcsim device constantstep
//! dfcsim device rram_dev --lib netlists/models/rram.lib --pulses 1,10,100 --json
//! dfcsim device linearstep --set gamma_up=0.5,gamma_down=0.5 --plot resp.png
//! ```

use std::path::{Path, PathBuf};
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

/// Error of the minimal `.model` reader.
#[derive(Debug, thiserror::Error)]
pub enum ModelReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{span}: {msg}")]
    Syntax { span: Span, msg: String },
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
            let models = read_model_cards(lib)?;
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
    if let Some(x) = parse_spice_number(text) {
        return Some(ParamValue::Num(x));
    }
    let word_like = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    word_like.then(|| ParamValue::Str(text.to_ascii_lowercase()))
}

fn parse_spice_number(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    // Exponent only if digits follow (so `1meg` is not read as an exponent).
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let mantissa: f64 = text[..i].parse().ok()?;
    let rest = text[i..].to_ascii_lowercase();
    if !rest.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let exp10: i32 = if rest.starts_with("meg") {
        6
    } else {
        match rest.chars().next() {
            Some('f') => -15,
            Some('p') => -12,
            Some('n') => -9,
            Some('u') => -6,
            Some('m') => -3,
            Some('k') => 3,
            Some('g') => 9,
            Some('t') => 12,
            _ => 0, // no suffix, or a bare unit such as `s` or `v`
        }
    };
    let mantissa_text = &text[..i];
    if exp10 == 0 {
        Some(mantissa)
    } else if mantissa_text.contains(['e', 'E']) {
        Some(mantissa * 10f64.powi(exp10))
    } else {
        // `25u` reads as the literal 25e-6 (correctly rounded), not 25 × 1e-6.
        format!("{mantissa_text}e{exp10}").parse().ok()
    }
}

/// Reads the `.model` cards of a library file, nothing else (`*` comment lines, `;` and
/// `$` inline comments and `+` continuations are understood; `.lib`/`.endl` sections and
/// other cards are skipped). A stop-gap until the netlist parser/elaborator provides models.
pub fn read_model_cards(path: &Path) -> Result<Vec<Model>, ModelReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let file = Arc::new(path.to_path_buf());
    // Logical lines: (line number, text) with continuations appended.
    let mut lines: Vec<(u32, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let mut line = raw;
        if let Some(p) = line.find(';') {
            line = &line[..p];
        }
        if let Some(p) = line.find(" $") {
            line = &line[..p];
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('*') {
            continue;
        }
        if let Some(cont) = trimmed.strip_prefix('+')
            && let Some(last) = lines.last_mut()
        {
            last.1.push(' ');
            last.1.push_str(cont);
            continue;
        }
        lines.push((n as u32 + 1, trimmed.to_string()));
    }
    let mut models = Vec::new();
    for (line_no, line) in lines {
        if !line.to_ascii_lowercase().starts_with(".model") {
            continue;
        }
        let span = Span {
            file: file.clone(),
            line: line_no,
            col: 1,
        };
        let syntax = |msg: String| ModelReadError::Syntax {
            span: span.clone(),
            msg,
        };
        // Treat parentheses and `=` as separators: `.model n kind (a = 1 b=2)`.
        let spaced = line[6..].replace(['(', ')'], " ").replace('=', " = ");
        let mut tokens = spaced.split_whitespace();
        let name = tokens
            .next()
            .ok_or_else(|| syntax(".model needs a name and a type".into()))?
            .to_ascii_lowercase();
        let kind = tokens
            .next()
            .ok_or_else(|| syntax(format!(".model {name} needs a type")))?
            .to_ascii_lowercase();
        let rest: Vec<&str> = tokens.collect();
        let mut params = std::collections::BTreeMap::new();
        let mut i = 0;
        while i < rest.len() {
            let key = rest[i];
            if rest.get(i + 1) != Some(&"=") || i + 2 >= rest.len() {
                return Err(syntax(format!(
                    ".model {name}: expected `name=value`, found `{key}`"
                )));
            }
            let raw = rest[i + 2];
            let value = parse_value(raw).ok_or_else(|| {
                syntax(format!(
                    ".model {name}: parameter `{key}`: cannot read the value `{raw}` \
                     (expressions need the full netlist parser)"
                ))
            })?;
            params.insert(key.to_ascii_lowercase(), value);
            i += 3;
        }
        models.push(Model {
            name,
            kind,
            params,
            span,
        });
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spice_numbers() {
        assert_eq!(parse_spice_number("25u"), Some(25e-6));
        assert_eq!(parse_spice_number("25uS"), Some(25e-6));
        assert_eq!(parse_spice_number("1meg"), Some(1e6));
        assert_eq!(parse_spice_number("-0.6"), Some(-0.6));
        assert_eq!(parse_spice_number("1e-3"), Some(1e-3));
        assert_eq!(parse_spice_number("2.5e+1k"), Some(25e3));
        assert_eq!(parse_spice_number("true"), None);
        assert_eq!(parse_spice_number("1.2.3"), None);
        assert_eq!(parse_value("False"), Some(ParamValue::Str("false".into())));
    }
}
