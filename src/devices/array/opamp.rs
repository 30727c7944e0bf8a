//! The op-amp of the array devices, exactly as `dfcsim gen --flat` writes it (SI units):
//! d = V(+) + vos − V(−); without a pole y = A0·d. With a pole (GBW) the classic
//! two-stage macro-model: an input transconductance g_m = 1 mS drives the pole node x,
//! loaded by C_p = g_m/(2π·GBW) (the compensation capacitor) and R_o = A0/g_m to ground,
//! so V(x) = A0·d/(1 + s/ω_p) with ω_p = 2π·GBW/A0; y = V(x). The output is an ideal
//! source V(out) = clamp(y, vmin, vmax) (rails optional).
//! A slew rate SR (`slew`, V/s, needs a pole) clamps the input-stage current g_m·d to
//! ±C_p·SR (the tail current charging the compensation capacitor), so dV(x)/dt never
//! exceeds SR (the flat form's B source `I=min(max(…))`).
//! The transconductance form has no branch current of order C_p·dV/dt among the unknowns
//! (a gain source A0·d into R_p = 1 kΩ and a 0.4 mF capacitor had one, which Newton could
//! not settle to abstol = 1e-15 A, so the flat DFC circuit stalled in dfcsim and ngspice).
//! The flat form's offset source is ideal, so it is folded in.

use super::Params;
use crate::devices::{Charges, DeviceError, SlotBuilder};

/// Input-stage transconductance of the pole stage (siemens): sets C_p = g_m/(2π·GBW)
/// (16 pF at 10 MHz, the scale of the neurons' C_f) and R_o = A0/g_m.
pub(crate) const GM_POLE: f64 = 1e-3;

/// Op-amp parameters (`a0`, `gbw` Hz (0 = no pole), `vos` V, `vmin`/`vmax` V).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OpampModel {
    pub a0: f64,
    /// Pole capacitor C_p = g_m/(2π·GBW) in farads, if a GBW is given.
    pub c_pole: Option<f64>,
    pub vos: f64,
    pub rails: Option<(f64, f64)>,
    /// Largest input-stage current C_p·SR (A), if a slew rate is given.
    pub i_slew: Option<f64>,
}

impl OpampModel {
    pub fn from_params(p: &Params) -> Result<Self, DeviceError> {
        let a0 = p.num_or("a0", 1e6)?;
        if a0 <= 0.0 {
            return Err(p.err(format!("`a0` must be > 0, got {a0}")));
        }
        let gbw = p.num_or("gbw", 0.0)?;
        if gbw < 0.0 {
            return Err(p.err(format!("`gbw` must be ≥ 0 (0 = no pole), got {gbw}")));
        }
        let c_pole = (gbw > 0.0).then(|| GM_POLE / (2.0 * std::f64::consts::PI * gbw));
        let rails = match (p.num("vmin")?, p.num("vmax")?) {
            (Some(lo), Some(hi)) if lo < hi => Some((lo, hi)),
            (Some(lo), Some(hi)) => {
                return Err(p.err(format!("need vmin < vmax, got {lo} and {hi}")));
            }
            (None, Some(hi)) if hi > 0.0 => Some((-hi, hi)),
            (None, None) => None,
            _ => return Err(p.err("rails: give `vmax` (> 0) or both `vmin` and `vmax`")),
        };
        let slew = p.num_or("slew", 0.0)?;
        if slew < 0.0 {
            return Err(p.err(format!("`slew` must be ≥ 0 (0 = unlimited), got {slew}")));
        }
        let i_slew = match (slew > 0.0, c_pole) {
            (false, _) => None,
            (true, Some(c)) => Some(c * slew),
            (true, None) => {
                return Err(p.err("`slew` needs a pole: give `gbw` > 0"));
            }
        };
        Ok(OpampModel {
            a0,
            c_pole,
            vos: p.num_or("vos", 0.0)?,
            rails,
            i_slew,
        })
    }

