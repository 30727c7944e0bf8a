//! Theory checks of the ideal model (paper §3–§5) and its determinism across threads.

use dfcsim::ideal::config::{Config, FeedbackMode, Variant};
use dfcsim::ideal::controller::ApicalNoise;
use dfcsim::ideal::data;
use dfcsim::ideal::dfc;
use dfcsim::ideal::feedback;
use dfcsim::ideal::linalg::{Mat, solve_in_place};
use dfcsim::ideal::loss::Loss;
use dfcsim::ideal::metrics;
use dfcsim::ideal::network::{Activation, FeedbackInit, Network};
use dfcsim::ideal::train::{self, TrainSpec};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn toy_net(seed: u64, fb: FeedbackInit) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Network::new_random(
        &[15, 10, 10, 5],
        &[Activation::Tanh, Activation::Tanh, Activation::Linear],
        fb,
        &mut rng,
    )
}

fn rows(m: &Mat, k: usize) -> Vec<&[f64]> {
    (0..k).map(|i| m.row(i)).collect()
}

/// Lemma 1: for small λ the simulated steady state's u equals (J̄Q̄ + αI)^{-1} δ_L up to
/// O(λ²), i.e. the relative error shrinks linearly with λ.
#[test]
fn ssa_matches_simulated_steady_state_for_small_lambda() {
    let splits = data::student_teacher_sized(3, 15, &[20], 5, [8, 1, 1]);
    let net = toy_net(5, FeedbackInit::WeightProduct);
    let xs = rows(&splits.train.x, 4);
    let ys = rows(&splits.train.y, 4);
    // T = 100 τ_u: settled
    let cfg = Config {
        steps: 20_000,
        ..Config::default()
    };
    let mut errs = Vec::new();
    for lambda in [1e-3, 1e-4] {
        let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, lambda);
        let sim = dfc::simulate_batch(&net, &xs, &bf, &cfg.forward_params(), false, &[]);
        let (_, ssa) = dfc::ssa_batch(&net, &xs, &bf, cfg.alpha, None);
        let mut worst: f64 = 0.0;
        for (f, s) in sim.finals.iter().zip(&ssa) {
            let num: f64 =
                f.u.iter()
                    .zip(&s.u)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
            let den: f64 = s.u.iter().map(|a| a * a).sum::<f64>().sqrt();
            worst = worst.max(num / den);
        }
        errs.push(worst);
    }
    assert!(errs[1] < 1e-3, "relative error {errs:?}");
    assert!(
        errs[1] < errs[0] / 5.0,
        "error does not shrink with λ: {errs:?}"
    );
}

/// With Q̄ = J̄ᵀ(J̄J̄ᵀ + γI)^{-1} the column space of Q̄ is the row space of J̄: Condition 2 = 1.
#[test]
fn condition_2_is_one_for_damped_pseudoinverse_feedback() {
    let mut net = toy_net(7, FeedbackInit::XavierNormal);
    let x: Vec<f64> = (0..15).map(|k| (k as f64 * 0.37).sin()).collect();
    let ff = net.forward(&x);
    let js = net.jacobians(&ff.v);
    let n_l = net.n_out();
    let mut g = Mat::zeros(n_l, n_l);
    for j in &js {
        g = add(&g, &j.matmul(&j.transpose()));
    }
    let gamma = 0.1;
    for k in 0..n_l {
        g.data[k * n_l + k] += gamma;
    }
    // Q_i = J_iᵀ (JJᵀ + γI)^{-1}, i.e. solve (JJᵀ+γI) Q_iᵀ = J_i.
    for (i, j) in js.iter().enumerate() {
        let mut a = g.data.clone();
        let mut b = j.data.clone();
        assert!(solve_in_place(&mut a, n_l, &mut b, j.cols));
        net.layers[i].q = Mat {
            rows: n_l,
            cols: j.cols,
            data: b,
        }
        .transpose();
    }
    let c2 = metrics::condition_2_sample(&net, &js);
    assert!((c2 - 1.0).abs() < 1e-12, "condition 2 = {c2}");
    // A random Q does not satisfy it.
    let rnd = toy_net(8, FeedbackInit::XavierNormal);
    let c2r = metrics::condition_2_sample(&rnd, &rnd.jacobians(&rnd.forward(&x).v));
    assert!(c2r < 0.9, "random feedback gives {c2r}");
}

fn add(a: &Mat, b: &Mat) -> Mat {
    Mat {
        rows: a.rows,
        cols: a.cols,
        data: a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect(),
    }
}

