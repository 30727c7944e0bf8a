//! Hardware preset: the op-amp and conductance-range parameters the generator needs, read
//! from `netlists/models/PRESET.lib` (`.model` cards written by the device-model work) or
//! built in for `ideal`.
//!
//! Recognised cards (names case-insensitive, SPICE suffixes allowed):
//! - an op-amp model: `.model NAME opamp(a0=… gbw=… vos=… vmax=… vmin=…)`; `gbw` in Hz
//!   (0 = no pole), `vmax`/`vmin` output rails in volts (absent = unlimited), `vos` input
//!   offset in volts;
//! - a conductance device: any other `.model` with `gmin`/`gmax` (or `g_min`/`g_max`) in
//!   siemens gives the crossbar range. The device model's name is written into each crossbar
//!   `.model` (`device=NAME`) for the plasticity module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::GenError;

/// Op-amp as the generator writes it (SI units).
#[derive(Debug, Clone, PartialEq)]
pub struct Opamp {
    /// DC open-loop gain (V/V).
    pub a0: f64,
    /// Gain-bandwidth product in Hz; `None` = no pole (frequency-independent gain).
    pub gbw_hz: Option<f64>,
    /// Input offset voltage in volts.
    pub vos_volts: f64,
    /// Output rails (min, max) in volts; `None` = unlimited.
    pub rails_volts: Option<(f64, f64)>,
}

impl Opamp {
    pub fn ideal() -> Self {
        Opamp {
            a0: 1e6,
            gbw_hz: None,
            vos_volts: 0.0,
            rails_volts: None,
        }
    }
}

/// What the generator takes from a preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    pub preset: String,
    /// The `.lib` file read, if any (`None`: built-in ideal).
    pub lib: Option<PathBuf>,
    pub opamp: Opamp,
    pub g_min_siemens: f64,
    pub g_max_siemens: f64,
    /// Name of the conductance device model in the lib, if any.
    pub device_model: Option<String>,
    /// Thermal / op-amp noise requested by the lib's cards (see `gen::noise`).
    pub noise: super::noise::NoiseParams,
}

impl Hardware {
    /// Built-in ideal preset: A0 = 1e6 without pole, G in [1 µS, 50 µS].
    pub fn ideal() -> Self {
        Hardware {
            preset: "ideal".into(),
            lib: None,
            opamp: Opamp::ideal(),
            g_min_siemens: 1e-6,
            g_max_siemens: 50e-6,
            device_model: None,
            noise: Default::default(),
        }
    }

