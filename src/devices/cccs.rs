//! F: current gain·i(control) from p through the source to n.

use super::{Charges, Device, LoadCtx, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Cccs {
    pub p: usize,
    pub n: usize,
    /// Branch unknown of the controlling element.
    pub cb: usize,
    pub gain: f64,
    pc: usize,
    nc: usize,
}

impl Cccs {
    pub fn new(p: usize, n: usize, cb: usize, gain: f64) -> Self {
        Cccs {
            p,
            n,
            cb,
            gain,
            pc: 0,
            nc: 0,
        }
    }
}

impl Device for Cccs {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pc = s.slot(self.p, self.cb);
        self.nc = s.slot(self.n, self.cb);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = self.gain * x[self.cb];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pc] += self.gain;
        jac[self.nc] -= self.gain;
    }
    fn is_static(&self) -> bool {
        true
    }
}
