//! Device parameters with IBM aihwkit's names, defaults and meanings.
//!
//! Weights are dimensionless (aihwkit's normalised weight `w`, bounded by `w_min..w_max`);
//! conductances are in siemens (`g_min..g_max`), times in seconds, energies in joules.
//! Defaults follow aihwkit's Python dataclasses (`simulator/configs/devices.py`), which
//! override a few C++ defaults (e.g. `enforce_consistency = true`), and its presets
//! (`simulator/presets/devices.py`).

use std::fmt;

use crate::circuit::{Model, ParamValue};
use crate::span::Span;

/// Errors of the device-model layer; each names the `.model` card and the parameter.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "{span}: unknown device model kind `{kind}` (expected one of: ideal, constantstep, \
         linearstep, softbounds, expstep, powstep, reramsb, pcm, ecram, capacitor)"
    )]
    UnknownKind { kind: String, span: Span },
    #[error("{span}: unknown parameter `{name}` for device model kind `{kind}`{hint}")]
    UnknownParam {
        name: String,
        kind: String,
        hint: String,
        span: Span,
    },
    #[error("{span}: parameter `{name}`: {msg}")]
    BadValue {
        name: String,
        msg: String,
        span: Span,
    },
}

/// Update rule of a device ("update once" of aihwkit's pulsed devices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Floating-point update: `w += n·dw_min`, no bounds, no noise (aihwkit `IdealDevice`).
    Ideal,
    /// `ConstantStepDevice`.
    ConstantStep,
    /// `LinearStepDevice`.
    LinearStep,
    /// `SoftBoundsDevice`: a LinearStep with gamma 1 referenced to each device's own bounds.
    SoftBounds,
    /// `ExpStepDevice`.
    ExpStep,
    /// `PowStepDevice`.
    PowStep,
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DeviceKind::Ideal => "ideal",
            DeviceKind::ConstantStep => "constantstep",
            DeviceKind::LinearStep => "linearstep",
            DeviceKind::SoftBounds => "softbounds",
            DeviceKind::ExpStep => "expstep",
            DeviceKind::PowStep => "powstep",
        };
        f.write_str(s)
    }
}

