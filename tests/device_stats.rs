//! Device models against statistics derived from aihwkit's semantics.
//!
//! ConstantStep, aihwkit defaults (dw_min 0.001, dw_min_dtod 0.3, dw_min_std 0.3,
//! up_down_dtod 0.01, bounds ±0.6 with 30 % spread). A device's up step is
//! `scale·(1 + 0.3 ξ_c)` with `scale = dw_min (1 + 0.3 ξ_d + 0.01 ξ_r)` fixed per device.
//! After k pulses from 0 (far from the bounds), Δw = scale·(k + 0.3 √k ξ), so
//!   mean = k·dw_min,   (std/mean)² = (1 + 0.3² + 0.01²)(1 + 0.3²/k) − 1:
//!   k = 1: 0.434,  k = 10: 0.316,  k = 100: 0.302.
//! At k = 100 the 0.27 % of devices whose upper bound 0.6(1 + 0.3 ξ) is below 0.1 clip,
//! which gives aihwkit's 0.0999 instead of 0.1.

use dfcsim::circuit::{Model, ParamValue};
use dfcsim::learn::device::{DeviceArray, DeviceError, DeviceParams, pulse_statistics};
use dfcsim::span::Span;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const N: usize = 20_000;

fn within(x: f64, want: f64, rel: f64) -> bool {
    ((x - want) / want).abs() <= rel
}

fn params(name: &str, set: &[(&str, f64)]) -> DeviceParams {
    let mut p = DeviceParams::named(name).unwrap();
    for (k, v) in set {
        p.set(k, &ParamValue::Num(*v), &Span::default()).unwrap();
    }
    p.validate(&Span::default()).unwrap();
    p
}

#[test]
fn constant_step_defaults_match_aihwkit_statistics() {
    let p = params("constantstep", &[]);
    let r = pulse_statistics(&p, N, &[1, 10, 100], 0.0, 1);
    let want = [(1, 0.00100, 0.43), (10, 0.0100, 0.32), (100, 0.0999, 0.30)];
    for (row, (k, mean, rel_spread)) in r.rows.iter().zip(want) {
        assert_eq!(row.pulses, k);
        let up_rel = row.up_std / row.up_mean;
        let down_rel = row.down_std / -row.down_mean;
        eprintln!(
            "k={k}: up {:.5} ({up_rel:.3}), down {:.5} ({down_rel:.3})",
            row.up_mean, row.down_mean
        );
        assert!(
            within(row.up_mean, mean, 0.05),
            "k={k} up mean {}",
            row.up_mean
        );
        assert!(within(up_rel, rel_spread, 0.05), "k={k} up spread {up_rel}");
        assert!(
            within(-row.down_mean, mean, 0.05),
            "k={k} down mean {}",
            row.down_mean
        );
        assert!(
            within(down_rel, rel_spread, 0.05),
            "k={k} down spread {down_rel}"
        );
    }
}

#[test]
fn up_down_bias_shrinks_the_weaker_direction() {
    // up_down > 0: scale_down = dw_min (1 − up_down + …), scale_up = dw_min (1 + …).
    let p = params("constantstep", &[("up_down", 0.2)]);
    let r = pulse_statistics(&p, N, &[10], 0.0, 2);
    let row = &r.rows[0];
    assert!(within(row.up_mean, 0.010, 0.02), "{}", row.up_mean);
    assert!(within(-row.down_mean, 0.008, 0.02), "{}", row.down_mean);
    // up_down < 0: the up direction is the weak one.
    let p = params("constantstep", &[("up_down", -0.2)]);
    let row = &pulse_statistics(&p, N, &[10], 0.0, 2).rows[0];
    assert!(within(row.up_mean, 0.008, 0.02), "{}", row.up_mean);
    assert!(within(-row.down_mean, 0.010, 0.02), "{}", row.down_mean);
}

