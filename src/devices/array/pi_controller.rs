//! `pi_controller`: `A… [rstar_m] [rl_m] en [e_m] [uintn_m] [u_m] [un_m] M` (vectors of n,
//! `en` scalar). Per channel, exactly the flat form (R = `r_ctl`):
//! - difference amplifier: R rstar→dp, R dp→0, R rl→dm, R dm→e, op-amp (+ dp, − dm, out e);
//! - enable gate: g = V(en)·V(e) (the flat form's ideal B sources eg = g, egn = −g are
//!   folded into the resistors they drive);
//! - leaky integrator: R from g to si, `r_leak` from un to si (absent when α = 0), `c_int`
//!   from uintn to si, op-amp (+ ground, − si, out uintn);
//! - summer: R uintn→ss, `r_prop` from −g to ss (absent when k_p = 0), R u→ss, op-amp
//!   (− ss, out u); inverter: R u→sv, R un→sv, op-amp (− sv, out un).
//!
//! Parameters: `n`, `vs`, `k_p`, `alpha`, `tau_u`, `r_ctl`, `c_int` (default tau_u/r_ctl),
//! `r_leak` (default r_ctl/alpha when alpha > 0), `r_prop` (default r_ctl/k_p when k_p > 0),
//! op-amp `a0 gbw vos vmin vmax`.

use super::opamp::{Opamp, OpampModel};
use super::{Params, internal_range};
use crate::circuit::{Element, Model, Port};
use crate::devices::{
    Charges, Device, DeviceError, InternalUnknowns, Layout, LoadCtx, Quad, SlotBuilder,
};

const NODES: [&str; 5] = ["dp", "dm", "si", "ss", "sv"];
const AMPS: [&str; 4] = ["d", "i", "s", "v"];

#[derive(Debug, Clone, Default)]
struct Channel {
    e: usize,
    uintn: usize,
    si: usize,
    ss: usize,
    /// Resistors of value r_ctl: rstar–dp, dp–0, rl–dm, dm–e, uintn–ss, u–ss, u–sv, un–sv.
    r_ctl: [Quad; 8],
    /// un–si (leak), uintn–si (C_int).
    leak: Quad,
    cap: Quad,
    /// Gate terms: (si,si) (si,en) (si,e) (ss,ss) (ss,en) (ss,e).
    s_gate: [usize; 6],
    amps: [Opamp; 4],
    state: usize,
    /// Node pairs of `r_ctl`, kept for setup.
    pairs: [(usize, usize); 8],
}

/// The output PI controller (SI units).
#[derive(Debug, Clone)]
pub struct PiController {
    g_ctl: f64,
    g_leak: f64,
    g_prop: f64,
    c_int: f64,
    en: usize,
    op: OpampModel,
    channels: Vec<Channel>,
}

fn spec(p: &Params, ports: &[Port]) -> Result<(usize, OpampModel), DeviceError> {
    let n = match p.count("n")? {
        Some(n) => n,
        None => p
            .port_len(ports, 0)
            .ok_or_else(|| p.err("missing `n` and the first port is not a vector"))?,
    };
    Ok((n, OpampModel::from_params(p)?))
}