    /// Loads `models_dir/PRESET.lib`. A missing `ideal.lib` falls back to the built-in
    /// ideal preset; any other missing preset is an error listing what exists.
    pub fn load(preset: &str, models_dir: &Path) -> Result<Self, GenError> {
        let path = models_dir.join(format!("{preset}.lib"));
        if !path.exists() {
            if preset.eq_ignore_ascii_case("ideal") {
                return Ok(Hardware::ideal());
            }
            let mut known: Vec<String> = std::fs::read_dir(models_dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter_map(|e| {
                            let p = e.path();
                            if p.extension()? != "lib" {
                                return None;
                            }
                            Some(p.file_stem()?.to_string_lossy().into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            known.sort();
            return Err(GenError::Preset(format!(
                "no preset `{preset}`: {} does not exist (presets found in {}: {})",
                path.display(),
                models_dir.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| GenError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut hw = Hardware::ideal();
        hw.preset = preset.to_string();
        hw.lib = Some(path.clone());
        hw.noise = super::noise::NoiseParams::from_lib(&path)?;
        for card in model_cards(&text) {
            let loc = |key: &str, raw: &str| {
                GenError::Preset(format!(
                    "{}:{}: .model {}: `{key}={raw}` is not a number",
                    path.display(),
                    card.line,
                    card.name
                ))
            };
            let num = |key: &str| -> Result<Option<f64>, GenError> {
                match card.params.get(key) {
                    None => Ok(None),
                    Some(raw) => parse_spice_number(raw)
                        .map(Some)
                        .ok_or_else(|| loc(key, raw)),
                }
            };
            if card.kind == "opamp" {
                if let Some(a0) = num("a0")? {
                    hw.opamp.a0 = a0;
                }
                hw.opamp.gbw_hz = num("gbw")?.filter(|&g| g > 0.0);
                hw.opamp.vos_volts = num("vos")?.unwrap_or(0.0);
                hw.opamp.rails_volts = match (num("vmin")?, num("vmax")?) {
                    (Some(lo), Some(hi)) => Some((lo, hi)),
                    (None, Some(hi)) => Some((-hi, hi)),
                    _ => None,
                };
                continue;
            }
            let g_min = num("gmin")?.or(num("g_min")?);
            let g_max = num("gmax")?.or(num("g_max")?);
            if let (Some(lo), Some(hi)) = (g_min, g_max) {
                if !(lo >= 0.0 && hi > lo) {
                    return Err(GenError::Preset(format!(
                        "{}:{}: .model {}: need 0 <= gmin < gmax, got gmin={lo:e} gmax={hi:e}",
                        path.display(),
                        card.line,
                        card.name
                    )));
                }
                if hw.device_model.is_none() {
                    hw.g_min_siemens = lo;
                    hw.g_max_siemens = hi;
                    hw.device_model = Some(card.name.clone());
                }
            }
        }
        Ok(hw)
    }
}

/// `to` as seen from directory `from_dir` (for `.include` lines written next to a netlist);
/// falls back to the absolute path of `to` when either cannot be resolved.
pub fn relative_path(from_dir: &Path, to: &Path) -> PathBuf {
    let (Ok(from), Ok(to_abs)) = (from_dir.canonicalize(), to.canonicalize()) else {
        return to.to_path_buf();
    };
    let common = from
        .components()
        .zip(to_abs.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = PathBuf::new();
    for _ in from.components().skip(common) {
        rel.push("..");
    }
    for c in to_abs.components().skip(common) {
        rel.push(c);
    }
    rel
}

struct ModelCard {
    name: String,
    kind: String,
    line: usize,
    params: BTreeMap<String, String>,
}

/// `.model NAME KIND(k=v …)` cards with `+` continuations; comments (`*`, `;`, `$ `) dropped.
fn model_cards(text: &str) -> Vec<ModelCard> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("");
        let line = line.split(" $ ").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('*') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('+') {
            if let Some(last) = logical.last_mut() {
                last.1.push(' ');
                last.1.push_str(rest);
            }
            continue;
        }
        logical.push((i + 1, line.to_string()));
    }
    let mut cards = Vec::new();
    for (line, text) in logical {
        let lower = text.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix(".model") else {
            continue;
        };
        let rest = rest.replace(['(', ')', ','], " ");
        let rest = rest.replace(" =", "=").replace("= ", "=");
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let params = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        cards.push(ModelCard {
            name: name.to_string(),
            kind: kind.to_string(),
            line,
            params,
        });
    }
    cards
}

/// A SPICE number: `1.5`, `2e-6`, `10u`, `4.7k`, `1meg`, trailing unit letters ignored.
pub fn parse_spice_number(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    let end = s
        .char_indices()
        .take_while(|&(i, c)| {
            c.is_ascii_digit()
                || c == '.'
                || ((c == '+' || c == '-') && (i == 0 || s[..i].ends_with('e')))
                || (c == 'e'
                    && s[i + 1..]
                        .chars()
                        .next()
                        .is_some_and(|n| n.is_ascii_digit() || n == '+' || n == '-'))
        })
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    let number = &s[..end];
    let suffix = &s[end..];
    let scale_exp: i32 = if suffix.starts_with("meg") {
        6
    } else if suffix.starts_with("mil") {
        return Some(number.parse::<f64>().ok()? * 25.4e-6);
    } else {
        match suffix.chars().next() {
            None => 0,
            Some('f') => -15,
            Some('p') => -12,
            Some('n') => -9,
            Some('u') => -6,
            Some('m') => -3,
            Some('k') => 3,
            Some('g') => 9,
            Some('t') => 12,
            Some(c) if c.is_ascii_alphabetic() => 0,
            Some(_) => return None,
        }
    };
    // Fold the suffix into the decimal exponent so that `10u` reads exactly as 1e-5.
    let (mantissa, exp) = match number.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (number, 0),
    };
    format!("{mantissa}e{}", exp + scale_exp).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spice_numbers() {
        assert_eq!(parse_spice_number("1.5"), Some(1.5));
        assert_eq!(parse_spice_number("10u"), Some(10e-6));
        assert_eq!(parse_spice_number("1meg"), Some(1e6));
        assert_eq!(parse_spice_number("2e-6"), Some(2e-6));
        assert_eq!(parse_spice_number("4.7kohm"), Some(4700.0));
        assert_eq!(parse_spice_number("-3e+2"), Some(-300.0));
        assert_eq!(parse_spice_number("abc"), None);
    }

    #[test]
    fn reads_model_cards_from_a_lib() {
        let dir = std::env::temp_dir().join(format!("dfcsim_hw_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("test.lib"),
            "* preset\n.model oa opamp(a0=1e4 gbw=10meg\n+ vmax=1.2)\n.model rr softbounds(gmin=2u gmax=80u dw_min=0.001)\n",
        )
        .unwrap();
        let hw = Hardware::load("test", &dir).unwrap();
        assert_eq!(hw.opamp.a0, 1e4);
        assert_eq!(hw.opamp.gbw_hz, Some(10e6));
        assert_eq!(hw.opamp.rails_volts, Some((-1.2, 1.2)));
        assert_eq!((hw.g_min_siemens, hw.g_max_siemens), (2e-6, 80e-6));
        assert_eq!(hw.device_model.as_deref(), Some("rr"));
        let err = Hardware::load("nope", &dir).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("test"), "{err}");
        assert_eq!(Hardware::load("ideal", &dir).unwrap(), Hardware::ideal());
        std::fs::remove_dir_all(&dir).ok();
    }
}
