//! The feedback ("sleep") phase of the circuit, rule (13), ideal preset, on a generated flat
//! 4-3-2 DFC circuit with plastic Q: one minibatch's circuit update against the ideal
//! model's for the same weights and noise realisation; a short learned-feedback run that
//! raises Condition 2; and the same final conductances with 1 and 2 threads.

use std::path::{Path, PathBuf};

use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Phi};
use dfcsim::ideal::linalg::Mat;
use dfcsim::learn::cosim::{self, DfcCircuit};
use dfcsim::learn::device::DeviceParams;
use dfcsim::learn::sleep;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_sleep_{name}_{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A flat 4-3-2 netlist with plastic Q. `random_q`: the hidden layers' Q drawn at random
/// (Q_L = I) instead of the weight product, so that Condition 2 starts low.
/// `extra` is appended to the `.learn` card.
fn netlist(dir: &Path, random_q: bool, extra: &str) -> PathBuf {
    let arch = [4, 3, 2];
    let seed = 21;
    let phis = dfcgen::layer_phis(&arch, Phi::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = DfcNetwork::xavier(&arch, phis, &mut rng).unwrap();
    if random_q {
        for q in net.q.iter_mut().take(arch.len() - 2) {
            for v in q.data.iter_mut() {
                let g: f64 = rng.sample(StandardNormal);
                *v = 0.6 * g;
            }
        }
    }
    let mut cfg = GenConfig::new("net");
    cfg.flat = true;
    cfg.seed = seed;
    cfg.dfc.plastic_feedback = true;
    let sample = network::student_teacher_sample(&net, seed, cfg.dfc.lambda).unwrap();
    let path = dir.join("net.cir");
    let mut g = dfcgen::generate(&net, &sample, &cfg).unwrap();
    // the card is a comment in the flat form: extend its last line
    let key = "* + clip_fb=1 epochs_fb=0 fb_epochs=1";
    assert!(g.netlist.contains(key), "no sleep keys in the .learn card");
    g.netlist = g.netlist.replace(key, &format!("{key} {extra}"));
    g.write(&path).unwrap();
    path
}

fn load(path: &Path) -> DfcCircuit {
    let mut dc = DfcCircuit::load(path).unwrap();
    // 0.05 τ_u: the forward phase's update stays within 0.01° of the fine-step one; the
    // sleep transient is stepped on the noise grid (0.01 τ_u) anyway.
    dc.set_max_step(5e-7).unwrap();
    dc
}

fn norm(ms: &[Mat]) -> f64 {
    ms.iter()
        .flat_map(|m| m.data.iter())
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
}

/// Circuit minibatch (2 samples) vs the ideal model for noise grid `dt_fb` (s) over 1 τ_u:
/// (angle, norm ratio, angle with another noise realisation, s per sample).
fn sleep_vs_ideal(dt_fb: &str, name: &str) -> (f64, f64, f64, f64) {
    let dir = temp_dir(name);
    let path = netlist(&dir, true, &format!("t_fb=1e-5 dt_fb={dt_fb}"));
    let dc = load(&path);
    let spec = dc.learn.sleep.clone().expect("feedback phase on");
    assert_eq!(
        dc.noise_fb.iter().map(|l| l.len()).collect::<Vec<_>>(),
        [3, 2]
    );
    let net = dc.network();
    let splits = cosim::student_teacher_data(&dc.sizes, 3, 4, 5);
    let xs: Vec<&[f64]> = (0..2).map(|s| splits.train.x.row(s)).collect();
    let (seed, counter) = (9, cosim::sleep_counter(1, 0, 0));
    let circuit = |counter: u64| -> Vec<Mat> {
        let mut sum: Vec<Mat> = net
            .layers
            .iter()
            .map(|l| Mat::zeros(l.q.rows, l.q.cols))
            .collect();
        for (pos, x) in xs.iter().enumerate() {
            let mut sim = dc.simulator().unwrap();
            let o = sleep::run_sleep_sample(&dc, &spec, &mut sim, x, seed, counter, pos, 2, pos)
                .unwrap();
            // the sleep target is the feed-forward output
            let ff = net.forward(x);
            for (a, b) in o.r_ff.iter().zip(ff.r.last().unwrap()) {
                assert!((a - b).abs() < 1e-5, "r_ff {a} vs {b}");
            }
            for (s, g) in sum.iter_mut().zip(&o.grad_q) {
                s.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b);
            }
        }
        sum
    };
    let t0 = std::time::Instant::now();
    let c = circuit(counter);
    let seconds = t0.elapsed().as_secs_f64() / 2.0;
    let ideal = sleep::ideal_sleep_gradient(&net, &dc, &spec, &xs, seed, counter);
    let other = circuit(counter + 1);
    std::fs::remove_dir_all(&dir).ok();
    (
        sleep::angle_q_deg(&c, &ideal),
        norm(&c) / norm(&ideal),
        sleep::angle_q_deg(&other, &ideal),
        seconds,
    )
}

/// One minibatch's rule-(13) update of the circuit against the ideal model (the circuit's
/// k_p, α, τ_v/τ_u, instantaneous apical compartment, Euler step = noise grid step) for the
/// same weights and noise: a few degrees, and the norm gap halves with h (the ideal model's
/// O(h) Euler error), while another noise realisation is far off.
#[test]
fn sleep_update_matches_the_ideal_model_for_the_same_noise() {
    let (a1, r1, other, s1) = sleep_vs_ideal("1e-7", "h1");
    let (a2, r2, _, s2) = sleep_vs_ideal("5e-8", "h2");
    eprintln!(
        "sleep update, circuit vs ideal model (same noise): h = 0.01 tau_u: angle {a1:.3} deg, \
         norm ratio {r1:.4} ({s1:.3} s/sample); h = 0.005 tau_u: angle {a2:.3} deg, norm ratio \
         {r2:.4} ({s2:.3} s/sample); other noise realisation: {other:.1} deg"
    );
    assert!(a1 < 5.0 && a2 < 5.0, "angles {a1}, {a2} deg");
    // the norm gap (Euler's damping of the noise response) halves with h
    assert!((r1 - 1.0).abs() < 0.15, "norm ratio {r1}");
    assert!(
        (r2 - 1.0).abs() < 0.7 * (r1 - 1.0).abs(),
        "norm ratios {r1} -> {r2}"
    );
    assert!(other > 5.0 * a1, "{other} vs {a1}");
}

fn options(samples: usize, batch: usize, epochs: usize) -> cosim::TrainOptions {
    cosim::TrainOptions {
        epochs,
        seed: 4,
        samples,
        test_samples: 20,
        batch,
        device: DeviceParams::named("ideal").unwrap(),
        conversion_energy_j: 0.0,
        waveform_samples: vec![],
        waveform_dir: None,
    }
}

#[test]
fn learned_feedback_raises_condition_2() {
    let dir = temp_dir("c2");
    let path = netlist(
        &dir,
        true,
        "epochs_fb=2 lr_fb=0.05 lr_fb_init=0.1 batch_fb=1",
    );
    let mut dc = load(&path);
    let splits = cosim::student_teacher_data(&dc.sizes, 4, 6, 20);
    let xs: Vec<&[f64]> = (0..6).map(|s| splits.train.x.row(s)).collect();
    let c2_start = sleep::condition_2(&dc.network(), &xs);
    let q_start = dc.network().full_q();
    let run = cosim::train(&mut dc, &options(6, 1, 2), None, |_, _| Ok(())).unwrap();
    let c2: Vec<f64> = run.rows.iter().map(|r| r.condition_2).collect();
    let q_end = dc.network().full_q();
    let moved = q_start
        .data
        .iter()
        .zip(&q_end.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "Condition 2: start {c2_start:.4}, after epochs {c2:?}; sleep angle to ideal {:?}; \
         max |dQ| {moved:.3}",
        run.rows.iter().map(|r| r.fb_angle_deg).collect::<Vec<_>>()
    );
    assert_eq!(
        run.rows[0].fb_samples, 18,
        "2 pre-training + 1 feedback epoch of 6"
    );
    assert!(moved > 1e-3, "Q did not move");
    assert!(
        c2[1] > c2_start + 0.05,
        "Condition 2 did not improve: {c2_start} -> {c2:?}"
    );
    for r in &run.rows {
        let a = r.fb_angle_deg.expect("feedback phase ran");
        assert!(a < 5.0, "sleep angle {a}");
        assert!(r.train_loss.is_finite());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn same_conductances_with_one_and_two_threads() {
    let dir = temp_dir("threads");
    let path = netlist(&dir, true, "t_fb=5e-6 batch_fb=3");
    let run = |threads: usize| {
        let mut dc = load(&path);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| cosim::train(&mut dc, &options(3, 3, 1), None, |_, _| Ok(())))
            .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        dc.w.iter()
            .chain(&dc.q)
            .map(|cb| (bits(&cb.gp), bits(&cb.gn)))
            .collect::<Vec<_>>()
    };
    let (one, two) = (run(1), run(2));
    assert!(one == two, "1 and 2 threads end on different conductances");
    std::fs::remove_dir_all(&dir).ok();
}
