//! Per-sample entry points for other modules (the circuit co-simulation): the reference
//! Euler dynamics of one sample with its trajectory, and the ideal update of one sample.

use super::config::{Config, Variant};
use super::controller::{self, ControlState, ControllerParams, DfcAccumulator};
use super::dfc::{self, FinalState};
use super::loss::Loss;
use super::network::{Network, ParamGrads};

/// One time point of the reference Euler dynamics.
#[derive(Debug, Clone, PartialEq)]
pub struct TimePoint {
    /// Time in units of τ_u.
    pub t: f64,
    pub vs: Vec<Vec<f64>>,
    pub vb: Vec<Vec<f64>>,
    pub va: Vec<Vec<f64>>,
    pub r: Vec<Vec<f64>>,
    pub u: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SampleRun {
    /// Every time point t = 0..N−1 when `record` was set (else empty).
    pub trajectory: Vec<TimePoint>,
    pub last: FinalState,
    /// DFC update of this sample alone (B = 1, unclipped).
    pub dfc_update: ParamGrads,
}

/// Runs the reference Euler dynamics of one sample towards the output target `target`
/// (r_L*), from the feed-forward state.
pub fn simulate_sample(
    net: &Network,
    x: &[f64],
    target: &[f64],
    p: &ControllerParams,
    record: bool,
) -> SampleRun {
    let ff = net.forward(x);
    let mut st = ControlState::for_net(net);
    let mut acc = DfcAccumulator::for_net(net);
    acc.begin_sample(&ff);
    let mut trajectory = Vec::new();
    controller::run::<rand::rngs::ChaCha8Rng, _>(net, x, &ff, target, p, &mut st, None, |t, st| {
        acc.add(net, st);
        if record {
            trajectory.push(TimePoint {
                t: t as f64 * p.dt,
                vs: st.vs.clone(),
                vb: st.vb.clone(),
                va: st.va.clone(),
                r: st.r.clone(),
                u: st.u.clone(),
            });
        }
    });
    acc.end_sample(x);
    let mut dfc_update = ParamGrads::zeros_like(net);
    let scale = -2.0 / p.steps as f64;
    for i in 0..net.depth() {
        for (g, a) in dfc_update.w[i].data.iter_mut().zip(&acc.w[i]) {
            *g = scale * a;
        }
        for (g, a) in dfc_update.b[i].iter_mut().zip(&acc.b[i]) {
            *g = scale * a;
        }
    }
    let last = FinalState {
        vs: st.vs.clone(),
        vb: st.vb.clone(),
        r: st.r.clone(),
        u: st.u.clone(),
    };
    SampleRun {
        trajectory,
        last,
        dfc_update,
    }
}

/// Output target r_L* of one sample trained alone (minibatch of one).
pub fn output_target(net: &Network, x: &[f64], y: &[f64], loss: Loss, lambda: f64) -> Vec<f64> {
    dfc::forward_batch(net, &[x], &[y], loss, lambda)
        .targets
        .remove(0)
}

/// The ideal update of `variant` for one sample (minibatch of one, unclipped; clip with
/// `ParamGrads::clip_per_tensor(cfg.clip_grad_norm)` to get what training applies).
pub fn ideal_update(
    net: &Network,
    x: &[f64],
    y: &[f64],
    loss: Loss,
    cfg: &Config,
    variant: Variant,
) -> ParamGrads {
    let bf = dfc::forward_batch(net, &[x], &[y], loss, cfg.target_stepsize);
    super::train::batch_update(net, &[x], &bf, cfg, variant).0
}