#[test]
fn hard_bounds_saturate() {
    // 2000 pulses of 0.001 (±30 % cycle noise) from 0 reach a bound of 0.6 on every device.
    // As in aihwkit, a pulse whose cycle factor 1 + 0.3 ξ is negative steps the wrong way
    // (P = Φ(−3.33) = 4.3e-4), so a few devices sit one step off the bound at the end.
    let p = params(
        "constantstep",
        &[
            ("w_max_dtod", 0.0),
            ("w_min_dtod", 0.0),
            ("dw_min_dtod", 0.0),
        ],
    );
    let r = pulse_statistics(&p, 5000, &[2000], 0.0, 3);
    assert!(
        r.up_at_bound > 0.998 && r.up_at_bound < 1.0 + 1e-12,
        "{}",
        r.up_at_bound
    );
    assert!(r.down_at_bound > 0.998, "{}", r.down_at_bound);
    assert!((r.rows[0].up_mean - 0.6).abs() < 1e-5);
    assert!((r.rows[0].down_mean + 0.6).abs() < 1e-5);
    let p = params(
        "constantstep",
        &[
            ("w_max_dtod", 0.0),
            ("w_min_dtod", 0.0),
            ("dw_min_dtod", 0.0),
            ("dw_min_std", 0.0),
        ],
    );
    let r = pulse_statistics(&p, 100, &[2000], 0.0, 3);
    assert_eq!((r.up_at_bound, r.down_at_bound), (1.0, 1.0));
    assert!((r.rows[0].up_mean - 0.6).abs() < 1e-12);
    // With 30 % bound spread, after 100 pulses only devices with max bound < ~0.1 clip:
    // P(0.6 (1 + 0.3 ξ) < 0.1) = Φ(−2.78) ≈ 0.27 %.
    let p = params("constantstep", &[]);
    let r = pulse_statistics(&p, N, &[100], 0.0, 4);
    assert!(
        r.up_at_bound > 0.0005 && r.up_at_bound < 0.006,
        "{}",
        r.up_at_bound
    );
}

#[test]
fn linear_step_step_size_is_linear_in_w() {
    // Noise-free: up step dw_min (1 − γ_up w / w_max), down step dw_min (1 − γ_down w / w_min).
    let p = params(
        "linearstep",
        &[
            ("dw_min_dtod", 0.0),
            ("dw_min_std", 0.0),
            ("up_down_dtod", 0.0),
            ("gamma_up", 0.5),
            ("gamma_down", 0.2),
            ("gamma_up_dtod", 0.0),
            ("gamma_down_dtod", 0.0),
        ],
    );
    let r = pulse_statistics(&p, 10, &[1], 0.3, 5);
    assert!((r.rows[0].up_mean - 0.001 * (1.0 - 0.5 * 0.3 / 0.6)).abs() < 1e-15);
    assert!((r.rows[0].down_mean + 0.001 * (1.0 - 0.2 * 0.3 / -0.6)).abs() < 1e-15);
}

#[test]
fn reverse_up_makes_the_step_grow_towards_the_bound() {
    // reverse_up: reference w_min − offset, so the up step is dw_min (1 − γ w/(w_min − off)).
    let p = params(
        "linearstep",
        &[
            ("dw_min_dtod", 0.0),
            ("dw_min_std", 0.0),
            ("up_down_dtod", 0.0),
            ("gamma_up", 0.5),
            ("gamma_up_dtod", 0.0),
            ("reverse_up", 1.0),
        ],
    );
    let r = pulse_statistics(&p, 4, &[1], 0.3, 5);
    let want = 0.001 * (1.0 - 0.5 * 0.3 / (-0.6 - 0.01));
    assert!(
        (r.rows[0].up_mean - want).abs() < 1e-15,
        "{}",
        r.rows[0].up_mean
    );
    // aihwkit refuses reverse steps with additive noise.
    let mut p = DeviceParams::named("softbounds").unwrap();
    p.set("reverse_down", &ParamValue::Num(1.0), &Span::default())
        .unwrap();
    p.set("mult_noise", &ParamValue::Num(0.0), &Span::default())
        .unwrap();
    assert!(p.validate(&Span::default()).is_err());
}

