//! One sample of the learning co-simulation on a generated flat DFC circuit, ideal preset:
//! the transient scaled to dimensionless units matches the continuous-time DFC equations
//! (RK4, fine step) to 1e-3 of the activation scale, and the circuit's weight update is
//! within 1° of the ideal update (continuous time and the ideal model's reference Euler).
//! Then the update is programmed into the devices and lands on the conductances.

use std::path::PathBuf;

use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::ode::{DfcOde, Enable};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Phi, nodes};
use dfcsim::learn::cosim::{self, CrossbarDevices, DfcCircuit};
use dfcsim::learn::device::DeviceParams;
use dfcsim::learn::plasticity::{Plasticity, TimePoint, angle_deg};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_train_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A flat 4-3-2 DFC netlist from `dfcsim gen` (ideal preset, xavier weights of `seed`) in a
/// fresh directory: (directory, netlist path).
fn flat_432(name: &str, seed: u64, phi: Phi) -> (PathBuf, PathBuf) {
    let arch = [4, 3, 2];
    let phis = dfcgen::layer_phis(&arch, phi);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = DfcNetwork::xavier(&arch, phis, &mut rng).unwrap();
    let mut cfg = GenConfig::new("net");
    cfg.flat = true;
    let sample = network::student_teacher_sample(&net, seed, cfg.dfc.lambda).unwrap();
    let dir = temp_dir(name);
    let path = dir.join("net.cir");
    dfcgen::generate(&net, &sample, &cfg)
        .unwrap()
        .write(&path)
        .unwrap();
    (dir, path)
}

/// One epoch of `samples` per-sample steps with ideal devices.
fn ideal_training(seed: u64, samples: usize) -> cosim::TrainOptions {
    cosim::TrainOptions {
        epochs: 1,
        seed,
        samples,
        test_samples: 5,
        batch: 1,
        device: DeviceParams::named("ideal").unwrap(),
        conversion_energy_j: 0.0,
        waveform_samples: vec![],
        waveform_dir: None,
    }
}

