//! The reference fixture's JSON format: initial weights in (`W1`, `b1`, `Q1`, …) and one
//! minibatch evaluated with them out (`output_target`, `v_ff*`, `r_ff*`, `gradW*`, …,
//! `trace_*`, `metrics`), so the model can be checked against other implementations.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::config::{Config, Variant};
use super::dfc::{self, BatchForward};
use super::error::IdealError;
use super::linalg::Mat;
use super::loss::Loss;
use super::metrics;
use super::network::{Activation, Layer, Network, ParamGrads};

/// Time points recorded in the reference fixture's traces.
pub const FIXTURE_TRACE_STEPS: [usize; 12] = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 999];

fn as_matrix(v: &Value, key: &str, path: &Path) -> Result<Mat, IdealError> {
    let rows = v
        .as_array()
        .ok_or_else(|| IdealError::data(path, format!("`{key}` is not an array of rows")))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(as_vector(row, key, path)?);
    }
    let cols = out.first().map_or(0, |r| r.len());
    if out.iter().any(|r| r.len() != cols) {
        return Err(IdealError::data(
            path,
            format!("`{key}` has rows of different lengths"),
        ));
    }
    Ok(Mat::from_rows(&out))
}

fn as_vector(v: &Value, key: &str, path: &Path) -> Result<Vec<f64>, IdealError> {
    let arr = v
        .as_array()
        .ok_or_else(|| IdealError::data(path, format!("`{key}` is not an array")))?;
    arr.iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| IdealError::data(path, format!("`{key}` holds a non-number")))
        })
        .collect()
}

/// Network from the keys `W1`, `b1`, `Q1`, `W2`, … of a JSON object (`path` for errors).
/// Missing `b_i` means zero biases; missing `Q_i` means weight-product feedback.
pub fn network_from_json(v: &Value, cfg: &Config, path: &Path) -> Result<Network, IdealError> {
    let mut layers = Vec::new();
    let mut any_q_missing = false;
    let mut i = 1;
    while let Some(w) = v.get(format!("W{i}")) {
        let w = as_matrix(w, &format!("W{i}"), path)?;
        let b = match v.get(format!("b{i}")) {
            Some(b) => as_vector(b, &format!("b{i}"), path)?,
            None => vec![0.0; w.rows],
        };
        if b.len() != w.rows {
            return Err(IdealError::data(
                path,
                format!("b{i} has {} entries, W{i} has {} rows", b.len(), w.rows),
            ));
        }
        if let Some(prev) = layers.last() {
            let prev: &Layer = prev;
            if prev.n_out() != w.cols {
                return Err(IdealError::data(
                    path,
                    format!(
                        "W{i} has {} columns, layer {} has {} units",
                        w.cols,
                        i - 1,
                        prev.n_out()
                    ),
                ));
            }
        }
        let q = match v.get(format!("Q{i}")) {
            Some(q) => as_matrix(q, &format!("Q{i}"), path)?,
            None => {
                any_q_missing = true;
                Mat::zeros(w.rows, 0)
            }
        };
        layers.push(Layer {
            w,
            b,
            q,
            act: Activation::Linear,
        });
        i += 1;
    }
    if layers.is_empty() {
        return Err(IdealError::data(path, "no `W1` key"));
    }
    let depth = layers.len();
    let n_l = layers[depth - 1].n_out();
    for (k, l) in layers.iter_mut().enumerate() {
        l.act = if k + 1 == depth {
            cfg.output_activation
        } else {
            cfg.hidden_activation
        };
        if !any_q_missing && (l.q.rows != l.n_out() || l.q.cols != n_l) {
            return Err(IdealError::data(
                path,
                format!("Q{} must be {}×{}", k + 1, l.n_out(), n_l),
            ));
        }
    }
    let mut net = Network { layers };
    if any_q_missing {
        net.set_weight_product_feedback();
    }
    Ok(net)
}

pub fn load_network(path: &Path, cfg: &Config) -> Result<Network, IdealError> {
    let text = std::fs::read_to_string(path).map_err(|e| IdealError::io(path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| IdealError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        col: e.column(),
        msg: e.to_string(),
    })?;
    network_from_json(&v, cfg, path)
}

fn mat_json(m: &Mat) -> Value {
    json!(m.to_rows())
}

fn put_params(out: &mut Map<String, Value>, prefix: &str, g: &ParamGrads) {
    for (i, (w, b)) in g.w.iter().zip(&g.b).enumerate() {
        out.insert(format!("{prefix}W{}", i + 1), mat_json(w));
        out.insert(format!("{prefix}b{}", i + 1), json!(b));
    }
}

