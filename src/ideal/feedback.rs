//! Feedback ("sleep") phase, eq. (12)–(13): with the output target clamped to the
//! feed-forward output, noise in the low-pass apical compartment drives the controller,
//! and Q_i learns from the anti-Hebbian correlation of v^A_i and u:
//!
//! gradQ_i = Σ_t Σ_b v^A_i[t] u[t+1]ᵀ / (σ'² (N−1) B),  σ' = max(σ_fb, 0.01),
//!
//! in the positive-gradient convention (the optimiser subtracts it, giving
//! dQ ∝ −v^A uᵀ); weight decay β enters through the optimiser.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;

use super::controller::{self, ApicalNoise, ControlState, ControllerParams};
use super::dfc::CHUNK;
use super::lanes::{self, LANES};
use super::linalg::{Mat, add_outer};
use super::network::{ForwardState, Network};

/// Seed of one sample's noise stream: depends on the run seed, a counter of feedback
/// minibatches and the sample's position, never on the thread that runs it.
pub fn sample_seed(seed: u64, batch_counter: u64, sample: usize) -> u64 {
    let mut z = seed
        ^ batch_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (sample as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Feedback gradients gradQ_i (unclipped, without weight decay) for the inputs `xs`.
pub fn feedback_gradients(
    net: &Network,
    xs: &[&[f64]],
    p: &ControllerParams,
    noise: ApicalNoise,
    seed: u64,
    batch_counter: u64,
) -> Vec<Mat> {
    // The lane kernel keeps the sleep trajectory of v^A and u (see `lanes::feedback_lanes`);
    // beyond a few MB per work item the scalar path, whose memory does not grow with the
    // number of steps, is used instead (same bits).
    let units: usize = net.layers.iter().map(|l| l.n_out()).sum::<usize>() + net.n_out();
    let history_bytes = p.steps * units * LANES * std::mem::size_of::<f64>();
    let use_lanes = p.inst_transmission && lanes::available() && history_bytes <= 16 << 20;
    feedback_gradients_with(net, xs, p, noise, seed, batch_counter, use_lanes)
}

/// [`feedback_gradients`] on the lane kernel or on the scalar path (same bits; public so
/// that tests can compare the two).
pub fn feedback_gradients_with(
    net: &Network,
    xs: &[&[f64]],
    p: &ControllerParams,
    noise: ApicalNoise,
    seed: u64,
    batch_counter: u64,
    use_lanes: bool,
) -> Vec<Mat> {
    let n_l = net.n_out();
    let idx: Vec<usize> = (0..xs.len()).collect();
    let parts: Vec<Vec<Vec<f64>>> = idx
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut st = ControlState::for_net(net);
            let mut acc: Vec<Vec<f64>> = net
                .layers
                .iter()
                .map(|l| vec![0.0; l.n_out() * n_l])
                .collect();
            if use_lanes {
                for group in chunk.chunks(LANES) {
                    let pick = |q: usize| group[q.min(group.len() - 1)];
                    let ffs: Vec<ForwardState> =
                        group.iter().map(|&s| net.forward(xs[s])).collect();
                    let mut rngs: [ChaCha8Rng; LANES] = std::array::from_fn(|q| {
                        ChaCha8Rng::seed_from_u64(sample_seed(seed, batch_counter, pick(q)))
                    });
                    lanes::feedback_lanes(
                        net,
                        std::array::from_fn(|q| &ffs[q.min(group.len() - 1)]),
                        p,
                        noise,
                        &mut rngs,
                        group.len(),
                        &mut acc,
                    )
                    .expect("lane kernel available");
                }
                return acc;
            }
            let mut va_prev: Vec<Vec<f64>> =
                net.layers.iter().map(|l| vec![0.0; l.n_out()]).collect();
            for &s in chunk {
                let ff = net.forward(xs[s]);
                let target = ff.r.last().unwrap().clone();
                let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(seed, batch_counter, s));
                controller::run(
                    net,
                    xs[s],
                    &ff,
                    &target,
                    p,
                    &mut st,
                    Some((noise, &mut rng)),
                    |t, st| {
                        if t > 0 {
                            // v^A[t−1] with u[t].
                            for (a, va) in acc.iter_mut().zip(&va_prev) {
                                add_outer(a, va, &st.u);
                            }
                        }
                        for (vp, va) in va_prev.iter_mut().zip(&st.va) {
                            vp.copy_from_slice(va);
                        }
                    },
                );
            }
            acc
        })
        .collect();
    let sigma = noise.sigma.max(0.01);
    let scale = 1.0 / (sigma * sigma * (p.steps - 1) as f64 * xs.len() as f64);
    let mut out: Vec<Mat> = net
        .layers
        .iter()
        .map(|l| Mat::zeros(l.n_out(), n_l))
        .collect();
    for part in parts {
        for (o, a) in out.iter_mut().zip(&part) {
            o.data.iter_mut().zip(a).for_each(|(x, y)| *x += y);
        }
    }
    for o in out.iter_mut() {
        o.data.iter_mut().for_each(|x| *x *= scale);
    }
    out
}

/// Clips a list of tensors jointly to total Frobenius norm `max_norm` (≤ 0: off).
pub fn clip_joint(gs: &mut [Mat], max_norm: f64) {
    if max_norm <= 0.0 {
        return;
    }
    let total: f64 = gs
        .iter()
        .map(|g| g.data.iter().map(|x| x * x).sum::<f64>())
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for g in gs.iter_mut() {
            g.data.iter_mut().for_each(|x| *x *= coef);
        }
    }
}
