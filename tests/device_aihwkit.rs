//! dfcsim's device models against aihwkit itself.
//!
//! `device_aihwkit_ref/reference.txt` holds pulse statistics printed by aihwkit 1.2.0's own
//! C++ device code (`device_aihwkit_ref/harness.cpp`, rebuilt by `run.sh` from the PyPI
//! source distribution): per configuration 6 seeds × 20000 devices, k = 1, 10, 100, 1000 up
//! pulses and, separately, down pulses from w0; mean and std across devices of the weight
//! change and the fraction of devices on a bound after 1000 pulses, each averaged over the
//! seeds with its standard error. (aihwkit's CPU RNG takes Gaussians from a finite table, so
//! one seed carries a bias of its own: the between-seed spread measures it.)
//!
//! Here the same configurations are sampled with dfcsim (10000 devices, other random
//! numbers) and every statistic must agree within 5 standard errors of the difference.

use dfcsim::circuit::ParamValue;
use dfcsim::learn::device::{DeviceParams, PulseReport, pulse_statistics};
use dfcsim::span::Span;

const REFERENCE: &str = include_str!("device_aihwkit_ref/reference.txt");
const N: usize = 10_000;
/// Devices behind each reference statistic (6 seeds × 20000).
const N_REF: f64 = 120_000.0;

/// A reference statistic and its standard error.
type Stat = (f64, f64);

struct Ref {
    /// per k: up_mean, up_std, down_mean, down_std
    rows: Vec<(u32, [Stat; 4])>,
    at_bound: [Stat; 2],
}

fn reference(name: &str) -> Ref {
    let mut rows = Vec::new();
    let mut at_bound = [(f64::NAN, f64::NAN); 2];
    for line in REFERENCE.lines() {
        let mut it = line.split_whitespace();
        if it.next() != Some(name) {
            continue;
        }
        let fields: Vec<(&str, f64)> = it
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k, v.parse::<f64>().unwrap()))
            .collect();
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).unwrap().1;
        let stat = |key: &str| (get(key), get(&format!("{key}_sem")));
        if line.contains("at_bound") {
            at_bound = [stat("up"), stat("down")];
        } else {
            rows.push((
                get("k") as u32,
                [
                    stat("up_mean"),
                    stat("up_std"),
                    stat("down_mean"),
                    stat("down_std"),
                ],
            ));
        }
    }
    assert_eq!(rows.len(), 4, "reference for {name}");
    Ref { rows, at_bound }
}

fn params(preset: &str, set: &[(&str, f64)]) -> DeviceParams {
    let mut p = DeviceParams::named(preset).unwrap();
    for (k, v) in set {
        p.set(k, &ParamValue::Num(*v), &Span::default()).unwrap();
    }
    p.validate(&Span::default()).unwrap();
    p
}

fn compare(name: &str, p: &DeviceParams, w0: f64, seed: u64) {
    let r = reference(name);
    let ours: PulseReport = pulse_statistics(p, N, &[1, 10, 100, 1000], w0, seed);
    let n = N as f64;
    let mut failures = Vec::new();
    for ((k, want), got) in r.rows.iter().zip(&ours.rows) {
        assert_eq!(*k, got.pulses);
        let got = [got.up_mean, got.up_std, got.down_mean, got.down_std];
        for q in 0..4 {
            let ((v_ref, sem_ref), v) = (want[q], got[q]);
            let spread = if q % 2 == 0 { got[q + 1] } else { got[q] };
            // Standard error of our estimate: of a mean s/√N; of a std ≈ s/√(2N), doubled
            // for the heavy tails that clipping at the bounds gives. The reference's error
            // is its between-seed error, at least the same i.i.d. error for its N_REF devices.
            let iid = |m: f64| {
                if q % 2 == 0 {
                    spread / m.sqrt()
                } else {
                    2.0 * spread / (2.0 * m).sqrt()
                }
            };
            let se = (iid(n).powi(2) + sem_ref.max(iid(N_REF)).powi(2)).sqrt();
            if (v - v_ref).abs() > 5.0 * se + 1e-12 {
                let label = ["up_mean", "up_std", "down_mean", "down_std"][q];
                failures.push(format!(
                    "k={k} {label} {v:.6e} vs aihwkit {v_ref:.6e} (se {se:.1e})"
                ));
            }
        }
    }
    for (dir, (got, (want, sem_ref))) in [ours.up_at_bound, ours.down_at_bound]
        .into_iter()
        .zip(r.at_bound)
        .enumerate()
    {
        let p = want.max(got).max(1.0 / n);
        let iid = |m: f64| (p * (1.0 - want.min(got)) / m).sqrt();
        let se = (iid(n).powi(2) + sem_ref.max(iid(N_REF)).powi(2)).sqrt();
        if (got - want).abs() > 5.0 * se + 1e-9 {
            failures.push(format!(
                "{} at bound {got:.4} vs aihwkit {want:.4} (se {se:.1e})",
                ["up", "down"][dir]
            ));
        }
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn constantstep() {
    compare("constantstep", &params("constantstep", &[]), 0.0, 101);
}

#[test]
fn constantstep_up_down_bias() {
    let p = params("constantstep", &[("up_down", 0.2)]);
    compare("constantstep_updown", &p, 0.0, 102);
}

#[test]
fn linearstep_multiplicative_mean_bound() {
    let p = params("linearstep", &[("gamma_up", 0.5), ("gamma_down", 0.3)]);
    compare("linearstep_g", &p, 0.0, 103);
}

#[test]
fn linearstep_additive_device_bound() {
    let p = params(
        "linearstep",
        &[
            ("gamma_up", 0.5),
            ("gamma_down", 0.3),
            ("mult_noise", 0.0),
            ("mean_bound_reference", 0.0),
        ],
    );
    compare("linearstep_add", &p, 0.0, 104);
}

#[test]
fn softbounds() {
    compare("softbounds", &params("softbounds", &[]), 0.0, 105);
}

#[test]
fn softbounds_write_noise() {
    let p = params("softbounds", &[("write_noise_std", 5.0)]);
    compare("softbounds_wn", &p, 0.0, 106);
}

#[test]
fn expstep() {
    compare("expstep", &params("expstep", &[]), 0.0, 107);
}

#[test]
fn powstep() {
    compare("powstep", &params("powstep", &[]), 0.0, 108);
}

#[test]
fn powstep_exponent_bias() {
    let p = params(
        "powstep",
        &[
            ("pow_gamma", 2.0),
            ("pow_up_down", 0.2),
            ("pow_up_down_dtod", 0.05),
        ],
    );
    compare("powstep_g2", &p, 0.1, 109);
}

#[test]
fn reramsb_preset() {
    compare("reramsb", &params("reramsb", &[]), 0.0, 110);
}

#[test]
fn pcm_preset() {
    compare("pcm", &params("pcm", &[]), 0.5, 111);
}

#[test]
fn ecram_preset() {
    compare("ecram", &params("ecram", &[]), 0.0, 112);
}

#[test]
fn capacitor_preset() {
    compare("capacitor", &params("capacitor", &[]), 0.0, 113);
}
