//! E: v(p) − v(n) = gain·(v(cp) − v(cn)); branch current from p through the source to n.

use super::{Charges, Device, LoadCtx, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Vcvs {
    pub p: usize,
    pub n: usize,
    pub cp: usize,
    pub cn: usize,
    pub b: usize,
    pub gain: f64,
    pb: usize,
    nb: usize,
    bp: usize,
    bn: usize,
    bcp: usize,
    bcn: usize,
}

impl Vcvs {
    pub fn new(p: usize, n: usize, cp: usize, cn: usize, b: usize, gain: f64) -> Self {
        Vcvs {
            p,
            n,
            cp,
            cn,
            b,
            gain,
            pb: 0,
            nb: 0,
            bp: 0,
            bn: 0,
            bcp: 0,
            bcn: 0,
        }
    }
}

impl Device for Vcvs {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pb = s.slot(self.p, self.b);
        self.nb = s.slot(self.n, self.b);
        self.bp = s.slot(self.b, self.p);
        self.bn = s.slot(self.b, self.n);
        self.bcp = s.slot(self.b, self.cp);
        self.bcn = s.slot(self.b, self.cn);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = x[self.b];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pb] += 1.0;
        jac[self.nb] -= 1.0;
        f[self.b] += x[self.p] - x[self.n] - self.gain * (x[self.cp] - x[self.cn]);
        jac[self.bp] += 1.0;
        jac[self.bn] -= 1.0;
        jac[self.bcp] -= self.gain;
        jac[self.bcn] += self.gain;
    }
    fn is_static(&self) -> bool {
        true
    }
}