/// The BP baseline equals central finite differences of the minibatch-mean loss.
#[test]
fn bp_equals_finite_differences() {
    for (loss, out_dim) in [(Loss::Mse, 5), (Loss::CrossEntropy, 4)] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let net = Network::new_random(
            &[6, 7, 5, out_dim],
            &[Activation::Tanh, Activation::Sigmoid, Activation::Linear],
            FeedbackInit::WeightProduct,
            &mut rng,
        );
        let x: Vec<Vec<f64>> = (0..3)
            .map(|b| (0..6).map(|k| ((b * 7 + k) as f64 * 0.91).cos()).collect())
            .collect();
        let y: Vec<Vec<f64>> = (0..3)
            .map(|b| {
                (0..out_dim)
                    .map(|k| {
                        if loss == Loss::Mse {
                            (k as f64 - b as f64) * 0.3
                        } else {
                            (k == b) as u8 as f64
                        }
                    })
                    .collect()
            })
            .collect();
        let xs: Vec<&[f64]> = x.iter().map(|v| v.as_slice()).collect();
        let ys: Vec<&[f64]> = y.iter().map(|v| v.as_slice()).collect();
        let bf = dfc::forward_batch(&net, &xs, &ys, loss, 0.1);
        let bp = metrics::bp_gradient(&net, &xs, &bf);
        let batch_loss = |n: &Network| dfc::forward_batch(n, &xs, &ys, loss, 0.1).loss;
        let h = 1e-6;
        for i in 0..net.depth() {
            for k in 0..net.layers[i].w.data.len() {
                let mut p = net.clone();
                p.layers[i].w.data[k] += h;
                let mut m = net.clone();
                m.layers[i].w.data[k] -= h;
                let fd = (batch_loss(&p) - batch_loss(&m)) / (2.0 * h);
                let g = bp.w[i].data[k];
                assert!(
                    (fd - g).abs() < 1e-7 * (1.0 + g.abs()),
                    "{loss:?} W{} [{k}]: bp {g} fd {fd}",
                    i + 1
                );
            }
            for k in 0..net.layers[i].b.len() {
                let mut p = net.clone();
                p.layers[i].b[k] += h;
                let mut m = net.clone();
                m.layers[i].b[k] -= h;
                let fd = (batch_loss(&p) - batch_loss(&m)) / (2.0 * h);
                let g = bp.b[i][k];
                assert!(
                    (fd - g).abs() < 1e-7 * (1.0 + g.abs()),
                    "{loss:?} b{} [{k}]: bp {g} fd {fd}",
                    i + 1
                );
            }
        }
    }
}

/// Same seed, same bits with 1 and 2 rayon threads: simulation, sleep phase and a short
/// training run with learned feedback.
#[test]
fn same_bits_with_one_or_two_threads() {
    let splits = data::student_teacher_sized(1, 15, &[20], 5, [45, 10, 10]);
    let cfg = Config {
        steps: 120,
        epochs: 2,
        epochs_fb: 1,
        batch_size: 19,
        ..Config::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let net = toy_net(2, FeedbackInit::XavierNormal);
            let xs = rows(&splits.train.x, 21);
            let ys = rows(&splits.train.y, 21);
            let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, cfg.target_stepsize);
            let sim = dfc::simulate_batch(&net, &xs, &bf, &cfg.forward_params(), true, &[0, 5]);
            let noise = ApicalNoise {
                sigma: cfg.sigma_fb,
                sigma_out: cfg.sigma_output_fb,
            };
            let fbg = feedback::feedback_gradients(&net, &xs, &cfg.feedback_params(), noise, 9, 3);
            let spec = TrainSpec {
                variant: Variant::Dfc,
                feedback: FeedbackMode::Learned,
                loss: Loss::Mse,
            };
            let r = train::train(&cfg, &spec, &splits, net.clone(), |_, _, _| {}, |_| {});
            let mut bits: Vec<u64> = sim
                .dfc
                .unwrap()
                .flatten()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            bits.extend(
                sim.traces
                    .iter()
                    .flat_map(|t| t.u.iter().flatten().map(|x| x.to_bits())),
            );
            bits.extend(fbg.iter().flat_map(|m| m.data.iter().map(|x| x.to_bits())));
            for l in &r.net.layers {
                bits.extend(
                    l.w.data
                        .iter()
                        .chain(&l.b)
                        .chain(&l.q.data)
                        .map(|x| x.to_bits()),
                );
            }
            bits.extend(
                r.rows
                    .iter()
                    .map(|row| row.metrics.as_ref().unwrap().lambda_max.to_bits()),
            );
            bits
        })
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.len(), two.len());
    assert!(one == two, "results differ between 1 and 2 threads");
}

/// Learned feedback moves Q towards satisfying Condition 2 (paper Fig. 3A).
#[test]
fn sleep_phase_improves_condition_2() {
    let splits = data::student_teacher_sized(4, 15, &[20], 5, [256, 10, 10]);
    let mut net = toy_net(6, FeedbackInit::XavierNormal);
    let cfg = Config::default();
    let c2 = |net: &Network| {
        let xs = rows(&splits.train.x, 64);
        xs.iter()
            .map(|x| metrics::condition_2_sample(net, &net.jacobians(&net.forward(x).v)))
            .sum::<f64>()
            / 64.0
    };
    let before = c2(&net);
    let noise = ApicalNoise {
        sigma: cfg.sigma_fb,
        sigma_out: cfg.sigma_output_fb,
    };
    let mut opt = train::Optimizer::new(
        cfg.optimizer_fb,
        cfg.lr_fb_init,
        0.9,
        0.99,
        1e-8,
        cfg.feedback_wd,
    );
    for epoch in 0..15 {
        for (k, idx) in (0..256).collect::<Vec<_>>().chunks(32).enumerate() {
            let xs: Vec<&[f64]> = idx.iter().map(|&i| splits.train.x.row(i)).collect();
            let mut g = feedback::feedback_gradients(
                &net,
                &xs,
                &cfg.feedback_params(),
                noise,
                1,
                (epoch * 100 + k) as u64,
            );
            feedback::clip_joint(&mut g, 1.0);
            let grads: Vec<&[f64]> = g.iter().map(|m| m.data.as_slice()).collect();
            let mut params: Vec<&mut [f64]> = net
                .layers
                .iter_mut()
                .map(|l| l.q.data.as_mut_slice())
                .collect();
            opt.step(&mut params, &grads);
        }
    }
    let after = c2(&net);
    assert!(
        after > before + 0.15,
        "condition 2 before {before}, after {after}"
    );
}