/// All parameters of one device population. Field names are aihwkit's (lower-cased:
/// `A_up` is `a_up`); dfcsim's own additions are marked.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceParams {
    pub kind: DeviceKind,
    /// Name the parameters were built from (`constantstep`, `reramsb`, …), for reports.
    pub preset: String,

    // --- PulsedDevice (common to all pulsed kinds) ---
    /// Mean step per pulse (weight units).
    pub dw_min: f64,
    /// Device-to-device spread of the step, relative to `dw_min`.
    pub dw_min_dtod: f64,
    /// Draw the step gain log-normally (`exp(dtod·ξ)`) instead of `1 + dtod·ξ`.
    pub dw_min_dtod_log_normal: bool,
    /// Cycle-to-cycle spread of each pulse's step, relative.
    pub dw_min_std: f64,
    /// Systematic up/down bias: `up_down > 0` shrinks down steps, `< 0` shrinks up steps.
    pub up_down: f64,
    /// Device-to-device spread of the up/down bias (relative to `dw_min`).
    pub up_down_dtod: f64,
    pub w_min: f64,
    pub w_max: f64,
    /// Device-to-device spread of the bounds, relative to `w_min` / `w_max`.
    pub w_min_dtod: f64,
    pub w_max_dtod: f64,
    /// Force positive step sizes and `min_bound ≤ 0 ≤ max_bound` at creation.
    pub enforce_consistency: bool,
    /// Probability that a device is corrupt: stuck at a random value in
    /// `±corrupt_devices_range` (within its bounds).
    pub corrupt_devices_prob: f64,
    pub corrupt_devices_range: f64,
    /// Mean reset value, its device-to-device (additive) and cycle-to-cycle spread.
    pub reset: f64,
    pub reset_dtod: f64,
    pub reset_std: f64,
    /// Decay lifetime (in decay calls); 0 = no decay. `lifetime_dtod` relative.
    pub lifetime: f64,
    pub lifetime_dtod: f64,
    /// Diffusion std per diffusion call (weight units); `diffusion_dtod` relative.
    pub diffusion: f64,
    pub diffusion_dtod: f64,
    /// Write noise std in units of `dw_min`, redrawn each time a device is programmed
    /// (the update acts on a hidden persistent weight).
    pub write_noise_std: f64,

    // --- LinearStep / SoftBounds ---
    /// LinearStep: relative step decrease at the bound (`ls_decrease_up/down`).
    /// ExpStep: exponent of the exponential (`es_gamma_up/down`).
    pub gamma_up: f64,
    pub gamma_down: f64,
    pub gamma_up_dtod: f64,
    pub gamma_down_dtod: f64,
    pub allow_increasing: bool,
    /// Slope referenced to the mean bounds `w_max`/`w_min` (true) or to each device's bounds.
    pub mean_bound_reference: bool,
    /// Multiplicative (true) or additive cycle-to-cycle noise.
    pub mult_noise: bool,
    /// Step grows (instead of shrinking) towards the max (up) / min (down) bound; the
    /// slope is then referenced to the opposite bound shifted by `reverse_offset`.
    /// Needs `mult_noise`.
    pub reverse_up: bool,
    pub reverse_down: bool,
    pub reverse_offset: f64,

    // --- ExpStep ---
    pub a_up: f64,
    pub a_down: f64,
    pub a: f64,
    pub b: f64,
    pub dw_min_std_add: f64,
    pub dw_min_std_slope: f64,

    // --- PowStep ---
    pub pow_gamma: f64,
    pub pow_gamma_dtod: f64,
    pub pow_up_down: f64,
    pub pow_up_down_dtod: f64,

    // --- dfcsim additions ---
    /// Conductance (S) at `w = w_min` and `w = w_max` (linear map in between).
    pub g_min: f64,
    pub g_max: f64,
    /// Read noise std per read, in weight units.
    pub read_noise_std: f64,
    /// Power-law drift `G(t) = G0 ((t + t0)/t0)^-ν` after programming (aihwkit `drift.nu`,
    /// `drift.nu_dtod` relative to `nu`, `drift.t_0` in seconds).
    pub drift_nu: f64,
    pub drift_nu_dtod: f64,
    pub drift_t_0: f64,
    /// Fractions of devices stuck at `G_min` (`w_min`) and at `G_max` (`w_max`).
    pub stuck_min_prob: f64,
    pub stuck_max_prob: f64,
    /// Longest pulse train per update (aihwkit's `desired_bl` default is 31).
    pub max_pulses: u32,
    /// Programming energy per pulse (J).
    pub pulse_energy: f64,
}

