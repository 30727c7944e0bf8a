//! Hardware noise of the generated DFC circuit as TRNOISE sources (see `crate::noise`).
//!
//! Switched on by the preset's `.model` cards (all off in `ideal`):
//! - `thermal_noise=1` on the `periphery` card turns on the thermal noise 4kT/R of every
//!   resistor, at `temp=` kelvin from the same card (default 300 K);
//! - `en=` on the `opamp` card: input-referred voltage noise density in V/√Hz (white).
//!
//! Each white noise of one-sided PSD S is a TRNOISE source with NA = √(S·B), B = 1/(2·NT)
//! ([`crate::noise::na_for_psd`]): a resistor's noise as a current source (S = 4kT/R) in
//! parallel, the op-amp's as a voltage source (S = en²) in series with its non-inverting input.
//! NT = τ_v/20 with τ_v = R_f·C_f, the circuit's fastest designed time constant (τ_v ≤ τ_u),
//! so the noise is white over ten times the neurons' bandwidth 1/(2π τ_v) and the sampled
//! source's sinc⁴ fall-off lowers the variance behind a τ_v low-pass by ≈ 2.4 %. Noise above
//! B (e.g. through a faster op-amp pole) is not modelled. The realisation follows the
//! netlist's `.options seed` (written as the generator's seed).
//!
//! Where the sources go:
//! - flat form: every `R` card (except `Roa…`, the op-amp's internal pole network) gets its
//!   4kT/R. A resistor with one end on an ideal voltage-source output (input/bias lines,
//!   op-amp outputs: an AC ground for noise) injects into its other node only; injections
//!   into the same node are lumped into one source with the summed PSD (independent Gaussian
//!   noises add). So each crossbar column gets one source 4kT·ΣG of its cells;
//! - array form: each crossbar column gets that same source 4kT·Σ_j(G⁺_jk + G⁻_jk) (rows are
//!   driven lines, so this is exact); the neuron and controller devices' own resistors and
//!   op-amps are inside the `A` devices and get no noise here.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::hardware::parse_spice_number;
use super::network::Matrix;
use super::{GenConfig, GenError};
use crate::noise::{BOLTZMANN, na_for_psd};

/// Sample step NT as a fraction of τ_v.
const NT_PER_TAU_V: f64 = 1.0 / 20.0;

/// Which noises the generator writes, and the sample step.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisePlan {
    /// Temperature in kelvin for thermal noise; `None` = off.
    pub temp_kelvin: Option<f64>,
    /// Op-amp input-referred voltage noise density in V/√Hz; 0 = off.
    pub en_v_per_rt_hz: f64,
    /// TRNOISE sample step in seconds.
    pub nt_seconds: f64,
    /// `.options seed` written with the sources.
    pub seed: u64,
}

impl NoisePlan {
    /// The preset's noise (`periphery` card: `thermal_noise`, `temp`; `opamp` card: `en`),
    /// NT = τ_v/20, the generator's seed.
    pub fn new(cfg: &GenConfig) -> Result<NoisePlan, GenError> {
        let periphery = &cfg.hardware.periphery;
        let nt = cfg.scales.tau_v_seconds() * NT_PER_TAU_V;
        if !(nt.is_finite() && nt > 0.0) {
            return Err(GenError::Param(format!(
                "noise sample step tau_v/20 = {nt:e} s"
            )));
        }
        Ok(NoisePlan {
            temp_kelvin: periphery.thermal_noise.then_some(periphery.temp_kelvin),
            en_v_per_rt_hz: cfg.hardware.opamp.en_v_per_rthz,
            nt_seconds: nt,
            seed: cfg.seed,
        })
    }

    pub fn any(&self) -> bool {
        self.temp_kelvin.is_some() || self.en_v_per_rt_hz > 0.0
    }

    fn trnoise(&self, psd: f64) -> String {
        format!(
            "DC 0 TRNOISE({} {})",
            fmt(na_for_psd(psd, self.nt_seconds)),
            fmt(self.nt_seconds)
        )
    }

