//! The continuous-time integrator and the per-sample API.

use dfcsim::ideal::config::{Config, Variant};
use dfcsim::ideal::dfc;
use dfcsim::ideal::loss::Loss;
use dfcsim::ideal::network::{Activation, FeedbackInit, Network};
use dfcsim::ideal::ode::{OdeOptions, OdeParams, simulate_continuous};
use dfcsim::ideal::sample::{ideal_update, output_target, simulate_sample};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn setup() -> (Network, Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let net = Network::new_random(
        &[15, 10, 10, 5],
        &[Activation::Tanh, Activation::Tanh, Activation::Linear],
        FeedbackInit::WeightProduct,
        &mut rng,
    );
    let x: Vec<f64> = (0..15).map(|k| ((k as f64) * 1.3).sin()).collect();
    let y: Vec<f64> = (0..5).map(|k| (k as f64) - 2.0).collect();
    (net, x, y)
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-30);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn rk45_is_accurate_to_its_tolerance() {
    let (net, x, y) = setup();
    let cfg = Config::default();
    let target = output_target(&net, &x, &y, Loss::Mse, cfg.target_stepsize);
    let p = OdeParams {
        k_p: cfg.k_p,
        alpha: cfg.alpha,
        ratio: cfg.time_constant_ratio,
    };
    let loose = simulate_continuous(
        &net,
        &x,
        &target,
        p,
        &OdeOptions {
            rtol: 1e-8,
            atol: 1e-10,
            record: true,
            ..Default::default()
        },
    )
    .unwrap();
    let tight = simulate_continuous(
        &net,
        &x,
        &target,
        p,
        &OdeOptions {
            rtol: 1e-12,
            atol: 1e-14,
            ..Default::default()
        },
    )
    .unwrap();
    assert!((loose.last.t - 5.0).abs() < 1e-12);
    assert!(loose.trajectory.len() == loose.steps_accepted + 1);
    assert!(max_rel(&loose.last.u, &tight.last.u) < 1e-6);
    assert!(max_rel(&loose.update.flatten(), &tight.update.flatten()) < 1e-6);
    assert!(tight.steps_accepted > loose.steps_accepted);
}

#[test]
fn euler_reference_converges_to_continuous_dynamics() {
    let (net, x, y) = setup();
    let cfg = Config::default();
    let target = output_target(&net, &x, &y, Loss::Mse, cfg.target_stepsize);
    let t_end = 2.0;
    let p = OdeParams {
        k_p: cfg.k_p,
        alpha: cfg.alpha,
        ratio: cfg.time_constant_ratio,
    };
    let exact = simulate_continuous(
        &net,
        &x,
        &target,
        p,
        &OdeOptions {
            t_end,
            rtol: 1e-11,
            atol: 1e-13,
            ..Default::default()
        },
    )
    .unwrap();
    let mut errs = Vec::new();
    for dt in [1e-3, 1e-4] {
        let mut c = cfg.clone();
        c.dt = dt;
        c.steps = (t_end / dt).round() as usize + 1;
        let run = simulate_sample(&net, &x, &target, &c.forward_params(), false);
        errs.push(max_rel(&run.last.u, &exact.last.u));
    }
    assert!(errs[1] < 2e-3, "{errs:?}");
    assert!(
        errs[1] < errs[0] / 5.0,
        "first order convergence expected: {errs:?}"
    );
}

#[test]
fn per_sample_api_matches_batch_code() {
    let (net, x, y) = setup();
    let cfg = Config::default();
    let bf = dfc::forward_batch(&net, &[&x], &[&y], Loss::Mse, cfg.target_stepsize);
    let sim = dfc::simulate_batch(&net, &[&x], &bf, &cfg.forward_params(), true, &[]);
    let run = simulate_sample(&net, &x, &bf.targets[0], &cfg.forward_params(), true);
    assert_eq!(run.trajectory.len(), cfg.steps);
    assert_eq!(run.last, sim.finals[0]);
    assert_eq!(run.dfc_update, sim.dfc.unwrap());
    assert_eq!(
        ideal_update(&net, &x, &y, Loss::Mse, &cfg, Variant::Dfc),
        run.dfc_update
    );
}

/// The lock-step lane path of `simulate_batch` (no traces) gives the same bits as the
/// scalar path (traces requested), for a batch that is not a multiple of the lane count.
#[test]
fn lane_path_equals_scalar_path() {
    let (net, x, y) = setup();
    let cfg = Config::default();
    let xs_own: Vec<Vec<f64>> = (0..11)
        .map(|b| x.iter().map(|v| v * (1.0 - 0.07 * b as f64)).collect())
        .collect();
    let xs: Vec<&[f64]> = xs_own.iter().map(|v| v.as_slice()).collect();
    let ys: Vec<&[f64]> = (0..11).map(|_| y.as_slice()).collect();
    let mut p = cfg.forward_params();
    p.steps = 300;
    for apical in [None, Some(0.05)] {
        p.apical_tau = apical;
        let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, cfg.target_stepsize);
        let lanes = dfc::simulate_batch(&net, &xs, &bf, &p, true, &[]);
        let scalar = dfc::simulate_batch(&net, &xs, &bf, &p, true, &[0]);
        assert_eq!(lanes.finals, scalar.finals);
        assert_eq!(lanes.dfc, scalar.dfc);
    }
}

/// The sleep phase on the lane kernel gives the same feedback gradients, bit for bit, as
/// the scalar path (same noise streams), for a batch that is not a multiple of the lanes.
#[test]
fn feedback_lanes_equal_scalar_path() {
    use dfcsim::ideal::controller::ApicalNoise;
    use dfcsim::ideal::feedback::feedback_gradients_with;
    let (net, x, _) = setup();
    let cfg = Config::default();
    let xs_own: Vec<Vec<f64>> = (0..11)
        .map(|b| x.iter().map(|v| v * (1.0 + 0.05 * b as f64)).collect())
        .collect();
    let xs: Vec<&[f64]> = xs_own.iter().map(|v| v.as_slice()).collect();
    let noise = ApicalNoise {
        sigma: cfg.sigma_fb,
        sigma_out: cfg.sigma_output_fb,
    };
    let p = cfg.feedback_params();
    let lanes = feedback_gradients_with(&net, &xs, &p, noise, 7, 3, true);
    let scalar = feedback_gradients_with(&net, &xs, &p, noise, 7, 3, false);
    assert_eq!(lanes, scalar);
    assert!(lanes.iter().any(|g| g.data.iter().any(|v| *v != 0.0)));
}