/// Which parameter groups a kind accepts (aihwkit rejects fields its class lacks).
fn accepts(kind: DeviceKind, name: &str) -> bool {
    const EXTRA: &[&str] = &[
        "g_min",
        "g_max",
        "read_noise_std",
        "drift_nu",
        "drift_nu_dtod",
        "drift_t_0",
        "stuck_min_prob",
        "stuck_max_prob",
        "max_pulses",
        "pulse_energy",
    ];
    const PULSED: &[&str] = &[
        "dw_min",
        "dw_min_dtod",
        "dw_min_dtod_log_normal",
        "dw_min_std",
        "up_down",
        "up_down_dtod",
        "w_min",
        "w_max",
        "w_min_dtod",
        "w_max_dtod",
        "enforce_consistency",
        "corrupt_devices_prob",
        "corrupt_devices_range",
        "reset",
        "reset_dtod",
        "reset_std",
        "lifetime",
        "lifetime_dtod",
        "diffusion",
        "diffusion_dtod",
    ];
    const IDEAL: &[&str] = &[
        "dw_min",
        "w_min",
        "w_max",
        "reset_std",
        "lifetime",
        "diffusion",
    ];
    const LINEAR: &[&str] = &[
        "write_noise_std",
        "gamma_up",
        "gamma_down",
        "gamma_up_dtod",
        "gamma_down_dtod",
        "allow_increasing",
        "mean_bound_reference",
        "mult_noise",
        "reverse_up",
        "reverse_down",
        "reverse_offset",
    ];
    const SOFT: &[&str] = &[
        "write_noise_std",
        "mult_noise",
        "reverse_up",
        "reverse_down",
        "reverse_offset",
    ];
    const EXP: &[&str] = &[
        "write_noise_std",
        "a_up",
        "a_down",
        "gamma_up",
        "gamma_down",
        "a",
        "b",
        "dw_min_std_add",
        "dw_min_std_slope",
    ];
    const POW: &[&str] = &[
        "write_noise_std",
        "pow_gamma",
        "pow_gamma_dtod",
        "pow_up_down",
        "pow_up_down_dtod",
    ];
    if EXTRA.contains(&name) {
        return true;
    }
    match kind {
        DeviceKind::Ideal => IDEAL.contains(&name),
        DeviceKind::ConstantStep => PULSED.contains(&name),
        DeviceKind::LinearStep => PULSED.contains(&name) || LINEAR.contains(&name),
        DeviceKind::SoftBounds => PULSED.contains(&name) || SOFT.contains(&name),
        DeviceKind::ExpStep => PULSED.contains(&name) || EXP.contains(&name),
        DeviceKind::PowStep => PULSED.contains(&name) || POW.contains(&name),
    }
}

impl DeviceParams {
    /// aihwkit `PulsedDevice` defaults (ConstantStep) plus dfcsim's extras, all non-idealities
    /// of dfcsim's own off.
    fn pulsed_defaults(kind: DeviceKind, preset: &str) -> DeviceParams {
        DeviceParams {
            kind,
            preset: preset.to_string(),
            dw_min: 0.001,
            dw_min_dtod: 0.3,
            dw_min_dtod_log_normal: false,
            dw_min_std: 0.3,
            up_down: 0.0,
            up_down_dtod: 0.01,
            w_min: -0.6,
            w_max: 0.6,
            w_min_dtod: 0.3,
            w_max_dtod: 0.3,
            enforce_consistency: true,
            corrupt_devices_prob: 0.0,
            corrupt_devices_range: 0.1,
            reset: 0.0,
            reset_dtod: 0.0,
            reset_std: 0.01,
            lifetime: 0.0,
            lifetime_dtod: 0.0,
            diffusion: 0.0,
            diffusion_dtod: 0.0,
            write_noise_std: 0.0,
            gamma_up: 0.0,
            gamma_down: 0.0,
            gamma_up_dtod: 0.05,
            gamma_down_dtod: 0.05,
            allow_increasing: false,
            mean_bound_reference: true,
            mult_noise: true,
            reverse_up: false,
            reverse_down: false,
            reverse_offset: 0.01,
            a_up: 0.0,
            a_down: 0.0,
            a: 0.0,
            b: 0.0,
            dw_min_std_add: 0.0,
            dw_min_std_slope: 0.0,
            pow_gamma: 1.0,
            pow_gamma_dtod: 0.1,
            pow_up_down: 0.0,
            pow_up_down_dtod: 0.0,
            g_min: 0.0,
            g_max: 25e-6,
            read_noise_std: 0.0,
            drift_nu: 0.0,
            drift_nu_dtod: 0.0,
            drift_t_0: 1.0,
            stuck_min_prob: 0.0,
            stuck_max_prob: 0.0,
            max_pulses: 31,
            pulse_energy: 0.0,
        }
    }