    /// Array form: one thermal noise current per crossbar column, PSD 4kT·Σ_j (G⁺ + G⁻).
    pub fn crossbar_columns(
        &self,
        o: &mut String,
        bar: &str,
        cols: &[String],
        gp: &Matrix,
        gn: &Matrix,
    ) {
        let Some(temp) = self.temp_kelvin else {
            return;
        };
        let _ = writeln!(
            o,
            "* thermal noise 4kT*sum(G) of each column (T = {temp} K)"
        );
        for (k, col) in cols.iter().enumerate() {
            let g: f64 = (0..gp.rows).map(|j| gp.at(j, k) + gn.at(j, k)).sum();
            if g > 0.0 {
                let psd = 4.0 * BOLTZMANN * temp * g;
                let _ = writeln!(o, "Ith{bar}_{k} 0 {col} {}", self.trnoise(psd));
            }
        }
    }

    /// Op-amp `name` with non-inverting input `inp` and offset `vos` (V): writes the series
    /// source carrying offset and input noise when either is on, and returns the node the
    /// amplifier should sense as its non-inverting input.
    pub fn opamp_input(&self, o: &mut String, name: &str, inp: &str, vos: f64) -> String {
        if vos == 0.0 && self.en_v_per_rt_hz == 0.0 {
            return inp.to_string();
        }
        let noise = if self.en_v_per_rt_hz > 0.0 {
            let en = self.en_v_per_rt_hz;
            format!(
                " TRNOISE({} {})",
                fmt(na_for_psd(en * en, self.nt_seconds)),
                fmt(self.nt_seconds)
            )
        } else {
            String::new()
        };
        let dc = if vos == 0.0 {
            "0".to_string()
        } else {
            fmt(vos)
        };
        let _ = writeln!(o, "Vos{name} {name}_os {inp} DC {dc}{noise}");
        format!("{name}_os")
    }

    /// Flat form: thermal noise of every resistor card of `netlist` (see the module docs),
    /// inserted before the analysis cards, with `.options seed`. Returns the new text.
    pub fn flat_resistors(&self, netlist: &str) -> String {
        let Some(temp) = self.temp_kelvin else {
            return self.with_seed(netlist, String::new());
        };
        let mut ac_ground: HashSet<&str> = HashSet::from(["0", "gnd"]);
        let mut resistors: Vec<(&str, &str, &str, f64)> = Vec::new();
        for line in netlist.lines().skip(1) {
            let t: Vec<&str> = line.split_whitespace().collect();
            let Some(first) = t.first() else { continue };
            let letter = first.chars().next().unwrap_or('*').to_ascii_lowercase();
            match letter {
                // Ideal voltage outputs to ground (V/E/B/H cards): noise injected there vanishes.
                'v' | 'e' | 'b' | 'h' if t.len() >= 3 && (t[2] == "0" || t[2] == "gnd") => {
                    ac_ground.insert(t[1]);
                }
                'r' if t.len() == 4 && !first.to_ascii_lowercase().starts_with("roa") => {
                    if let Some(ohms) = parse_spice_number(t[3]).filter(|r| *r > 0.0) {
                        resistors.push((first, t[1], t[2], ohms));
                    }
                }
                _ => {}
            }
        }
        // Per node: summed conductance of resistors whose other end is an AC ground.
        let mut lumped: BTreeMap<&str, f64> = BTreeMap::new();
        let mut section = format!(
            "\n*** thermal noise 4kT/R of the resistors (T = {temp} K), sampled every NT = {} s\n\
             * one source per node for resistors to driven lines (their PSDs add), one across\n\
             * each resistor between two undriven nodes\n",
            fmt(self.nt_seconds)
        );
        for &(name, a, b, ohms) in &resistors {
            let (ga, gb) = (ac_ground.contains(a), ac_ground.contains(b));
            match (ga, gb) {
                (true, true) => {}
                (true, false) | (false, true) => {
                    let node = if ga { b } else { a };
                    *lumped.entry(node).or_insert(0.0) += 1.0 / ohms;
                }
                (false, false) => {
                    let psd = 4.0 * BOLTZMANN * temp / ohms;
                    let _ = writeln!(section, "Ith_{name} {a} {b} {}", self.trnoise(psd));
                }
            }
        }
        for (node, g) in &lumped {
            let psd = 4.0 * BOLTZMANN * temp * g;
            let _ = writeln!(section, "Ithn_{node} 0 {node} {}", self.trnoise(psd));
        }
        self.with_seed(netlist, section)
    }

