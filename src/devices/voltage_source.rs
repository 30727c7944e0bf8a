//! V: v(p) − v(n) = V(t); branch current i(V) flows from p through the source to n.

use super::source;
use super::{Charges, Device, LoadCtx, SlotBuilder};
use crate::circuit::Waveform;

#[derive(Debug, Clone)]
pub struct VoltageSource {
    pub p: usize,
    pub n: usize,
    pub b: usize,
    pub wave: Waveform,
    pb: usize,
    nb: usize,
    bp: usize,
    bn: usize,
}

impl VoltageSource {
    pub fn new(p: usize, n: usize, b: usize, wave: Waveform) -> Self {
        VoltageSource {
            p,
            n,
            b,
            wave,
            pb: 0,
            nb: 0,
            bp: 0,
            bn: 0,
        }
    }
}

impl Device for VoltageSource {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pb = s.slot(self.p, self.b);
        self.nb = s.slot(self.n, self.b);
        self.bp = s.slot(self.b, self.p);
        self.bn = s.slot(self.b, self.n);
    }
    #[inline]
    fn load(&mut self, x: &[f64], ctx: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = x[self.b];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pb] += 1.0;
        jac[self.nb] -= 1.0;
        let v = ctx.source_factor * source::value(&self.wave, ctx.time);
        f[self.b] += x[self.p] - x[self.n] - v;
        jac[self.bp] += 1.0;
        jac[self.bn] -= 1.0;
    }
    fn breakpoints(&self, tstop: f64, out: &mut Vec<f64>) {
        source::breakpoints(&self.wave, tstop, out);
    }
    fn varies_before(&self, t: f64) -> bool {
        !source::constant_before(&self.wave, t)
    }
}