/// The update of `variant` for one minibatch, unclipped, with what it needed to compute.
pub struct BatchUpdate {
    pub update: ParamGrads,
    pub sim: Option<dfc::SimOutput>,
}

/// Evaluates the first minibatch with the given (initial) weights and returns the
/// fixture's keys with the fixture's meanings.
pub fn probe_batch(
    net: &Network,
    xs: &[&[f64]],
    ys: &[&[f64]],
    cfg: &Config,
    variant: Variant,
    loss: Loss,
) -> Value {
    let p = cfg.forward_params();
    let bf: BatchForward = dfc::forward_batch(net, xs, ys, loss, cfg.target_stepsize);
    let mut out = Map::new();
    for (i, l) in net.layers.iter().enumerate() {
        out.insert(format!("W{}", i + 1), mat_json(&l.w));
        out.insert(format!("b{}", i + 1), json!(l.b));
        out.insert(format!("Q{}", i + 1), mat_json(&l.q));
    }
    out.insert("x".into(), json!(xs));
    out.insert("y".into(), json!(ys));
    out.insert("loss".into(), json!(bf.loss));
    out.insert("output_target".into(), json!(bf.targets));
    for i in 0..net.depth() {
        let v: Vec<&Vec<f64>> = bf.ff.iter().map(|f| &f.v[i]).collect();
        let r: Vec<&Vec<f64>> = bf.ff.iter().map(|f| &f.r[i]).collect();
        out.insert(format!("v_ff{}", i + 1), json!(v));
        out.insert(format!("r_ff{}", i + 1), json!(r));
    }
    let trace_steps: Vec<usize> = FIXTURE_TRACE_STEPS
        .iter()
        .copied()
        .filter(|&s| s < p.steps)
        .collect();
    let sim = variant
        .simulates()
        .then(|| dfc::simulate_batch(net, xs, &bf, &p, variant == Variant::Dfc, &trace_steps));
    let mut update = match variant {
        Variant::Dfc => sim.as_ref().unwrap().dfc.clone().unwrap(),
        Variant::DfcSs => dfc::ss_update(net, xs, &sim.as_ref().unwrap().finals),
        Variant::DfcSsa => dfc::ssa_batch(net, xs, &bf, p.alpha, None).0,
        Variant::Bp => metrics::bp_gradient(net, xs, &bf),
        Variant::Dfa => super::train::dfa_gradient(net, xs, &bf),
    };
    update.clip_per_tensor(cfg.clip_grad_norm);
    put_params(&mut out, "grad", &update);
    // DFC-SSA updates and steady state. As in the reference, the update of a simulated
    // variant takes r_{i−1} from the simulation's last time point (the SSA-angle update);
    // otherwise the steady state's own r_{i−1}.
    let (mut ndi, ssa) = dfc::ssa_batch(
        net,
        xs,
        &bf,
        p.alpha,
        sim.as_ref().map(|s| s.finals.as_slice()),
    );
    ndi.clip_per_tensor(cfg.clip_grad_norm);
    put_params(&mut out, "ndi_grad", &ndi);
    out.insert(
        "u_ndi".into(),
        json!(ssa.iter().map(|s| &s.u).collect::<Vec<_>>()),
    );
    for i in 0..net.depth() {
        out.insert(
            format!("v_ndi{}", i + 1),
            json!(ssa.iter().map(|s| &s.v[i]).collect::<Vec<_>>()),
        );
    }
    if let Some(sim) = &sim {
        let trace = |f: &dyn Fn(&dfc::SampleTrace, usize) -> Value| -> Value {
            let values: Vec<Value> = (0..trace_steps.len())
                .map(|k| Value::Array(sim.traces.iter().map(|t| f(t, k)).collect()))
                .collect();
            json!({"steps": trace_steps, "values": values})
        };
        out.insert("trace_u".into(), trace(&|t, k| json!(t.u[k])));
        for i in 0..net.depth() {
            out.insert(
                format!("trace_vs{}", i + 1),
                trace(&|t, k| json!(t.vs[k][i])),
            );
            out.insert(
                format!("trace_vb{}", i + 1),
                trace(&|t, k| json!(t.vb[k][i])),
            );
            out.insert(format!("trace_r{}", i + 1), trace(&|t, k| json!(t.r[k][i])));
        }
    }
    let m = metrics::compute(
        net,
        xs,
        &bf,
        &update,
        sim.as_ref().map(|s| s.finals.as_slice()),
        &p,
        cfg.clip_grad_norm,
        cfg.mn_nonlinear,
    );
    out.insert(
        "metrics".into(),
        serde_json::to_value(&m).expect("metrics serialise"),
    );
    Value::Object(out)
}