pub(super) fn internal(
    element: &Element,
    ports: &[Port],
    model: &Model,
) -> Result<InternalUnknowns, DeviceError> {
    let p = Params::new(element, model);
    let (n, op) = spec(&p, ports)?;
    let mut nodes = Vec::new();
    let mut branches = Vec::new();
    for m in 0..n {
        nodes.extend(NODES.iter().map(|s| format!("{s}_{m}")));
        if op.internal_nodes() > 0 {
            nodes.extend(AMPS.iter().map(|a| format!("x{a}_{m}")));
        }
        branches.extend(AMPS.iter().map(|a| format!("{a}_{m}")));
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
    let (n, op) = spec(&p, ports)?;
    let ports = p.ports(
        ports,
        &[
            ("rstar", Some(n)),
            ("rl", Some(n)),
            ("en", None),
            ("e", Some(n)),
            ("uintn", Some(n)),
            ("u", Some(n)),
            ("un", Some(n)),
        ],
        layout,
    )?;
    let range = internal_range(element, layout, &p)?;
    let r_ctl = p.positive("r_ctl")?;
    let alpha = p.num_or("alpha", 0.0)?;
    let k_p = p.num_or("k_p", 0.0)?;
    let conductance = |key: &str, factor: f64| -> Result<f64, DeviceError> {
        match p.num(key)? {
            Some(r) if r > 0.0 => Ok(1.0 / r),
            Some(r) => Err(p.err(format!("`{key}` must be > 0, got {r}"))),
            None if factor > 0.0 => Ok(factor / r_ctl),
            None => Ok(0.0),
        }
    };
    let g_leak = conductance("r_leak", alpha)?;
    let g_prop = conductance("r_prop", k_p)?;
    let c_int = match p.num("c_int")? {
        Some(c) if c > 0.0 => c,
        Some(c) => return Err(p.err(format!("`c_int` must be > 0, got {c}"))),
        None => p.positive("tau_u")? / r_ctl,
    };
    let gnd = layout.n;
    let per_node = NODES.len() + AMPS.len() * op.internal_nodes();
    let mut channels = Vec::with_capacity(n);
    for m in 0..n {
        let n0 = range.nodes.start + m * per_node;
        let (dp, dm, si, ss, sv) = (n0, n0 + 1, n0 + 2, n0 + 3, n0 + 4);
        let x = |a: usize| {
            if op.internal_nodes() > 0 {
                n0 + NODES.len() + a
            } else {
                gnd
            }
        };
        let b0 = range.branches.start + m * AMPS.len();
        let (rstar, rl, e, uintn, u, un) = (
            ports[0][m],
            ports[1][m],
            ports[3][m],
            ports[4][m],
            ports[5][m],
            ports[6][m],
        );
        channels.push(Channel {
            e,
            uintn,
            si,
            ss,
            pairs: [
                (rstar, dp),
                (dp, gnd),
                (rl, dm),
                (dm, e),
                (uintn, ss),
                (u, ss),
                (u, sv),
                (un, sv),
            ],
            amps: [
                Opamp::new(dp, dm, e, b0, x(0)),
                Opamp::new(gnd, si, uintn, b0 + 1, x(1)),
                Opamp::new(gnd, ss, u, b0 + 2, x(2)),
                Opamp::new(gnd, sv, un, b0 + 3, x(3)),
            ],
            ..Default::default()
        });
    }
    Ok(Box::new(PiController {
        g_ctl: 1.0 / r_ctl,
        g_leak,
        g_prop,
        c_int,
        en: ports[2][0],
        op,
        channels,
    }))
}

impl Device for PiController {
    fn setup(&mut self, s: &mut SlotBuilder) {
        let en = self.en;
        for ch in self.channels.iter_mut() {
            for (q, &(a, b)) in ch.r_ctl.iter_mut().zip(&ch.pairs) {
                *q = s.quad(a, b);
            }
            let (un, si) = (ch.pairs[7].0, ch.si);
            ch.leak = s.quad(un, si);
            ch.cap = s.quad(ch.uintn, si);
            ch.s_gate = [
                s.slot(si, si),
                s.slot(si, en),
                s.slot(si, ch.e),
                s.slot(ch.ss, ch.ss),
                s.slot(ch.ss, en),
                s.slot(ch.ss, ch.e),
            ];
            for a in ch.amps.iter_mut() {
                a.setup(&self.op, s);
            }
        }
    }

    #[inline]
    fn load(
        &mut self,
        x: &[f64],
        ctx: &LoadCtx,
        charges: &mut Charges,
        f: &mut [f64],
        jac: &mut [f64],
    ) {
        let g = self.g_ctl;
        let v_en = x[self.en];
        for ch in &self.channels {
            for (q, &(a, b)) in ch.r_ctl.iter().zip(&ch.pairs) {
                let i = g * (x[a] - x[b]);
                f[a] += i;
                f[b] -= i;
                q.add(jac, g);
            }
            let (un, si, ss, e) = (ch.pairs[7].0, ch.si, ch.ss, ch.e);
            if self.g_leak > 0.0 {
                let i = self.g_leak * (x[un] - x[si]);
                f[un] += i;
                f[si] -= i;
                ch.leak.add(jac, self.g_leak);
            }
            let dv = x[ch.uintn] - x[si];
            let (iq, gq) = charges.integrate(ch.state, self.c_int * dv, self.c_int);
            f[ch.uintn] += iq;
            f[si] -= iq;
            ch.cap.add(jac, gq);
            // Gate: R_ctl from g = en·e into si; r_prop from −g into ss.
            let gate = v_en * x[e];
            f[si] += g * (x[si] - gate);
            jac[ch.s_gate[0]] += g;
            jac[ch.s_gate[1]] -= g * x[e];
            jac[ch.s_gate[2]] -= g * v_en;
            if self.g_prop > 0.0 {
                let gp = self.g_prop;
                f[ss] += gp * (x[ss] + gate);
                jac[ch.s_gate[3]] += gp;
                jac[ch.s_gate[4]] += gp * x[e];
                jac[ch.s_gate[5]] += gp * v_en;
            }
            for a in &ch.amps {
                a.load(&self.op, x, ctx.source_factor, charges, f, jac);
            }
        }
    }

    fn state_count(&self) -> usize {
        self.channels.len() * (1 + AMPS.len() * self.op.internal_nodes())
    }

    fn set_state_base(&mut self, base: usize) {
        let per = 1 + AMPS.len() * self.op.internal_nodes();
        for (m, ch) in self.channels.iter_mut().enumerate() {
            ch.state = base + m * per;
            for (a, amp) in ch.amps.iter_mut().enumerate() {
                amp.set_state(base + m * per + 1 + a);
            }
        }
    }

    fn init_charges(&self, x: &[f64], _uic: bool, q: &mut [f64]) {
        for ch in &self.channels {
            q[ch.state] = self.c_int * (x[ch.uintn] - x[ch.si]);
            for a in &ch.amps {
                a.init_charge(&self.op, x, q);
            }
        }
    }

    fn is_linear(&self) -> bool {
        false
    }
    fn is_smooth(&self) -> bool {
        // The gate en·e is bilinear; rails and the slew limit clamp.
        self.op.linear()
    }
}