    /// Internal node-like unknowns per op-amp (the pole node).
    pub fn internal_nodes(&self) -> usize {
        usize::from(self.c_pole.is_some())
    }

    pub fn linear(&self) -> bool {
        self.rails.is_none() && self.i_slew.is_none()
    }
}

/// One op-amp instance: unknown indices and Jacobian positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opamp {
    inp: usize,
    inn: usize,
    out: usize,
    /// Output branch current (from `out` through the source to ground).
    b: usize,
    /// Pole node (unused without a pole).
    x: usize,
    state: usize,
    s_out_b: usize,
    s_b_out: usize,
    s_b_inp: usize,
    s_b_inn: usize,
    s_b_x: usize,
    s_x_x: usize,
    s_x_inp: usize,
    s_x_inn: usize,
}

impl Opamp {
    pub fn new(inp: usize, inn: usize, out: usize, b: usize, x: usize) -> Self {
        Opamp {
            inp,
            inn,
            out,
            b,
            x,
            ..Default::default()
        }
    }

    pub fn setup(&mut self, m: &OpampModel, s: &mut SlotBuilder) {
        self.s_out_b = s.slot(self.out, self.b);
        self.s_b_out = s.slot(self.b, self.out);
        if m.c_pole.is_some() {
            self.s_b_x = s.slot(self.b, self.x);
            self.s_x_x = s.slot(self.x, self.x);
            self.s_x_inp = s.slot(self.x, self.inp);
            self.s_x_inn = s.slot(self.x, self.inn);
        } else {
            self.s_b_inp = s.slot(self.b, self.inp);
            self.s_b_inn = s.slot(self.b, self.inn);
        }
    }

    /// Integration states used (the pole capacitor).
    pub fn set_state(&mut self, state: usize) {
        self.state = state;
    }

    #[inline]
    pub fn load(
        &self,
        m: &OpampModel,
        x: &[f64],
        source_factor: f64,
        ch: &mut Charges,
        f: &mut [f64],
        jac: &mut [f64],
    ) {
        let i = x[self.b];
        f[self.out] += i;
        jac[self.s_out_b] += 1.0;
        // The flat form's offset is an independent source: scaled by source stepping.
        let d = x[self.inp] + source_factor * m.vos - x[self.inn];
        // y and dy/d(controlling quantity) before the rails
        let y = match m.c_pole {
            Some(c) => {
                let vx = x[self.x];
                let (iq, gq) = ch.integrate(self.state, c * vx, c);
                // input-stage current into x, clamped by the slew limit; output conductance
                // g_m/A0 to ground
                let i_in = GM_POLE * d;
                let (i_in, dg) = match m.i_slew {
                    Some(lim) if i_in > lim => (lim, 0.0),
                    Some(lim) if i_in < -lim => (-lim, 0.0),
                    _ => (i_in, GM_POLE),
                };
                let g_out = GM_POLE / m.a0;
                f[self.x] += iq + g_out * vx - i_in;
                jac[self.s_x_x] += gq + g_out;
                jac[self.s_x_inp] -= dg;
                jac[self.s_x_inn] += dg;
                vx
            }
            None => m.a0 * d,
        };
        let (y, slope) = match m.rails {
            Some((lo, _)) if y < lo => (lo, 0.0),
            Some((_, hi)) if y > hi => (hi, 0.0),
            _ => (y, 1.0),
        };
        f[self.b] += x[self.out] - y;
        jac[self.s_b_out] += 1.0;
        if slope != 0.0 {
            if m.c_pole.is_some() {
                jac[self.s_b_x] -= 1.0;
            } else {
                jac[self.s_b_inp] -= m.a0;
                jac[self.s_b_inn] += m.a0;
            }
        }
    }

    pub fn init_charge(&self, m: &OpampModel, x: &[f64], q: &mut [f64]) {
        if let Some(c) = m.c_pole {
            q[self.state] = c * x[self.x];
        }
    }
}
