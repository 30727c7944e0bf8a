//! G: current gm·(v(cp) − v(cn)) from p through the source to n.

use super::{Charges, Device, LoadCtx, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Vccs {
    pub p: usize,
    pub n: usize,
    pub cp: usize,
    pub cn: usize,
    /// Transconductance in siemens.
    pub gm: f64,
    pcp: usize,
    pcn: usize,
    ncp: usize,
    ncn: usize,
}

impl Vccs {
    pub fn new(p: usize, n: usize, cp: usize, cn: usize, gm: f64) -> Self {
        Vccs {
            p,
            n,
            cp,
            cn,
            gm,
            pcp: 0,
            pcn: 0,
            ncp: 0,
            ncn: 0,
        }
    }
}

impl Device for Vccs {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pcp = s.slot(self.p, self.cp);
        self.pcn = s.slot(self.p, self.cn);
        self.ncp = s.slot(self.n, self.cp);
        self.ncn = s.slot(self.n, self.cn);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = self.gm * (x[self.cp] - x[self.cn]);
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pcp] += self.gm;
        jac[self.pcn] -= self.gm;
        jac[self.ncp] -= self.gm;
        jac[self.ncn] += self.gm;
    }
    fn is_static(&self) -> bool {
        true
    }
}
