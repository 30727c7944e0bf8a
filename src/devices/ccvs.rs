//! H: v(p) − v(n) = r·i(control); branch current from p through the source to n.

use super::{Charges, Device, LoadCtx, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Ccvs {
    pub p: usize,
    pub n: usize,
    pub b: usize,
    /// Branch unknown of the controlling element.
    pub cb: usize,
    /// Transresistance in ohms.
    pub r: f64,
    pb: usize,
    nb: usize,
    bp: usize,
    bn: usize,
    bc: usize,
}

impl Ccvs {
    pub fn new(p: usize, n: usize, b: usize, cb: usize, r: f64) -> Self {
        Ccvs {
            p,
            n,
            b,
            cb,
            r,
            pb: 0,
            nb: 0,
            bp: 0,
            bn: 0,
            bc: 0,
        }
    }
}

impl Device for Ccvs {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pb = s.slot(self.p, self.b);
        self.nb = s.slot(self.n, self.b);
        self.bp = s.slot(self.b, self.p);
        self.bn = s.slot(self.b, self.n);
        self.bc = s.slot(self.b, self.cb);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = x[self.b];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pb] += 1.0;
        jac[self.nb] -= 1.0;
        f[self.b] += x[self.p] - x[self.n] - self.r * x[self.cb];
        jac[self.bp] += 1.0;
        jac[self.bn] -= 1.0;
        jac[self.bc] -= self.r;
    }
    fn is_static(&self) -> bool {
        true
    }
}
