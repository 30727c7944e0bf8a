//! Periphery of the DFC circuit besides op-amps and synapses: input/target DACs, the ADCs of
//! the sense amplifiers the plasticity module reads, tanh-stage mismatch, thermal noise, and
//! the energy model `dfcsim train` reports.
//!
//! The `.model NAME periphery(…)` card of a preset (keys in [`Periphery::KEYS`]) is read by
//! [`super::Hardware::load`]; `dfcsim gen` writes what the co-simulation needs into the
//! `.learn` card (keys in [`LearnPeriphery::KEYS`]), so array and flat netlists carry the
//! same converter and energy figures.
//!
//! Units: converter ranges are dimensionless (units of the activation scale V_s), energies
//! in joules, power in watts, offsets in volts.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Converters, transfer-stage mismatch and thermal noise of a preset.
#[derive(Debug, Clone, PartialEq)]
pub struct Periphery {
    /// Resolution of the input and target DACs (0 = exact).
    pub dac_bits: u32,
    /// DAC full scale ±`dac_range` (dimensionless).
    pub dac_range: f64,
    /// Resolution of the ADCs behind the sense amplifiers (0 = exact).
    pub adc_bits: u32,
    /// ADC full scale ±`adc_range` (dimensionless).
    pub adc_range: f64,
    /// Energy per DAC / ADC conversion (J).
    pub dac_energy_j: f64,
    pub adc_energy_j: f64,
    /// Relative σ of each tanh stage's gain (0 = exact).
    pub tanh_gain_sigma: f64,
    /// σ of each tanh stage's input offset (V).
    pub tanh_offset_sigma_volts: f64,
    /// Temperature of the resistors' 4kT/R noise (K) and whether that noise is emitted.
    pub temp_kelvin: f64,
    pub thermal_noise: bool,
}

impl Periphery {
    /// Card keys of `.model NAME periphery(…)`.
    pub const KEYS: &'static [&'static str] = &[
        "dac_bits",
        "dac_range",
        "adc_bits",
        "adc_range",
        "dac_energy",
        "adc_energy",
        "tanh_gain_sigma",
        "tanh_offset_sigma",
        "temp",
        "thermal_noise",
    ];

    pub fn ideal() -> Self {
        Periphery {
            dac_bits: 0,
            dac_range: 1.0,
            adc_bits: 0,
            adc_range: 1.0,
            dac_energy_j: 0.0,
            adc_energy_j: 0.0,
            tanh_gain_sigma: 0.0,
            tanh_offset_sigma_volts: 0.0,
            temp_kelvin: 300.0,
            thermal_noise: false,
        }
    }

    pub fn dac(&self) -> Quantiser {
        Quantiser::new(self.dac_bits, self.dac_range)
    }

    pub fn adc(&self) -> Quantiser {
        Quantiser::new(self.adc_bits, self.adc_range)
    }

    /// Per-neuron (gain, input offset in volts) of every tanh stage, layer by layer (`sizes`
    /// = neurons per layer). Drawn once at generation time from `seed`, in a fixed order, so
    /// the array and flat netlists of one seed carry the same values.
    pub fn tanh_mismatch(&self, sizes: &[usize], seed: u64) -> Vec<Vec<(f64, f64)>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7A4B_5EED_0FF5_E7A1);
        let unit = Normal::new(0.0, 1.0).expect("unit normal");
        sizes
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|_| {
                        let zg: f64 = unit.sample(&mut rng);
                        let zo: f64 = unit.sample(&mut rng);
                        (
                            1.0 + self.tanh_gain_sigma * zg,
                            self.tanh_offset_sigma_volts * zo,
                        )
                    })
                    .collect()
            })
            .collect()
    }
}

/// Uniform mid-tread quantiser with aihwkit's convention (`IOParameters.inp_res` /
/// `out_res` = 1/(2^bits − 2)): 2^bits − 2 steps, i.e. 2^bits − 1 levels evenly spaced
/// over [−range, range] with 0 a level (1 bit: the two levels ±range); values are clamped
/// to the range; `bits = 0` passes values unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiser {
    pub bits: u32,
    pub range: f64,
}

impl Quantiser {
    pub fn new(bits: u32, range: f64) -> Self {
        Quantiser { bits, range }
    }

    pub fn exact() -> Self {
        Quantiser::new(0, 1.0)
    }

    /// Spacing of the levels (0 when exact).
    pub fn step(&self) -> f64 {
        if self.bits == 0 {
            return 0.0;
        }
        2.0 * self.range / ((1u64 << self.bits) - 2).max(1) as f64
    }

    #[inline]
    pub fn apply(&self, v: f64) -> f64 {
        if self.bits == 0 {
            return v;
        }
        let step = self.step();
        let k = ((v.clamp(-self.range, self.range) + self.range) / step).round();
        k * step - self.range
    }
}

/// What the co-simulation needs of the periphery, written by `dfcsim gen` into the `.learn`
/// card: converter resolutions and the energy model's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnPeriphery {
    pub dac: Quantiser,
    pub adc: Quantiser,
    /// Quiescent power of every active stage of the circuit (W).
    pub static_power_w: f64,
    /// Energy per DAC / ADC conversion (J).
    pub dac_energy_j: f64,
    pub adc_energy_j: f64,
}

