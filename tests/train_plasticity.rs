//! Rule (5) over sampled waveforms: a hand-computed trajectory, and the ideal model's own
//! Euler trajectory against its DFC / DFC-SS updates.

use dfcsim::ideal::controller::{self, ControlState};
use dfcsim::ideal::dfc;
use dfcsim::ideal::loss::Loss;
use dfcsim::ideal::network::{Activation, FeedbackInit, Network};
use dfcsim::ideal::{Config, ParamGrads};
use dfcsim::learn::plasticity::{Plasticity, Rule, TimePoint, angle_deg, sgd_step};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// One layer, linear, 1 output and 2 inputs: d(t) = φ(v) − v^ff and r_0 chosen so that
/// the trapezoid on a non-uniform grid can be done by hand.
#[test]
fn trapezoid_on_non_uniform_grid_matches_hand_computation() {
    let mut p = Plasticity::new(&[2, 1], &[Activation::Linear], Rule::Dfc);
    // t = 0, 0.5, 2.0; d = 0, 1, 3; r_0 = (1, 2), (1, 0), (2, 1)
    let ts = [0.0, 0.5, 2.0];
    let phi_v = [1.0, 2.0, 4.0];
    let vff = [1.0, 1.0, 1.0];
    let r0 = [[1.0, 2.0], [1.0, 0.0], [2.0, 1.0]];
    p.begin_sample();
    for k in 0..3 {
        let pv = vec![vec![phi_v[k]]];
        let vf = vec![vec![vff[k]]];
        let rp = vec![r0[k].to_vec()];
        p.add(&TimePoint {
            t: ts[k],
            phi_v: &pv,
            v_ff: &vf,
            r_prev: &rp,
        });
    }
    assert!(p.end_sample(1));
    let g = p.take();
    // ∫ d r_0 dt: 0.25·(0·(1,2) + 1·(1,0)) + 0.75·(1·(1,0) + 3·(2,1)) = (0.25,0) + (5.25, 2.25)
    // = (5.5, 2.25); ∫ d dt = 0.25·1 + 0.75·4 = 3.25; T = 2; g = −2/1 · ∫/T.
    let want_w = [-5.5, -2.25];
    let want_b = -3.25;
    for (got, want) in g.w[0].data.iter().zip(want_w) {
        assert!((got - want).abs() < 1e-15, "{:?}", g.w[0].data);
    }
    assert!((g.b[0][0] - want_b).abs() < 1e-15);

    // DFC-SS: the last point only, tanh applied to v^ff.
    let mut s = Plasticity::new(&[2, 1], &[Activation::Tanh], Rule::DfcSs);
    s.begin_sample();
    let pv = vec![vec![0.5]];
    let vf = vec![vec![0.2]];
    let rp = vec![vec![2.0, -1.0]];
    s.add(&TimePoint {
        t: 3.0,
        phi_v: &pv,
        v_ff: &vf,
        r_prev: &rp,
    });
    assert!(s.end_sample(2));
    let g = s.take();
    let d = 0.5 - 0.2f64.tanh();
    assert!((g.w[0].data[0] - (-d * 2.0)).abs() < 1e-15);
    assert!((g.w[0].data[1] - d).abs() < 1e-15);
    assert!((g.b[0][0] + d).abs() < 1e-15);

    // SGD step: clipped per tensor, scaled by −lr/λ.
    let step = sgd_step(g.clone(), 0.05, 0.05, true, 1e9);
    assert!((step.b[0][0] - d).abs() < 1e-15);
}

fn toy_net(seed: u64) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Network::new_random(
        &[4, 3, 2],
        &[Activation::Tanh, Activation::Linear],
        FeedbackInit::WeightProduct,
        &mut rng,
    )
}

/// Feeds the ideal model's own Euler trajectory (uniform grid dt) through the plasticity
/// module: DFC-SS agrees to rounding, DFC (trapezoid vs the reference's point mean) to O(1/N).
#[test]
fn ideal_trajectory_reproduces_the_ideal_updates() {
    let net = toy_net(3);
    let cfg = Config::default();
    let p = cfg.forward_params();
    let xs_data = [[0.3, -0.7, 0.5, 0.9], [-0.4, 0.2, 0.8, -0.1]];
    let ys_data = [[0.6, -0.3], [-0.5, 0.4]];
    let xs: Vec<&[f64]> = xs_data.iter().map(|x| x.as_slice()).collect();
    let ys: Vec<&[f64]> = ys_data.iter().map(|y| y.as_slice()).collect();
    // λ large enough that the controlled trajectory moves well away from the ff point.
    let lambda = 0.2;
    let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, lambda);
    let sim = dfc::simulate_batch(&net, &xs, &bf, &p, true, &[]);
    let want_dfc = sim.dfc.unwrap();
    let want_ss = dfc::ss_update(&net, &xs, &sim.finals);

    let sizes = net.sizes();
    let acts: Vec<Activation> = net.layers.iter().map(|l| l.act).collect();
    let mut pd = Plasticity::new(&sizes, &acts, Rule::Dfc);
    let mut ps = Plasticity::new(&sizes, &acts, Rule::DfcSs);
    let mut st = ControlState::for_net(&net);
    for s in 0..xs.len() {
        pd.begin_sample();
        ps.begin_sample();
        controller::run::<ChaCha8Rng, _>(
            &net,
            xs[s],
            &bf.ff[s],
            &bf.targets[s],
            &p,
            &mut st,
            None,
            |t, st| {
                let mut r_prev = vec![xs[s].to_vec()];
                r_prev.extend(st.r[..st.r.len() - 1].iter().cloned());
                // v^ff of layer 1 is W_1 x + b_1 (constant); deeper layers' basal input.
                let tp = TimePoint {
                    t: t as f64 * p.dt,
                    phi_v: &st.r,
                    v_ff: &st.vb,
                    r_prev: &r_prev,
                };
                pd.add(&tp);
                ps.add(&tp);
            },
        );
        assert!(pd.end_sample(xs.len()));
        assert!(ps.end_sample(xs.len()));
    }
    let got_ss = ps.take();
    let got_dfc = pd.take();
    let max_diff = |a: &ParamGrads, b: &ParamGrads| {
        a.flatten()
            .iter()
            .zip(b.flatten())
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
    };
    let scale = want_ss.flatten().iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(scale > 1e-3, "update too small to test: {scale}");
    assert!(
        max_diff(&got_ss, &want_ss) < 1e-12 * scale.max(1.0),
        "DFC-SS differs by {}",
        max_diff(&got_ss, &want_ss)
    );
    let angle = angle_deg(&got_dfc, &want_dfc);
    let norm = |g: &ParamGrads| g.flatten().iter().map(|x| x * x).sum::<f64>().sqrt();
    let rel = (norm(&got_dfc) - norm(&want_dfc)).abs() / norm(&want_dfc);
    eprintln!(
        "DFC trapezoid vs reference point mean: angle {angle:.2e} deg, norm ratio diff {rel:.2e}"
    );
    // N = 1000 points: trapezoid (end points halved, / (N−1)) vs mean over N: O(1/N).
    assert!(angle < 0.05 && rel < 3e-3, "angle {angle}, rel {rel}");
}