    /// Defaults of an aihwkit device type or preset, by (case-insensitive) name:
    /// `ideal`, `constantstep`, `linearstep`, `softbounds`, `expstep`, `powstep`,
    /// `reramsb`, `pcm`, `ecram`, `capacitor` (a trailing `device`/`presetdevice`, as in
    /// aihwkit's class names, is accepted too).
    pub fn named(name: &str) -> Option<DeviceParams> {
        let lower = name.to_ascii_lowercase();
        let key = lower
            .strip_suffix("presetdevice")
            .or_else(|| lower.strip_suffix("device"))
            .unwrap_or(&lower);
        let p = match key {
            "ideal" => DeviceParams {
                dw_min_dtod: 0.0,
                dw_min_std: 0.0,
                up_down_dtod: 0.0,
                w_min_dtod: 0.0,
                w_max_dtod: 0.0,
                reset_std: 0.01,
                ..Self::pulsed_defaults(DeviceKind::Ideal, key)
            },
            "constantstep" => Self::pulsed_defaults(DeviceKind::ConstantStep, key),
            "linearstep" => Self::pulsed_defaults(DeviceKind::LinearStep, key),
            // C++ SoftBoundsRPUDeviceMetaParameter: ls_decrease_up/down = 1, dtod 0,
            // no increasing slope, slope referenced to each device's own bound.
            "softbounds" => DeviceParams {
                gamma_up: 1.0,
                gamma_down: 1.0,
                gamma_up_dtod: 0.0,
                gamma_down_dtod: 0.0,
                mean_bound_reference: false,
                ..Self::pulsed_defaults(DeviceKind::SoftBounds, key)
            },
            "expstep" => DeviceParams {
                a_up: 0.00081,
                a_down: 0.36833,
                gamma_up: 12.44625,
                gamma_down: 12.78785,
                a: 0.244,
                b: 0.2425,
                ..Self::pulsed_defaults(DeviceKind::ExpStep, key)
            },
            "powstep" => Self::pulsed_defaults(DeviceKind::PowStep, key),
            // ReRamSBPresetDevice (SoftBoundsReferenceDevice, reference 0, no slope dtod:
            // the same update as SoftBounds with additive noise). Gong et al., Nat.
            // Commun. 2018.
            "reramsb" => DeviceParams {
                dw_min: 0.002,
                up_down: 0.0,
                w_max: 1.25,
                w_min: -0.75,
                mult_noise: false,
                dw_min_dtod: 0.3,
                up_down_dtod: 0.01,
                w_max_dtod: 0.3 / 1.25,
                w_min_dtod: 0.3 / 0.75,
                dw_min_std: 3.75,
                write_noise_std: 56.0,
                ..Self::named("softbounds").expect("softbounds preset")
            },
            // PCMPresetDevice (ExpStepDevice), Nandakumar et al., Front. Neurosci. 2020.
            "pcm" => DeviceParams {
                dw_min: 0.01,
                up_down: 0.0,
                w_max: 2.0,
                w_min: 0.0,
                a: -1.0,
                b: 0.0,
                gamma_up: 2.5,
                gamma_down: 2.5,
                a_up: -27.235,
                a_down: -2.235,
                dw_min_dtod: 0.2,
                up_down_dtod: 0.05,
                w_max_dtod: 0.1,
                w_min_dtod: 0.0,
                dw_min_std: 0.6,
                dw_min_std_add: 0.042,
                dw_min_std_slope: 0.108,
                write_noise_std: 0.0,
                reset: 0.01,
                reset_dtod: 0.02,
                ..Self::named("expstep").expect("expstep preset")
            },
            // EcRamPresetDevice (LinearStepDevice), Tang et al., IEDM 2018.
            "ecram" => DeviceParams {
                dw_min: 0.002,
                up_down: 0.0,
                w_max: 1.1724,
                w_min: -0.8276,
                mult_noise: true,
                gamma_up: 0.1153,
                gamma_down: 0.5085,
                dw_min_dtod: 0.1,
                up_down_dtod: 0.01,
                w_max_dtod: 0.05,
                w_min_dtod: 0.05,
                gamma_up_dtod: 0.05,
                gamma_down_dtod: 0.05,
                dw_min_std: 0.3,
                write_noise_std: 0.0,
                mean_bound_reference: true,
                ..Self::pulsed_defaults(DeviceKind::LinearStep, key)
            },
            // CapacitorPresetDevice (LinearStepDevice), Li et al., VLSI 2018.
            "capacitor" => DeviceParams {
                dw_min: 0.005,
                up_down: 0.0,
                w_max: 1.0,
                w_min: -1.0,
                mult_noise: false,
                gamma_up: 0.05,
                gamma_down: 0.05,
                dw_min_dtod: 0.1,
                up_down_dtod: 0.06,
                w_max_dtod: 0.07,
                w_min_dtod: 0.07,
                gamma_up_dtod: 0.01,
                gamma_down_dtod: 0.01,
                dw_min_std: 0.3,
                write_noise_std: 0.0,
                mean_bound_reference: true,
                lifetime: 1.0e6,
                lifetime_dtod: 0.3,
                ..Self::pulsed_defaults(DeviceKind::LinearStep, key)
            },
            _ => return None,
        };
        Some(DeviceParams {
            preset: key.to_string(),
            ..p
        })
    }