#[test]
fn weight_granularity_is_the_mean_step_at_zero() {
    // ExpStep defaults: dw_min (1 − A_down e^{−γ_down b}) (aihwkit takes the down step).
    let p = params("expstep", &[]);
    let y_down = 1.0 - 0.36833 * (-12.78785f64 * 0.2425).exp();
    assert!((p.weight_granularity() - 0.001 * y_down).abs() < 1e-15);
    // PowStep: dw_min 0.5^γ.
    let p = params("powstep", &[("pow_gamma", 2.0)]);
    assert!((p.weight_granularity() - 0.00025).abs() < 1e-18);
    // The pulse count of a wanted change uses it: 0.0025 / 0.00025 = 10 pulses.
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut a = DeviceArray::new(&p, 3, &mut rng);
    let total = a.program_deltas(&[0.0025, -0.0025, 0.0], &mut rng);
    assert_eq!(total, 20);
}

#[test]
fn soft_bounds_follow_the_geometric_approach_to_the_bound() {
    // SoftBounds: w ← w + s (1 − w / b)(1 + σξ) ⇒ E[b − w_n] = (b − w0)(1 − s/b)^n exactly,
    // for any multiplicative cycle noise (independent, mean 1).
    let p = params(
        "softbounds",
        &[
            ("dw_min_dtod", 0.0),
            ("up_down_dtod", 0.0),
            ("w_max_dtod", 0.0),
            ("w_min_dtod", 0.0),
        ],
    );
    let r = pulse_statistics(&p, N, &[100, 1000], 0.0, 6);
    for row in &r.rows {
        let want = 0.6 * (1.0 - (1.0 - 0.001 / 0.6f64).powi(row.pulses as i32));
        assert!(
            within(row.up_mean, want, 0.005),
            "{} vs {want}",
            row.up_mean
        );
        assert!(
            within(-row.down_mean, want, 0.005),
            "{} vs {want}",
            row.down_mean
        );
    }
    // Steps vanish at the bound: never past it, never exactly on it.
    assert_eq!(r.up_at_bound, 0.0);
}

#[test]
fn exp_step_defaults_step_at_zero() {
    // At w = 0: z = b; y_up = 1 − A_up e^{γ_up b}, y_down = 1 − A_down e^{−γ_down b}.
    let p = params("expstep", &[]);
    let y_up = 1.0 - 0.00081 * (12.44625f64 * 0.2425).exp();
    let y_down = 1.0 - 0.36833 * (-12.78785f64 * 0.2425).exp();
    let r = pulse_statistics(&p, N, &[1], 0.0, 7);
    let row = &r.rows[0];
    assert!(
        within(row.up_mean, 0.001 * y_up, 0.02),
        "{} vs {}",
        row.up_mean,
        0.001 * y_up
    );
    assert!(
        within(-row.down_mean, 0.001 * y_down, 0.02),
        "{}",
        row.down_mean
    );
    assert!(within(row.up_std / row.up_mean, 0.434, 0.05));
}

#[test]
fn pow_step_step_scales_with_distance_to_bound() {
    // Up step dw_min ((w_max − w)/(w_max − w_min))^γ: from 0 with bounds ±0.6 it is 0.5^γ.
    let p = params(
        "powstep",
        &[
            ("pow_gamma", 2.0),
            ("pow_gamma_dtod", 0.0),
            ("dw_min_dtod", 0.0),
            ("dw_min_std", 0.0),
            ("up_down_dtod", 0.0),
            ("w_max_dtod", 0.0),
            ("w_min_dtod", 0.0),
        ],
    );
    let r = pulse_statistics(&p, 10, &[1], 0.0, 8);
    assert!((r.rows[0].up_mean - 0.001 * 0.25).abs() < 1e-15);
    assert!((r.rows[0].down_mean + 0.001 * 0.25).abs() < 1e-15);
}