impl Default for LearnPeriphery {
    fn default() -> Self {
        LearnPeriphery {
            dac: Quantiser::exact(),
            adc: Quantiser::exact(),
            static_power_w: 0.0,
            dac_energy_j: 0.0,
            adc_energy_j: 0.0,
        }
    }
}

impl LearnPeriphery {
    /// `.learn` card keys.
    pub const KEYS: &'static [&'static str] = &[
        "dac_bits",
        "dac_range",
        "adc_bits",
        "adc_range",
        "p_static",
        "e_dac",
        "e_adc",
    ];

    /// Reads the keys through `num(key)` (a value of the `.learn` card, if present);
    /// absent keys keep the ideal defaults. Errors are messages naming the key.
    pub fn from_keys(
        mut num: impl FnMut(&str) -> Result<Option<f64>, String>,
    ) -> Result<Self, String> {
        let mut lp = LearnPeriphery::default();
        let mut bits = |key: &str| -> Result<u32, String> {
            match num(key)? {
                None => Ok(0),
                Some(b) if (0.0..=24.0).contains(&b) && b.fract() == 0.0 => Ok(b as u32),
                Some(b) => Err(format!("{key}={b}: expected a whole number 0..=24")),
            }
        };
        lp.dac.bits = bits("dac_bits")?;
        lp.adc.bits = bits("adc_bits")?;
        let mut positive = |key: &str, default: f64, strict: bool| -> Result<f64, String> {
            match num(key)? {
                None => Ok(default),
                Some(x) if x > 0.0 || (!strict && x == 0.0) => Ok(x),
                Some(x) => Err(format!(
                    "{key}={x}: expected a value {}",
                    if strict { "> 0" } else { ">= 0" }
                )),
            }
        };
        lp.dac.range = positive("dac_range", 1.0, true)?;
        lp.adc.range = positive("adc_range", 1.0, true)?;
        lp.static_power_w = positive("p_static", 0.0, false)?;
        lp.dac_energy_j = positive("e_dac", 0.0, false)?;
        lp.adc_energy_j = positive("e_adc", 0.0, false)?;
        Ok(lp)
    }
}

/// Number of active stages drawing quiescent current: per neuron the integrator op-amp, the
/// tanh (or buffer) stage and the inverter producing −r; per controller channel the
/// difference amplifier, integrator, summer and inverter (4 op-amps). The sense amplifiers
/// are the ADCs' front ends and are counted in the conversion energy.
pub fn active_stages(arch: &[usize]) -> usize {
    3 * arch[1..].iter().sum::<usize>() + 4 * arch[arch.len() - 1]
}

/// Instantaneous power (W) dissipated in one differential crossbar:
/// Σ_jk G⁺_jk (V(neg_j) − V(col_k))² + G⁻_jk (V(pos_j) − V(col_k))², with `g_plus`/`g_minus`
/// row-major [row j][column k] and voltages of the row lines and column wires in volts.
pub fn crossbar_power(
    pos: impl Fn(usize) -> f64,
    neg: impl Fn(usize) -> f64,
    col: impl Fn(usize) -> f64,
    g_plus: &[f64],
    g_minus: &[f64],
    cols: usize,
) -> f64 {
    let rows = g_plus.len() / cols.max(1);
    let mut p = 0.0;
    for j in 0..rows {
        let (vp, vn) = (pos(j), neg(j));
        for k in 0..cols {
            let vc = col(k);
            let idx = j * cols + k;
            p += g_plus[idx] * (vn - vc).powi(2) + g_minus[idx] * (vp - vc).powi(2);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiser_levels() {
        let q = Quantiser::new(2, 1.0); // 3 levels: −1, 0, 1
        assert_eq!(q.apply(0.4), 0.0);
        assert_eq!(q.apply(0.6), 1.0);
        assert_eq!(q.apply(-7.0), -1.0);
        assert_eq!(Quantiser::exact().apply(0.123), 0.123);
        let q = Quantiser::new(7, 1.0);
        assert_eq!(q.step(), 2.0 / 126.0);
        // idempotent: a quantised value stays where it is
        for v in [-0.9, -0.01, 0.0, 0.33, 0.999] {
            assert_eq!(q.apply(q.apply(v)), q.apply(v));
        }
    }

    #[test]
    fn learn_keys_round_trip() {
        let kv = [("adc_bits", 9.0), ("adc_range", 3.0), ("p_static", 0.1)];
        let lp =
            LearnPeriphery::from_keys(|k| Ok(kv.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)))
                .unwrap();
        assert_eq!(lp.adc, Quantiser::new(9, 3.0));
        assert_eq!(lp.dac, Quantiser::exact());
        assert_eq!(lp.static_power_w, 0.1);
        let bad = LearnPeriphery::from_keys(|k| Ok((k == "adc_bits").then_some(2.5)));
        assert!(bad.unwrap_err().contains("adc_bits"));
    }

    #[test]
    fn crossbar_power_of_one_cell() {
        // G+ = 2 S from the negative line (−1 V) to a column at 0 V: 2 W
        let p = crossbar_power(|_| 1.0, |_| -1.0, |_| 0.0, &[2.0], &[0.0], 1);
        assert_eq!(p, 2.0);
    }
}