    /// The finished netlist: flat form with its resistor noise, and `.options seed` whenever
    /// any noise source is present.
    pub fn finish(&self, netlist: &str, flat: bool) -> String {
        if flat {
            self.flat_resistors(netlist)
        } else {
            self.with_seed(netlist, String::new())
        }
    }

    /// Inserts `section` and `.options seed` (when any noise is on) before the first
    /// `.options`/`.tran` card, or before `.end`.
    fn with_seed(&self, netlist: &str, mut section: String) -> String {
        if !self.any() {
            return netlist.to_string();
        }
        let _ = writeln!(
            section,
            "* noise realisation: TRNOISE seeded by .options seed and each source's name\n\
             .options seed={}",
            self.seed
        );
        let mut out = String::with_capacity(netlist.len() + section.len());
        let mut done = false;
        for line in netlist.lines() {
            let word = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !done && matches!(word.as_str(), ".options" | ".option" | ".tran" | ".end") {
                out.push_str(&section);
                done = true;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !done {
            out.push_str(&section);
        }
        out
    }
}

/// Round-trip decimal.
fn fmt(x: f64) -> String {
    format!("{x:e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(temp: Option<f64>, en: f64) -> NoisePlan {
        NoisePlan {
            temp_kelvin: temp,
            en_v_per_rt_hz: en,
            nt_seconds: 1e-7,
            seed: 9,
        }
    }

    #[test]
    fn resistors_to_driven_lines_are_lumped_per_node() {
        let net = "t\nV1 a 0 DC 1\nEo out 0 0 s 1e6\nR1 a c 1k\nR2 a c 1k\nRf out s 10k\n\
                   Rx c s 2k\nRoax_p s x 1k\nC1 c 0 1p\nCx x 0 1p\n.tran 1n 1u\n.end\n";
        let out = plan(Some(300.0), 0.0).flat_resistors(net);
        let na = |g: f64| na_for_psd(4.0 * BOLTZMANN * 300.0 * g, 1e-7);
        // c: R1 ∥ R2 to the driven line a; s: Rf to the op-amp output; Rx across c-s.
        assert!(
            out.contains(&format!("Ithn_c 0 c DC 0 TRNOISE({} 1e-7)", fmt(na(2e-3)))),
            "{out}"
        );
        assert!(
            out.contains(&format!("Ithn_s 0 s DC 0 TRNOISE({} 1e-7)", fmt(na(1e-4)))),
            "{out}"
        );
        assert!(
            out.contains(&format!("Ith_Rx c s DC 0 TRNOISE({} 1e-7)", fmt(na(5e-4)))),
            "{out}"
        );
        assert!(
            !out.contains("Ith_Roax_p") && !out.contains("Ithn_x "),
            "op-amp pole network is not noisy: {out}"
        );
        assert!(out.find(".options seed=9").unwrap() < out.find(".tran").unwrap());
        let c = crate::elaborate::load_str(&out, std::path::Path::new("t.cir"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.options.seed, Some(9));
    }

    #[test]
    fn off_means_unchanged() {
        let net = "t\nR1 a 0 1k\n.end\n";
        assert_eq!(plan(None, 0.0).flat_resistors(net), net);
        let mut o = String::new();
        assert_eq!(plan(None, 0.0).opamp_input(&mut o, "n1", "0", 0.0), "0");
        assert!(o.is_empty());
        assert_eq!(
            plan(None, 1e-8).opamp_input(&mut o, "n1", "0", 1e-3),
            "n1_os"
        );
        let na = na_for_psd(1e-16, 1e-7);
        assert_eq!(
            o,
            format!("Vosn1 n1_os 0 DC 1e-3 TRNOISE({} 1e-7)\n", fmt(na))
        );
    }
}