#[test]
fn one_sample_matches_continuous_time_dfc_and_the_ideal_update() {
    let arch = [4, 3, 2];
    let seed = 7;
    let phis = dfcgen::layer_phis(&arch, Phi::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = DfcNetwork::xavier(&arch, phis, &mut rng).unwrap();
    let mut cfg = GenConfig::new("net");
    cfg.flat = true;
    cfg.seed = seed;
    // λ larger than the toy's, so that the feedback is well above the tolerances.
    cfg.dfc.lambda = 0.2;
    let sample = network::student_teacher_sample(&net, seed, cfg.dfc.lambda).unwrap();
    let dir = temp_dir("one");
    let path = dir.join("net.cir");
    dfcgen::generate(&net, &sample, &cfg)
        .unwrap()
        .write(&path)
        .unwrap();

    let mut dc = DfcCircuit::load(&path).unwrap();
    assert_eq!(dc.sizes, arch);
    assert_eq!(dc.learn.lambda, 0.2);
    let ideal_net = dc.network();
    // Weights read back from the conductances equal the generator's.
    for i in 0..2 {
        for (a, b) in ideal_net.layers[i].w.data.iter().zip(&net.w[i].data) {
            assert!((a - b).abs() < 1e-9, "W{} {a} vs {b}", i + 1);
        }
        for (a, b) in ideal_net.layers[i].q.data.iter().zip(&net.q[i].data) {
            assert!((a - b).abs() < 1e-9, "Q{} {a} vs {b}", i + 1);
        }
    }
    let sizes = dc.sizes.clone();
    let mut plast = Plasticity::new(&sizes, &dc.acts, dc.learn.rule);
    let mut sim = dc.simulator().unwrap();
    let t0 = std::time::Instant::now();
    let out = cosim::run_sample(&dc, &mut sim, &mut plast, &sample.x, &sample.y, 1, 0).unwrap();
    let sample_seconds = t0.elapsed().as_secs_f64();
    for (a, b) in out.target.iter().zip(&sample.target) {
        // op-amps of gain 1e6: the circuit is exact to ~1e-6
        assert!((a - b).abs() < 1e-5, "target {a} vs {b}");
    }

    // (1) Transient vs RK4 at the circuit's own time points, once the controller is on.
    let sc = &cfg.scales;
    let ode = DfcOde {
        net: &net,
        x: &sample.x,
        target: &sample.target,
        k_p: cfg.dfc.k_p,
        alpha: cfg.dfc.alpha,
        ratio: sc.time_constant_ratio,
        enable: Enable {
            t_on: cfg.dfc.t_ff,
            t_rise: sc.tau_v_seconds() * 1e-3 / sc.tau_u_seconds,
        },
    };
    let wf = &out.waveforms;
    let times: Vec<f64> = (0..wf.rows())
        .map(|p| wf.row(p)[0] / sc.tau_u_seconds)
        .collect();
    let traj = ode.trajectory(&times, 1e-3);
    let col = |name: String| wf.index_of(&format!("v({name})")).unwrap();
    let mut worst: f64 = 0.0;
    let mut fb_range: f64 = 0.0;
    for (p, cm) in traj.iter().enumerate() {
        let row = wf.row(p);
        for i in 1..=2 {
            for k in 0..arch[i] {
                worst = worst.max((row[col(nodes::v(i, k))] / sc.vs_volts - cm.v[i - 1][k]).abs());
                worst =
                    worst.max((row[col(nodes::vfb(i, k))] / sc.vs_volts - cm.vfb[i - 1][k]).abs());
                fb_range = fb_range.max(cm.vfb[i - 1][k].abs());
            }
        }
        for m in 0..2 {
            worst = worst.max((row[col(nodes::u(m))] / sc.vs_volts - cm.u[m]).abs());
        }
    }
    eprintln!(
        "circuit vs RK4: max deviation {worst:.2e} (units of Vs) over {} points; |v_fb| up to {fb_range:.3}; sample took {sample_seconds:.3} s",
        wf.rows()
    );
    assert!(fb_range > 0.01, "feedback too weak to test");
    assert!(
        worst < 1e-3,
        "circuit deviates from continuous-time DFC by {worst}"
    );

    // (2) Update: circuit vs rule (5) on the RK4 trajectory (fine uniform grid) and vs the
    // ideal model's reference Euler update for the same weights and sample.
    let n = 5000;
    let t_on = cfg.dfc.t_ff;
    let fine: Vec<f64> = (0..=n)
        .map(|j| t_on + cfg.dfc.t_ctl * j as f64 / n as f64)
        .collect();
    let mut cont = Plasticity::new(&sizes, &dc.acts, dc.learn.rule);
    cont.begin_sample();
    for (t, cm) in fine.iter().zip(ode.trajectory(&fine, 1e-3)) {
        let phi_v: Vec<Vec<f64>> =
            cm.v.iter()
                .zip(&net.phi)
                .map(|(v, f)| v.iter().map(|&a| f.apply(a)).collect())
                .collect();
        let r_prev = vec![sample.x.clone(), phi_v[0].clone()];
        cont.add(&TimePoint {
            t: *t,
            phi_v: &phi_v,
            v_ff: &cm.vff,
            r_prev: &r_prev,
        });
    }
    assert!(cont.end_sample(1));
    let g_cont = cont.take();
    let a_cont = angle_deg(&out.grad, &g_cont);
    let cmp = cosim::compare_with_ideal(&ideal_net, &dc.learn, &sample.x, &sample.y, 1, &out.grad);
    eprintln!(
        "update angle: circuit vs continuous time {a_cont:.2e} deg, vs ideal reference Euler {:.3} deg",
        cmp.angle_deg
    );
    assert!(a_cont < 1.0, "angle to continuous-time update {a_cont}");
    assert!(
        cmp.angle_deg < 1.0,
        "angle to ideal update {}",
        cmp.angle_deg
    );
    assert!(out.steady_state_error.is_finite() && out.steady_state_error < 0.5);
    assert!(out.settling_time > 0.0 && out.settling_time <= cfg.dfc.t_ctl);
    assert!(out.source_energy_j > 0.0);

    // (3) Programming: with ideal devices the new conductances are the SGD step exactly.
    let base = DeviceParams::named("ideal").unwrap();
    let mut d2d = ChaCha8Rng::seed_from_u64(1);
    let mut devices: Vec<Option<CrossbarDevices>> =
        dc.w.iter()
            .map(|cb| {
                Some(CrossbarDevices::new(
                    &cosim::device_params_for(&base, cb),
                    cb,
                    &mut d2d,
                ))
            })
            .collect();
    let before = dc.network();
    let mut prog_rng = ChaCha8Rng::seed_from_u64(2);
    cosim::apply_update(&mut dc, &mut devices, out.grad.clone(), &mut prog_rng);
    let after = dc.network();
    let step = dfcsim::learn::plasticity::sgd_step(out.grad.clone(), dc.learn.lr, 0.2, true, 1.0);
    let mut worst_w: f64 = 0.0;
    for i in 0..2 {
        for ((a, b), s) in after.layers[i]
            .w
            .data
            .iter()
            .zip(&before.layers[i].w.data)
            .zip(&step.w[i].data)
        {
            worst_w = worst_w.max((a - b - s).abs());
        }
        for ((a, b), s) in after.layers[i]
            .b
            .iter()
            .zip(&before.layers[i].b)
            .zip(&step.b[i])
        {
            worst_w = worst_w.max((a - b - s).abs());
        }
    }
    let step_max = step.flatten().iter().fold(0.0f64, |m, x| m.max(x.abs()));
    eprintln!(
        "programmed weights vs SGD step: max error {worst_w:.2e} (step up to {step_max:.2e})"
    );
    assert!(step_max > 1e-4 && worst_w < 1e-9 * step_max.max(1.0) + 1e-12);
    std::fs::remove_dir_all(&dir).ok();
}

/// A few per-sample training steps of the circuit (ideal devices) against the ideal model's
/// SGD steps on the same samples from the same initial weights: the weight changes agree.
#[test]
fn circuit_training_follows_the_ideal_model_step_by_step() {
    let (dir, path) = flat_432("steps", 11, Phi::Linear);
    let mut dc = DfcCircuit::load(&path).unwrap();
    dc.set_max_step(5e-7).unwrap();
    let start = dc.network();
    let opts = ideal_training(3, 4);
    cosim::train(&mut dc, &opts, None, |_, _| Ok(())).unwrap();
    let end = dc.network();

    let splits = cosim::student_teacher_data(&dc.sizes, 3, 4, 5);
    let mut ideal = start.clone();
    for s in 0..4 {
        let (x, y) = (splits.train.x.row(s), splits.train.y.row(s));
        let g = cosim::ideal_update(&ideal, &dc.learn, x, y, 1);
        let step = dfcsim::learn::plasticity::sgd_step(
            g,
            dc.learn.lr,
            dc.learn.lambda,
            true,
            dc.learn.clip,
        );
        for (l, (sw, sb)) in ideal.layers.iter_mut().zip(step.w.iter().zip(&step.b)) {
            l.w.data.iter_mut().zip(&sw.data).for_each(|(a, d)| *a += d);
            l.b.iter_mut().zip(sb).for_each(|(a, d)| *a += d);
        }
    }
    let delta = |a: &dfcsim::ideal::Network| -> Vec<f64> {
        a.layers
            .iter()
            .zip(&start.layers)
            .flat_map(|(l, s0)| {
                let dw: Vec<f64> =
                    l.w.data
                        .iter()
                        .zip(&s0.w.data)
                        .map(|(x, y)| x - y)
                        .collect();
                let db: Vec<f64> = l.b.iter().zip(&s0.b).map(|(x, y)| x - y).collect();
                dw.into_iter().chain(db)
            })
            .collect()
    };
    let (dc_d, id_d) = (delta(&end), delta(&ideal));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let diff: Vec<f64> = dc_d.iter().zip(&id_d).map(|(a, b)| a - b).collect();
    let rel = norm(&diff) / norm(&id_d);
    eprintln!(
        "4 per-sample steps: |ΔW_circuit − ΔW_ideal| / |ΔW_ideal| = {rel:.2e} (|ΔW| = {:.3e})",
        norm(&id_d)
    );
    assert!(norm(&id_d) > 1e-3, "the weights hardly moved");
    assert!(
        rel < 0.01,
        "circuit training departs from the ideal model: {rel}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The array form (engine array devices, conductances in CSV files) trains like the flat
/// form of the same circuit.
#[test]
fn array_form_trains_like_the_flat_form() {
    let arch = [4, 3, 2];
    let seed = 13;
    let phis = dfcgen::layer_phis(&arch, Phi::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = DfcNetwork::xavier(&arch, phis, &mut rng).unwrap();
    let dir = temp_dir("forms");
    let mut ends = Vec::new();
    for flat in [true, false] {
        let stem = if flat { "flat" } else { "array" };
        let mut cfg = GenConfig::new(stem);
        cfg.flat = flat;
        // G_min = 0: the flat form leaves open cells out; the co-simulation adds them back
        // (at the conductance floor) so that weights can change sign.
        cfg.hardware.g_min_siemens = 0.0;
        let sample = network::student_teacher_sample(&net, seed, cfg.dfc.lambda).unwrap();
        let path = dir.join(format!("{stem}.cir"));
        dfcgen::generate(&net, &sample, &cfg)
            .unwrap()
            .write(&path)
            .unwrap();
        let mut dc = DfcCircuit::load(&path).unwrap();
        dc.set_max_step(5e-7).unwrap();
        let run = cosim::train(&mut dc, &ideal_training(3, 3), None, |_, _| Ok(())).unwrap();
        assert!(run.rows[0].update_angle_deg < 1.0);
        ends.push(dc.network());
    }
    let mut worst: f64 = 0.0;
    for (a, b) in ends[0].layers.iter().zip(&ends[1].layers) {
        for (x, y) in a.w.data.iter().chain(&a.b).zip(b.w.data.iter().chain(&b.b)) {
            worst = worst.max((x - y).abs());
        }
    }
    eprintln!("array vs flat form after 3 training samples: max weight difference {worst:.2e}");
    assert!(worst < 1e-5, "array and flat forms train apart: {worst}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `dfcsim gen` writes the co-simulation's transient accuracy into the `.learn` card
/// (reltol 1e-4, max_step τ_u), apart from the `.options`/`.tran` lines that suit a
/// comparison with ngspice; training at it stays within 1° of the ideal update, and within
/// 0.01° and 1e-3 (of the weight change) of training at reltol 1e-6 and 0.05 τ_u.
#[test]
fn learn_card_accuracy_keeps_the_update_of_tight_tolerances() {
    let (dir, path) = flat_432("accuracy", 17, Phi::Tanh);
    let opts = ideal_training(5, 3);
    let mut runs = Vec::new();
    for tight in [false, true] {
        let mut dc = DfcCircuit::load(&path).unwrap();
        let tau_u = dc.learn.tau_u;
        assert_eq!(dc.learn.reltol, Some(1e-4));
        let close = |h: Option<f64>, want: f64| (h.unwrap() - want).abs() < 1e-9 * want;
        assert!(close(dc.learn.max_step_s, tau_u));
        let (reltol, h) = dc.transient_accuracy();
        assert!(reltol == 1e-4 && close(h, tau_u));
        // The netlist's own .options say 1e-6: the transients must run at the card's.
        assert_eq!(dc.circuit().options.reltol, 1e-6);
        assert_eq!(dc.simulator().unwrap().options.reltol, 1e-4);
        if tight {
            dc.set_reltol(1e-6).unwrap();
            dc.set_max_step(0.05 * tau_u).unwrap();
            let (reltol, h) = dc.transient_accuracy();
            assert!(reltol == 1e-6 && close(h, 0.05 * tau_u));
            assert_eq!(dc.simulator().unwrap().options.reltol, 1e-6);
        }
        let run = cosim::train(&mut dc, &opts, None, |_, _| Ok(())).unwrap();
        runs.push((run.rows[0].update_angle_deg, dc.network()));
    }
    let (loose, tight) = (&runs[0], &runs[1]);
    eprintln!(
        "update angle to ideal: {:.4}° (learn card), {:.4}° (tight)",
        loose.0, tight.0
    );
    assert!(loose.0 < 1.0 && tight.0 < 1.0);
    assert!((loose.0 - tight.0).abs() < 0.01);
    // The weight change of the training run at the card's accuracy against the tight one.
    let init = DfcCircuit::load(&path).unwrap().network();
    let (mut diff2, mut norm2) = (0.0f64, 0.0f64);
    for ((a, b), w0) in loose.1.layers.iter().zip(&tight.1.layers).zip(&init.layers) {
        for ((x, y), z) in a.w.data.iter().zip(&b.w.data).zip(&w0.w.data) {
            diff2 += (x - y).powi(2);
            norm2 += (y - z).powi(2);
        }
    }
    let rel = (diff2 / norm2).sqrt();
    eprintln!("weight change: card accuracy vs tight differs by {rel:.2e} (relative)");
    // Different accuracies give different (but close) updates: the settings took effect.
    assert!(diff2 > 0.0, "the two accuracies gave identical weights");
    assert!(norm2 > 0.0, "the tight run did not learn");
    assert!(rel < 1e-3, "weight changes differ by {rel:e} (relative)");
    std::fs::remove_dir_all(&dir).ok();
}

/// Bad accuracy keys in the `.learn` card are errors naming the card.
#[test]
fn bad_learn_accuracy_keys_are_errors() {
    let card = ".learn lambda=0.1 t_ff=1e-5 t_ctl=5e-5 lr=0.01 k_p=1.5 alpha=0.0015 \
                time_constant_ratio=0.2 vs=0.2 tau_u=1e-5";
    let ok =
        cosim::LearnSpec::from_netlist_text(&format!("{card} reltol=1e-3 max_step=1u"), "x.cir")
            .unwrap();
    assert_eq!((ok.reltol, ok.max_step_s), (Some(1e-3), Some(1e-6)));
    for bad in ["reltol=0", "reltol=2", "max_step=-1e-6", "max_step=abc"] {
        let e = cosim::LearnSpec::from_netlist_text(&format!("{card} {bad}"), "x.cir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.cir"), "{bad}: {e}");
    }
    // The settle phase's length too (the forward transient may start at its end).
    for t_ff in ["t_ff=-1e-5", "t_ff=inf"] {
        let e = cosim::LearnSpec::from_netlist_text(&card.replace("t_ff=1e-5", t_ff), "x.cir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.cir") && e.contains("t_ff"), "{t_ff}: {e}");
    }
}
