//! Hardware preset: the op-amp, periphery and conductance-range parameters the generator
//! needs, read from `netlists/models/PRESET.lib` through the project's own netlist reader
//! ([`crate::elaborate::load_models`]), or built in for `ideal`.
//!
//! Recognised cards (names case-insensitive, SPICE suffixes allowed):
//! - an op-amp model: `.model NAME opamp(a0=… gbw=… vos=… vmin=… vmax=… slew=… en=… iq=…
//!   vsupply=…)`, see [`Opamp`];
//! - a periphery model: `.model NAME periphery(dac_bits=… adc_bits=… …)`, see
//!   [`Periphery`];
//! - a conductance device: any other `.model` with `g_min`/`g_max` (or `gmin`/`gmax`) in
//!   siemens gives the crossbar range. The device model's name is written into each crossbar
//!   `.model` (`device=NAME`) for the plasticity module.
//!
//! Errors name the card as `file:line:col`.

use std::path::{Path, PathBuf};

use super::GenError;
use super::periphery::Periphery;
use crate::circuit::{Model, ParamValue};

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
    /// Slew rate in V/s (card key `slew`, 0 = unlimited); needs a pole (GBW): it limits the
    /// current into the pole capacitor to C_p·SR, so the internal node moves at most SR.
    pub slew_v_per_s: Option<f64>,
    /// Input-referred voltage noise density in V/√Hz (card key `en`; emitted by the noise
    /// sources, not by the op-amp itself).
    pub en_v_per_rthz: f64,
    /// Quiescent supply current per op-amp in amperes (card key `iq`; energy only).
    pub iq_amps: f64,
    /// Total supply voltage V+ − V− in volts (card key `vsupply`; energy only).
    pub supply_volts: f64,
}

impl Opamp {
    pub fn ideal() -> Self {
        Opamp {
            a0: 1e6,
            gbw_hz: None,
            vos_volts: 0.0,
            rails_volts: None,
            slew_v_per_s: None,
            en_v_per_rthz: 0.0,
            iq_amps: 0.0,
            supply_volts: 0.0,
        }
    }

    /// Quiescent power of one op-amp (W).
    pub fn static_power_watts(&self) -> f64 {
        self.iq_amps * self.supply_volts
    }
}

/// What the generator takes from a preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    pub preset: String,
    /// The `.lib` file read, if any (`None`: built-in ideal).
    pub lib: Option<PathBuf>,
    pub opamp: Opamp,
    /// Converters, transfer-stage mismatch, thermal noise.
    pub periphery: Periphery,
    pub g_min_siemens: f64,
    pub g_max_siemens: f64,
    /// Name of the conductance device model in the lib, if any.
    pub device_model: Option<String>,
}

impl Hardware {
    /// Built-in ideal preset: A0 = 1e6 without pole, G in [1 µS, 50 µS].
    pub fn ideal() -> Self {
        Hardware {
            preset: "ideal".into(),
            lib: None,
            opamp: Opamp::ideal(),
            periphery: Periphery::ideal(),
            g_min_siemens: 1e-6,
            g_max_siemens: 50e-6,
            device_model: None,
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
        let models =
            crate::elaborate::load_models(&path).map_err(|e| GenError::Preset(e.to_string()))?;
        let mut hw = Hardware::ideal();
        hw.preset = preset.to_string();
        hw.lib = Some(path.clone());
        for model in &models {
            let card = Card(model);
            match model.kind.to_ascii_lowercase().as_str() {
                "opamp" => hw.opamp = card.opamp()?,
                "periphery" => hw.periphery = card.periphery()?,
                _ => {
                    let g_min = card.num_any(&["g_min", "gmin"])?;
                    let g_max = card.num_any(&["g_max", "gmax"])?;
                    if let (Some(lo), Some(hi)) = (g_min, g_max) {
                        if !(lo >= 0.0 && hi > lo) {
                            return Err(card.err(format!(
                                "need 0 <= g_min < g_max, got g_min={lo:e} g_max={hi:e}"
                            )));
                        }
                        if hw.device_model.is_none() {
                            hw.g_min_siemens = lo;
                            hw.g_max_siemens = hi;
                            hw.device_model = Some(model.name.clone());
                        }
                    }
                }
            }
        }
        Ok(hw)
    }
}

/// Typed reads of one `.model` card; errors name it as `file:line:col`.
struct Card<'a>(&'a Model);