    /// Builds the parameters of a `.model` card: its `kind` names the aihwkit type or preset
    /// (defaults), its parameters override them. Unknown kinds or parameters are errors.
    pub fn from_model(model: &Model) -> Result<DeviceParams, DeviceError> {
        let mut p = DeviceParams::named(&model.kind).ok_or_else(|| DeviceError::UnknownKind {
            kind: model.kind.clone(),
            span: model.span.clone(),
        })?;
        for (name, value) in &model.params {
            p.set(name, value, &model.span)?;
        }
        p.validate(&model.span)?;
        Ok(p)
    }

    /// Sets one parameter by its aihwkit name (case-insensitive).
    pub fn set(&mut self, name: &str, value: &ParamValue, span: &Span) -> Result<(), DeviceError> {
        let lname = name.to_ascii_lowercase();
        let name = lname.as_str();
        if !accepts(self.kind, name) {
            let hint = if ALL_NAMES.contains(&name) {
                format!(" (it belongs to another device type than {})", self.kind)
            } else {
                String::new()
            };
            return Err(DeviceError::UnknownParam {
                name: name.to_string(),
                kind: self.preset.clone(),
                hint,
                span: span.clone(),
            });
        }
        let bad = |msg: &str| DeviceError::BadValue {
            name: name.to_string(),
            msg: msg.to_string(),
            span: span.clone(),
        };
        let num = || -> Result<f64, DeviceError> {
            match value {
                ParamValue::Num(x) if x.is_finite() => Ok(*x),
                ParamValue::Num(_) => Err(bad("must be finite")),
                ParamValue::Str(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(&format!("expected a number, found `{s}`"))),
                ParamValue::Vec(_) => Err(bad("expected a number, found a vector")),
            }
        };
        let flag = || -> Result<bool, DeviceError> {
            match value {
                ParamValue::Num(x) if *x == 0.0 => Ok(false),
                ParamValue::Num(x) if *x == 1.0 => Ok(true),
                ParamValue::Str(s) => match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => Ok(true),
                    "false" | "no" | "off" => Ok(false),
                    _ => Err(bad(&format!("expected true/false or 1/0, found `{s}`"))),
                },
                _ => Err(bad("expected true/false or 1/0")),
            }
        };
        match name {
            "dw_min" => self.dw_min = num()?,
            "dw_min_dtod" => self.dw_min_dtod = num()?,
            "dw_min_dtod_log_normal" => self.dw_min_dtod_log_normal = flag()?,
            "dw_min_std" => self.dw_min_std = num()?,
            "up_down" => self.up_down = num()?,
            "up_down_dtod" => self.up_down_dtod = num()?,
            "w_min" => self.w_min = num()?,
            "w_max" => self.w_max = num()?,
            "w_min_dtod" => self.w_min_dtod = num()?,
            "w_max_dtod" => self.w_max_dtod = num()?,
            "enforce_consistency" => self.enforce_consistency = flag()?,
            "corrupt_devices_prob" => self.corrupt_devices_prob = num()?,
            "corrupt_devices_range" => self.corrupt_devices_range = num()?,
            "reset" => self.reset = num()?,
            "reset_dtod" => self.reset_dtod = num()?,
            "reset_std" => self.reset_std = num()?,
            "lifetime" => self.lifetime = num()?,
            "lifetime_dtod" => self.lifetime_dtod = num()?,
            "diffusion" => self.diffusion = num()?,
            "diffusion_dtod" => self.diffusion_dtod = num()?,
            "write_noise_std" => self.write_noise_std = num()?,
            "gamma_up" => self.gamma_up = num()?,
            "gamma_down" => self.gamma_down = num()?,
            "gamma_up_dtod" => self.gamma_up_dtod = num()?,
            "gamma_down_dtod" => self.gamma_down_dtod = num()?,
            "allow_increasing" => self.allow_increasing = flag()?,
            "mean_bound_reference" => self.mean_bound_reference = flag()?,
            "mult_noise" => self.mult_noise = flag()?,
            "reverse_up" => self.reverse_up = flag()?,
            "reverse_down" => self.reverse_down = flag()?,
            "reverse_offset" => self.reverse_offset = num()?,
            "a_up" => self.a_up = num()?,
            "a_down" => self.a_down = num()?,
            "a" => self.a = num()?,
            "b" => self.b = num()?,
            "dw_min_std_add" => self.dw_min_std_add = num()?,
            "dw_min_std_slope" => self.dw_min_std_slope = num()?,
            "pow_gamma" => self.pow_gamma = num()?,
            "pow_gamma_dtod" => self.pow_gamma_dtod = num()?,
            "pow_up_down" => self.pow_up_down = num()?,
            "pow_up_down_dtod" => self.pow_up_down_dtod = num()?,
            "g_min" => self.g_min = num()?,
            "g_max" => self.g_max = num()?,
            "read_noise_std" => self.read_noise_std = num()?,
            "drift_nu" => self.drift_nu = num()?,
            "drift_nu_dtod" => self.drift_nu_dtod = num()?,
            "drift_t_0" => self.drift_t_0 = num()?,
            "stuck_min_prob" => self.stuck_min_prob = num()?,
            "stuck_max_prob" => self.stuck_max_prob = num()?,
            "max_pulses" => {
                let x = num()?;
                if x < 1.0 || x.fract() != 0.0 || x > u32::MAX as f64 {
                    return Err(bad("must be a positive integer"));
                }
                self.max_pulses = x as u32;
            }
            "pulse_energy" => self.pulse_energy = num()?,
            _ => unreachable!("accepts() lists only the names handled here"),
        }
        Ok(())
    }

    /// Checks what aihwkit checks at creation, and dfcsim's own ranges.
    pub fn validate(&self, span: &Span) -> Result<(), DeviceError> {
        let bad = |name: &str, msg: &str| {
            Err(DeviceError::BadValue {
                name: name.to_string(),
                msg: msg.to_string(),
                span: span.clone(),
            })
        };
        if self.w_min > 0.0 || self.w_max < 0.0 {
            return bad(
                "w_min",
                "the closed interval [w_min, w_max] needs to contain 0 (as in aihwkit)",
            );
        }
        if self.w_max <= self.w_min {
            return bad("w_max", "must be greater than w_min");
        }
        if self.dw_min <= 0.0 {
            return bad("dw_min", "must be positive");
        }
        if self.g_min < 0.0 || self.g_max <= self.g_min {
            return bad("g_max", "need 0 <= g_min < g_max (siemens)");
        }
        for (name, v) in [
            ("corrupt_devices_prob", self.corrupt_devices_prob),
            ("stuck_min_prob", self.stuck_min_prob),
            ("stuck_max_prob", self.stuck_max_prob),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(name, "must be a probability in [0, 1]");
            }
        }
        if self.stuck_min_prob + self.stuck_max_prob > 1.0 {
            return bad(
                "stuck_max_prob",
                "stuck_min_prob + stuck_max_prob exceeds 1",
            );
        }
        if (self.reverse_up || self.reverse_down) && !self.mult_noise {
            return bad(
                "mult_noise",
                "reverse_up/reverse_down need multiplicative noise (as in aihwkit)",
            );
        }
        if self.drift_t_0 <= 0.0 {
            return bad("drift_t_0", "must be positive (seconds)");
        }
        for (name, v) in [
            ("dw_min_dtod", self.dw_min_dtod),
            ("dw_min_std", self.dw_min_std),
            ("w_min_dtod", self.w_min_dtod),
            ("w_max_dtod", self.w_max_dtod),
            ("read_noise_std", self.read_noise_std),
            ("write_noise_std", self.write_noise_std),
            ("drift_nu", self.drift_nu),
            ("drift_nu_dtod", self.drift_nu_dtod),
            ("pulse_energy", self.pulse_energy),
        ] {
            if v < 0.0 {
                return bad(name, "must not be negative");
            }
        }
        Ok(())
    }

    /// Mean weight change of one pulse at w = 0, aihwkit's `calcWeightGranularity`: the
    /// unit in which a wanted change is turned into a pulse count.
    pub fn weight_granularity(&self) -> f64 {
        match self.kind {
            DeviceKind::ExpStep => {
                let down_bias = if self.up_down > 0.0 {
                    -self.up_down
                } else {
                    0.0
                };
                let scale_down = (down_bias + 1.0) * self.dw_min;
                let z = self.b; // z at w = 0
                let dw_down =
                    scale_down * (1.0 - self.a_down * (self.gamma_down * -z).exp()).max(0.0);
                // aihwkit averages (dw_down + dw_down) / 2, i.e. takes the down step; kept.
                if dw_down > 0.0 { dw_down } else { self.dw_min }
            }
            DeviceKind::PowStep => self.dw_min * 0.5f64.powf(self.pow_gamma),
            _ => self.dw_min,
        }
    }

    /// Conductance (S) of a weight: the linear map of `[w_min, w_max]` onto `[g_min, g_max]`
    /// (using the mean bounds, so every device shares one map).
    #[inline]
    pub fn weight_to_conductance(&self, w: f64) -> f64 {
        self.g_min + (w - self.w_min) * (self.g_max - self.g_min) / (self.w_max - self.w_min)
    }

    /// Inverse of [`weight_to_conductance`](Self::weight_to_conductance).
    #[inline]
    pub fn conductance_to_weight(&self, g: f64) -> f64 {
        self.w_min + (g - self.g_min) * (self.w_max - self.w_min) / (self.g_max - self.g_min)
    }
}

/// Every parameter name any kind accepts (for "belongs to another type" hints).
const ALL_NAMES: &[&str] = &[
    "write_noise_std",
    "gamma_up",
    "gamma_down",
    "gamma_up_dtod",
    "gamma_down_dtod",
    "allow_increasing",
    "mean_bound_reference",
    "mult_noise",
    "reverse_up",
    "reverse_down",
    "reverse_offset",
    "a_up",
    "a_down",
    "a",
    "b",
    "dw_min_std_add",
    "dw_min_std_slope",
    "pow_gamma",
    "pow_gamma_dtod",
    "pow_up_down",
    "pow_up_down_dtod",
    "dw_min_dtod",
    "dw_min_std",
    "up_down",
    "up_down_dtod",
    "w_min_dtod",
    "w_max_dtod",
    "enforce_consistency",
    "corrupt_devices_prob",
    "corrupt_devices_range",
    "reset",
    "reset_dtod",
    "lifetime_dtod",
    "diffusion_dtod",
    "dw_min_dtod_log_normal",
];
