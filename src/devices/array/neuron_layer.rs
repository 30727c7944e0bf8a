//! `neuron_layer`: `A… [cff_k] [cfb_k] [v_k] [vff_k] [vfb_k] [r_k] [rn_k] M` (vectors of n).
//! Per neuron k, exactly the flat form: 0 V ammeters cff_k → s_k and cfb_k → s_k (branch
//! currents I_ff, I_fb into the summing node s_k), R_f ∥ C_f between v_k and s_k, an op-amp
//! with + at ground, − at s_k, output v_k; H sources V(vff_k) = −r_f I_ff,
//! V(vfb_k) = −r_f I_fb; the transfer stage V(r_k) = vs·tanh(V(v_k)/vs) (or V(v_k) for
//! `phi=linear`) and V(rn_k) = −V(r_k). Internal unknowns per neuron: s_k (+ the op-amp
//! pole node), and the branches ff, fb, v, vff, vfb, r, rn.
//! Parameters: `n`, `r_f`, `c_f`, `vs`, `phi` (tanh | linear), `noise_sigma` (must be 0:
//! the flat form's noise sources are 0 A placeholders), op-amp `a0 gbw vos vmin vmax slew`,
//! and the tanh stages' mismatch `tanh_gain=[g_k]`, `tanh_offset=[o_k]` (volts; vectors of
//! n, default 1 and 0): V(r_k) = g_k·vs·tanh((V(v_k) − o_k)/vs), as `dfcsim gen` writes
//! them per neuron in both forms.

use super::opamp::{Opamp, OpampModel};
use super::{Params, internal_range};
use crate::circuit::{Element, Model, Port};
use crate::devices::{
    Charges, Device, DeviceError, InternalUnknowns, Layout, LoadCtx, Quad, SlotBuilder,
};

const BRANCHES: [&str; 7] = ["ff", "fb", "v", "vff", "vfb", "r", "rn"];

#[derive(Debug, Clone, Default)]
struct Neuron {
    cff: usize,
    cfb: usize,
    v: usize,
    vff: usize,
    vfb: usize,
    r: usize,
    rn: usize,
    s: usize,
    b_ff: usize,
    b_fb: usize,
    b_vff: usize,
    b_vfb: usize,
    b_r: usize,
    b_rn: usize,
    amp: Opamp,
    /// Transfer-stage gain and input offset (V) of this neuron (mismatch).
    gain: f64,
    offset: f64,
    /// R_f ∥ C_f between v and s.
    rc: Quad,
    state: usize,
    /// Slots: (cff,b_ff) (s,b_ff) (b_ff,cff) (b_ff,s), same for fb.
    s_ff: [usize; 4],
    s_fb: [usize; 4],
    /// (vff,b_vff) (b_vff,vff) (b_vff,b_ff); same for vfb.
    s_vff: [usize; 3],
    s_vfb: [usize; 3],
    /// (r,b_r) (b_r,r) (b_r,v); (rn,b_rn) (b_rn,rn) (b_rn,r).
    s_r: [usize; 3],
    s_rn: [usize; 3],
}

/// A layer of n three-compartment neurons (SI units).
#[derive(Debug, Clone)]
pub struct NeuronLayer {
    r_f: f64,
    c_f: f64,
    vs: f64,
    tanh: bool,
    op: OpampModel,
    neurons: Vec<Neuron>,
}

struct Spec {
    n: usize,
    op: OpampModel,
}

fn spec(p: &Params, ports: &[Port]) -> Result<Spec, DeviceError> {
    let n = match p.count("n")? {
        Some(n) => n,
        None => p
            .port_len(ports, 0)
            .ok_or_else(|| p.err("missing `n` and the first port is not a vector"))?,
    };
    Ok(Spec {
        n,
        op: OpampModel::from_params(p)?,
    })
}