impl Card<'_> {
    fn err(&self, msg: String) -> GenError {
        GenError::Preset(format!(
            "{}: .model {} {}: {msg}",
            self.0.span, self.0.name, self.0.kind
        ))
    }

    fn num(&self, key: &str) -> Result<Option<f64>, GenError> {
        let found = self
            .0
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key));
        match found {
            None => Ok(None),
            Some((_, ParamValue::Num(x))) if x.is_finite() => Ok(Some(*x)),
            Some((_, v)) => Err(self.err(format!("`{key}` must be a finite number, got {v:?}"))),
        }
    }

    fn num_any(&self, keys: &[&str]) -> Result<Option<f64>, GenError> {
        for k in keys {
            if let Some(v) = self.num(k)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// A value ≥ 0 (absent: `default`).
    fn non_negative(&self, key: &str, default: f64) -> Result<f64, GenError> {
        match self.num(key)? {
            None => Ok(default),
            Some(x) if x >= 0.0 => Ok(x),
            Some(x) => Err(self.err(format!("`{key}` must be >= 0, got {x}"))),
        }
    }

    /// Rejects keys the card kind does not know (a typo would otherwise be silently ideal).
    fn only(&self, known: &[&str]) -> Result<(), GenError> {
        for k in self.0.params.keys() {
            if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                return Err(self.err(format!(
                    "unknown parameter `{k}` (known: {})",
                    known.join(" ")
                )));
            }
        }
        Ok(())
    }

    fn opamp(&self) -> Result<Opamp, GenError> {
        self.only(&[
            "a0", "gbw", "vos", "vmin", "vmax", "slew", "en", "iq", "vsupply",
        ])?;
        let a0 = self.num("a0")?.unwrap_or(Opamp::ideal().a0);
        if a0 <= 0.0 {
            return Err(self.err(format!("`a0` must be > 0, got {a0}")));
        }
        let gbw_hz = Some(self.non_negative("gbw", 0.0)?).filter(|&g| g > 0.0);
        let slew = Some(self.non_negative("slew", 0.0)?).filter(|&s| s > 0.0);
        if slew.is_some() && gbw_hz.is_none() {
            return Err(self.err(
                "`slew` needs a pole: give `gbw` > 0 (the slew limit acts on the pole node), \
                 or slew=0 for an op-amp without pole (e.g. a gbw sweep that includes 0)"
                    .into(),
            ));
        }
        let rails_volts = match (self.num("vmin")?, self.num("vmax")?) {
            (Some(lo), Some(hi)) if lo < hi => Some((lo, hi)),
            (None, Some(hi)) if hi > 0.0 => Some((-hi, hi)),
            (None, None) => None,
            (lo, hi) => {
                return Err(self.err(format!(
                    "rails: give vmax > 0, or vmin < vmax (got vmin={lo:?} vmax={hi:?})"
                )));
            }
        };
        Ok(Opamp {
            a0,
            gbw_hz,
            vos_volts: self.num("vos")?.unwrap_or(0.0),
            rails_volts,
            slew_v_per_s: slew,
            en_v_per_rthz: self.non_negative("en", 0.0)?,
            iq_amps: self.non_negative("iq", 0.0)?,
            supply_volts: self.non_negative("vsupply", 0.0)?,
        })
    }

    fn periphery(&self) -> Result<Periphery, GenError> {
        self.only(Periphery::KEYS)?;
        let bits = |key: &str| -> Result<u32, GenError> {
            let b = self.non_negative(key, 0.0)?;
            if b.fract() != 0.0 || b > 24.0 {
                return Err(self.err(format!("`{key}` must be a whole number 0..=24, got {b}")));
            }
            Ok(b as u32)
        };
        let range = |key: &str| -> Result<f64, GenError> {
            match self.num(key)? {
                None => Ok(1.0),
                Some(r) if r > 0.0 => Ok(r),
                Some(r) => Err(self.err(format!("`{key}` must be > 0, got {r}"))),
            }
        };
        Ok(Periphery {
            dac_bits: bits("dac_bits")?,
            dac_range: range("dac_range")?,
            adc_bits: bits("adc_bits")?,
            adc_range: range("adc_range")?,
            dac_energy_j: self.non_negative("dac_energy", 0.0)?,
            adc_energy_j: self.non_negative("adc_energy", 0.0)?,
            tanh_gain_sigma: self.non_negative("tanh_gain_sigma", 0.0)?,
            tanh_offset_sigma_volts: self.non_negative("tanh_offset_sigma", 0.0)?,
            temp_kelvin: self.non_negative("temp", 300.0)?,
            thermal_noise: self.non_negative("thermal_noise", 0.0)? != 0.0,
        })
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

/// A SPICE number token (`10u`, `4.7k`, `1meg`), read by the project's number parser.
pub fn parse_spice_number(s: &str) -> Option<f64> {
    crate::parse::number::parse_value_token(s.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spice_numbers() {
        assert_eq!(parse_spice_number("10u"), Some(10e-6));
        assert_eq!(parse_spice_number("1meg"), Some(1e6));
        assert_eq!(parse_spice_number("abc"), None);
    }

    #[test]
    fn reads_model_cards_from_a_lib() {
        let dir = std::env::temp_dir().join(format!("dfcsim_hw_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("test.lib"),
            "* preset\n.model oa opamp(a0=1e4 gbw=10meg\n+ vmax=1.2 slew=20meg en=4.5n)\n\
             .model pp periphery(adc_bits=9 adc_range=3 tanh_gain_sigma=0.01)\n\
             .model rr softbounds(gmin=2u gmax=80u dw_min=0.001)\n",
        )
        .unwrap();
        let hw = Hardware::load("test", &dir).unwrap();
        assert_eq!(hw.opamp.a0, 1e4);
        assert_eq!(hw.opamp.gbw_hz, Some(10e6));
        assert_eq!(hw.opamp.rails_volts, Some((-1.2, 1.2)));
        assert_eq!(hw.opamp.slew_v_per_s, Some(20e6));
        assert_eq!(hw.opamp.en_v_per_rthz, 4.5e-9);
        assert_eq!(hw.periphery.adc_bits, 9);
        assert_eq!(hw.periphery.adc_range, 3.0);
        assert_eq!(hw.periphery.tanh_gain_sigma, 0.01);
        assert_eq!((hw.g_min_siemens, hw.g_max_siemens), (2e-6, 80e-6));
        assert_eq!(hw.device_model.as_deref(), Some("rr"));
        let err = Hardware::load("nope", &dir).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("test"), "{err}");
        assert_eq!(Hardware::load("ideal", &dir).unwrap(), Hardware::ideal());
        // errors name file:line:col of the card
        std::fs::write(
            dir.join("bad.lib"),
            "* x\n.model oa opamp(a0=1e4 sleww=3)\n",
        )
        .unwrap();
        let err = Hardware::load("bad", &dir).unwrap_err().to_string();
        assert!(err.contains("bad.lib:2:") && err.contains("sleww"), "{err}");
        std::fs::write(
            dir.join("bad2.lib"),
            "* x\n.model oa opamp(a0=1e4 slew=3)\n",
        )
        .unwrap();
        let err = Hardware::load("bad2", &dir).unwrap_err().to_string();
        assert!(err.contains("bad2.lib:2:") && err.contains("gbw"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
