//! I: drives current I(t) from p through the source to n (it leaves node p).

use super::source;
use super::{Charges, Device, LoadCtx, SlotBuilder};
use crate::circuit::Waveform;

#[derive(Debug, Clone)]
pub struct CurrentSource {
    pub p: usize,
    pub n: usize,
    pub wave: Waveform,
}

impl CurrentSource {
    pub fn new(p: usize, n: usize, wave: Waveform) -> Self {
        CurrentSource { p, n, wave }
    }
}

impl Device for CurrentSource {
    fn setup(&mut self, _: &mut SlotBuilder) {}
    #[inline]
    fn load(&mut self, _: &[f64], ctx: &LoadCtx, _: &mut Charges, f: &mut [f64], _: &mut [f64]) {
        let i = ctx.source_factor * source::value(&self.wave, ctx.time);
        f[self.p] += i;
        f[self.n] -= i;
    }
    fn breakpoints(&self, tstop: f64, out: &mut Vec<f64>) {
        source::breakpoints(&self.wave, tstop, out);
    }
    fn varies_before(&self, t: f64) -> bool {
        !source::constant_before(&self.wave, t)
    }
}