pub(super) fn internal(
    element: &Element,
    ports: &[Port],
    model: &Model,
) -> Result<InternalUnknowns, DeviceError> {
    let p = Params::new(element, model);
    let sp = spec(&p, ports)?;
    let mut nodes = Vec::new();
    for k in 0..sp.n {
        nodes.push(format!("s_{k}"));
        if sp.op.internal_nodes() > 0 {
            nodes.push(format!("x_{k}"));
        }
    }
    let mut branches = Vec::new();
    for k in 0..sp.n {
        branches.extend(BRANCHES.iter().map(|b| format!("{b}_{k}")));
    }
    Ok(InternalUnknowns { nodes, branches })
}

// Port vectors and neurons/channels are indexed together.
#[allow(clippy::needless_range_loop)]
pub(super) fn build(
    element: &Element,
    ports: &[Port],
    model: &Model,
    layout: &Layout,
) -> Result<crate::devices::BoxedDevice, DeviceError> {
    let p = Params::new(element, model);
    let sp = spec(&p, ports)?;
    let n = sp.n;
    let names = ["cff", "cfb", "v", "vff", "vfb", "r", "rn"];
    let spec: Vec<(&str, Option<usize>)> = names.iter().map(|s| (*s, Some(n))).collect();
    let ports = p.ports(ports, &spec, layout)?;
    let range = internal_range(element, layout, &p)?;
    let tanh = match p.string("phi")?.as_deref().unwrap_or("tanh") {
        "tanh" => true,
        "linear" => false,
        other => return Err(p.err(format!("`phi` must be tanh or linear, got `{other}`"))),
    };
    let sigma = p.num_or("noise_sigma", 0.0)?;
    if sigma != 0.0 {
        return Err(p.err(format!(
            "noise_sigma = {sigma}: transient noise is not implemented in the neuron_layer \
             device (the flat form's noise sources are 0 A placeholders); use noise_sigma=0"
        )));
    }
    let gain = p.vector("tanh_gain", n)?.unwrap_or_else(|| vec![1.0; n]);
    let offset = p.vector("tanh_offset", n)?.unwrap_or_else(|| vec![0.0; n]);
    let per_node = 1 + sp.op.internal_nodes();
    let mut neurons = Vec::with_capacity(n);
    for k in 0..n {
        let node0 = range.nodes.start + k * per_node;
        let b0 = range.branches.start + k * BRANCHES.len();
        let x = if per_node > 1 { node0 + 1 } else { layout.n };
        neurons.push(Neuron {
            cff: ports[0][k],
            cfb: ports[1][k],
            v: ports[2][k],
            vff: ports[3][k],
            vfb: ports[4][k],
            r: ports[5][k],
            rn: ports[6][k],
            s: node0,
            b_ff: b0,
            b_fb: b0 + 1,
            amp: Opamp::new(layout.n, node0, ports[2][k], b0 + 2, x),
            b_vff: b0 + 3,
            b_vfb: b0 + 4,
            b_r: b0 + 5,
            b_rn: b0 + 6,
            gain: gain[k],
            offset: offset[k],
            ..Default::default()
        });
    }
    Ok(Box::new(NeuronLayer {
        r_f: p.positive("r_f")?,
        c_f: p.positive("c_f")?,
        vs: p.positive("vs")?,
        tanh,
        op: sp.op,
        neurons,
    }))
}

impl Device for NeuronLayer {
    fn setup(&mut self, s: &mut SlotBuilder) {
        for nu in self.neurons.iter_mut() {
            nu.s_ff = [
                s.slot(nu.cff, nu.b_ff),
                s.slot(nu.s, nu.b_ff),
                s.slot(nu.b_ff, nu.cff),
                s.slot(nu.b_ff, nu.s),
            ];
            nu.s_fb = [
                s.slot(nu.cfb, nu.b_fb),
                s.slot(nu.s, nu.b_fb),
                s.slot(nu.b_fb, nu.cfb),
                s.slot(nu.b_fb, nu.s),
            ];
            nu.rc = s.quad(nu.v, nu.s);
            nu.amp.setup(&self.op, s);
            nu.s_vff = [
                s.slot(nu.vff, nu.b_vff),
                s.slot(nu.b_vff, nu.vff),
                s.slot(nu.b_vff, nu.b_ff),
            ];
            nu.s_vfb = [
                s.slot(nu.vfb, nu.b_vfb),
                s.slot(nu.b_vfb, nu.vfb),
                s.slot(nu.b_vfb, nu.b_fb),
            ];
            nu.s_r = [
                s.slot(nu.r, nu.b_r),
                s.slot(nu.b_r, nu.r),
                s.slot(nu.b_r, nu.v),
            ];
            nu.s_rn = [
                s.slot(nu.rn, nu.b_rn),
                s.slot(nu.b_rn, nu.rn),
                s.slot(nu.b_rn, nu.r),
            ];
        }
    }