#[test]
fn drift_follows_the_power_law_with_spread_exponent() {
    // G(t) = G0 ((t + t0)/t0)^−ν, ν = 0.05 (1 + 0.2 ξ) per device.
    let p = params(
        "constantstep",
        &[
            ("drift_nu", 0.05),
            ("drift_nu_dtod", 0.2),
            ("drift_t_0", 20.0),
        ],
    );
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut a = DeviceArray::new(&p, N, &mut rng);
    a.set_all(0.3, &mut rng);
    let mut g0 = vec![0.0; N];
    let mut g = vec![0.0; N];
    a.read_conductances(&mut rng, &mut g0);
    a.set_time(20.0 * 999.0);
    a.read_conductances(&mut rng, &mut g);
    let nus: Vec<f64> = g0
        .iter()
        .zip(&g)
        .map(|(g0, g)| -(g / g0).ln() / 1000f64.ln())
        .collect();
    let mean = nus.iter().sum::<f64>() / N as f64;
    let std = (nus.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / N as f64).sqrt();
    assert!(within(mean, 0.05, 0.01), "{mean}");
    assert!(within(std, 0.01, 0.03), "{std}");
    // Exact for one device.
    assert!((nus[0] - a.drift_nu(0)).abs() < 1e-12);
    // Reprogramming restarts the clock.
    a.apply_pulses(0, 1, &mut rng);
    a.read_conductances(&mut rng, &mut g);
    assert!((g[0] - p.weight_to_conductance(a.weight(0))).abs() < 1e-18);
}

#[test]
fn stuck_devices_do_not_move() {
    let p = params(
        "constantstep",
        &[("stuck_min_prob", 0.1), ("stuck_max_prob", 0.05)],
    );
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let mut a = DeviceArray::new(&p, N, &mut rng);
    for i in 0..N {
        a.apply_pulses(i, 50, &mut rng);
    }
    let at_min = (0..N).filter(|&i| a.weight(i) == -0.6).count() as f64 / N as f64;
    let at_max = (0..N).filter(|&i| a.weight(i) == 0.6).count() as f64 / N as f64;
    // Binomial std for N = 2e4: ~0.002 and ~0.0015.
    assert!((at_min - 0.1).abs() < 0.008, "{at_min}");
    assert!((at_max - 0.05).abs() < 0.006, "{at_max}");
    let mut g = vec![0.0; N];
    a.read_conductances(&mut rng, &mut g);
    let i = (0..N).find(|&i| a.weight(i) == -0.6).unwrap();
    assert_eq!(g[i], p.g_min);
}

#[test]
fn write_and_read_noise_have_their_std() {
    let p = params(
        "softbounds",
        &[("write_noise_std", 5.0), ("read_noise_std", 0.01)],
    );
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut a = DeviceArray::new(&p, N, &mut rng);
    for i in 0..N {
        a.apply_pulses(i, 1, &mut rng);
    }
    let d: Vec<f64> = (0..N)
        .map(|i| a.weight(i) - a.persistent_weight(i))
        .collect();
    let std = (d.iter().map(|v| v * v).sum::<f64>() / N as f64).sqrt();
    assert!(within(std, 5.0 * 0.001, 0.03), "{std}");
    let mut r = vec![0.0; N];
    a.read_weights(&mut rng, &mut r);
    let std = ((0..N).map(|i| (r[i] - a.weight(i)).powi(2)).sum::<f64>() / N as f64).sqrt();
    assert!(within(std, 0.01, 0.03), "{std}");
}

#[test]
fn program_delta_rounds_and_caps_the_pulse_train() {
    let p = params("constantstep", &[("dw_min_std", 0.0), ("dw_min_dtod", 0.0)]);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut a = DeviceArray::new(&p, 2, &mut rng);
    assert_eq!(a.program_delta(0, 0.0104, &mut rng), 10);
    assert_eq!(a.program_delta(1, -1.0, &mut rng), -31);
    let ideal = params("ideal", &[]);
    let mut a = DeviceArray::new(&ideal, 1, &mut rng);
    assert_eq!(a.program_delta(0, 0.123456, &mut rng), 0);
    assert_eq!(a.weight(0), 0.123456);
}