    #[inline]
    fn load(&mut self, x: &[f64], ctx: &LoadCtx, ch: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let g_f = 1.0 / self.r_f;
        for nu in &self.neurons {
            // 0 V ammeters into the summing node.
            for (node, b, sl) in [(nu.cff, nu.b_ff, &nu.s_ff), (nu.cfb, nu.b_fb, &nu.s_fb)] {
                let i = x[b];
                f[node] += i;
                f[nu.s] -= i;
                f[b] += x[node] - x[nu.s];
                jac[sl[0]] += 1.0;
                jac[sl[1]] -= 1.0;
                jac[sl[2]] += 1.0;
                jac[sl[3]] -= 1.0;
            }
            // R_f ∥ C_f from v to s.
            let dv = x[nu.v] - x[nu.s];
            let (iq, gq) = ch.integrate(nu.state, self.c_f * dv, self.c_f);
            let i = g_f * dv + iq;
            f[nu.v] += i;
            f[nu.s] -= i;
            nu.rc.add(jac, g_f + gq);
            nu.amp.load(&self.op, x, ctx.source_factor, ch, f, jac);
            // Sensed compartments: V(vff) = −r_f I_ff, V(vfb) = −r_f I_fb.
            for (out, b, ctl, sl) in [
                (nu.vff, nu.b_vff, nu.b_ff, &nu.s_vff),
                (nu.vfb, nu.b_vfb, nu.b_fb, &nu.s_vfb),
            ] {
                f[out] += x[b];
                f[b] += x[out] + self.r_f * x[ctl];
                jac[sl[0]] += 1.0;
                jac[sl[1]] += 1.0;
                jac[sl[2]] += self.r_f;
            }
            // Transfer stage and its complement.
            let (phi, dphi) = if self.tanh {
                let t = ((x[nu.v] - nu.offset) / self.vs).tanh();
                (nu.gain * self.vs * t, nu.gain * (1.0 - t * t))
            } else {
                (x[nu.v], 1.0)
            };
            f[nu.r] += x[nu.b_r];
            f[nu.b_r] += x[nu.r] - phi;
            jac[nu.s_r[0]] += 1.0;
            jac[nu.s_r[1]] += 1.0;
            jac[nu.s_r[2]] -= dphi;
            f[nu.rn] += x[nu.b_rn];
            f[nu.b_rn] += x[nu.rn] + x[nu.r];
            jac[nu.s_rn[0]] += 1.0;
            jac[nu.s_rn[1]] += 1.0;
            jac[nu.s_rn[2]] += 1.0;
        }
    }

    fn state_count(&self) -> usize {
        self.neurons.len() * (1 + self.op.internal_nodes())
    }

    fn set_state_base(&mut self, base: usize) {
        let per = 1 + self.op.internal_nodes();
        for (k, nu) in self.neurons.iter_mut().enumerate() {
            nu.state = base + k * per;
            nu.amp.set_state(base + k * per + 1);
        }
    }

    fn init_charges(&self, x: &[f64], _uic: bool, q: &mut [f64]) {
        for nu in &self.neurons {
            q[nu.state] = self.c_f * (x[nu.v] - x[nu.s]);
            nu.amp.init_charge(&self.op, x, q);
        }
    }

    fn is_linear(&self) -> bool {
        !self.tanh && self.op.linear()
    }
    fn is_smooth(&self) -> bool {
        // tanh is smooth; rails and the slew limit clamp.
        self.op.linear()
    }
}