#[test]
fn same_seed_same_bits() {
    let p = params("pcm", &[]);
    let a = pulse_statistics(&p, 1000, &[1, 10, 100], 0.5, 42);
    let b = pulse_statistics(&p, 1000, &[1, 10, 100], 0.5, 42);
    let c = pulse_statistics(&p, 1000, &[1, 10, 100], 0.5, 43);
    assert_eq!(a, b);
    assert_ne!(a.rows[2].up_mean, c.rows[2].up_mean);
}

#[test]
fn model_cards_name_unknown_parameters() {
    let model = |kind: &str, params: &[(&str, ParamValue)]| Model {
        name: "d".into(),
        kind: kind.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        span: Span::default(),
    };
    let p = DeviceParams::from_model(&model(
        "LinearStep",
        &[
            ("gamma_up", ParamValue::Num(0.3)),
            ("mult_noise", ParamValue::Str("false".into())),
        ],
    ))
    .unwrap();
    assert_eq!(p.gamma_up, 0.3);
    assert!(!p.mult_noise);
    let e = DeviceParams::from_model(&model("constantstep", &[("dw_mn", ParamValue::Num(0.1))]))
        .unwrap_err();
    assert!(matches!(&e, DeviceError::UnknownParam { name, .. } if name == "dw_mn"));
    assert!(e.to_string().contains("dw_mn"));
    let e = DeviceParams::from_model(&model(
        "constantstep",
        &[("pow_gamma", ParamValue::Num(2.0))],
    ))
    .unwrap_err();
    assert!(e.to_string().contains("another device type"), "{e}");
    let e = DeviceParams::from_model(&model("flash", &[])).unwrap_err();
    assert!(matches!(e, DeviceError::UnknownKind { .. }));
    let e = DeviceParams::from_model(&model("constantstep", &[("w_min", ParamValue::Num(0.1))]))
        .unwrap_err();
    assert!(e.to_string().contains("contain 0"), "{e}");
    // aihwkit class names are accepted too.
    assert_eq!(
        DeviceParams::named("ReRamSBPresetDevice").unwrap().dw_min,
        0.002
    );
}

#[test]
fn decay_diffusion_and_reset() {
    // Decay: w ← (w − reset_bias)(1 − 1/lifetime) + reset_bias.
    let p = params("capacitor", &[("lifetime", 100.0), ("lifetime_dtod", 0.0)]);
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut a = DeviceArray::new(&p, 100, &mut rng);
    a.set_all(0.5, &mut rng);
    a.decay(&mut rng);
    assert!((a.weight(7) - 0.5 * 0.99).abs() < 1e-15);
    // Diffusion: w ← w + ρ ξ with ρ = diffusion.
    let p = params(
        "constantstep",
        &[
            ("diffusion", 0.01),
            ("w_max_dtod", 0.0),
            ("w_min_dtod", 0.0),
        ],
    );
    let mut a = DeviceArray::new(&p, N, &mut rng);
    a.diffuse(&mut rng);
    let std = ((0..N).map(|i| a.weight(i).powi(2)).sum::<f64>() / N as f64).sqrt();
    assert!(within(std, 0.01, 0.03), "{std}");
    // Reset: reset_bias (= reset + reset_dtod ξ, fixed per device) + reset_std ξ per reset.
    let p = params("constantstep", &[("reset", 0.1), ("reset_std", 0.0)]);
    let mut a = DeviceArray::new(&p, 10, &mut rng);
    a.apply_pulses(3, 50, &mut rng);
    a.set_time(1.0);
    a.reset(3, &mut rng);
    assert_eq!(a.weight(3), 0.1);
}
