//! L: branch current i from p through the inductor to n; v(p) − v(n) = dφ/dt, φ = L·i.

use super::{Charges, Device, LoadCtx, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Inductor {
    pub p: usize,
    pub n: usize,
    pub b: usize,
    /// Inductance in henries.
    pub l: f64,
    /// `IC=` initial current (amperes), used with `uic`.
    pub ic: Option<f64>,
    state: usize,
    pb: usize,
    nb: usize,
    bp: usize,
    bn: usize,
    bb: usize,
}

impl Inductor {
    pub fn new(p: usize, n: usize, b: usize, l: f64, ic: Option<f64>) -> Self {
        Inductor {
            p,
            n,
            b,
            l,
            ic,
            state: 0,
            pb: 0,
            nb: 0,
            bp: 0,
            bn: 0,
            bb: 0,
        }
    }
}

impl Device for Inductor {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pb = s.slot(self.p, self.b);
        self.nb = s.slot(self.n, self.b);
        self.bp = s.slot(self.b, self.p);
        self.bn = s.slot(self.b, self.n);
        self.bb = s.slot(self.b, self.b);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, ch: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = x[self.b];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pb] += 1.0;
        jac[self.nb] -= 1.0;
        let (vl, r) = ch.integrate(self.state, self.l * i, self.l);
        f[self.b] += x[self.p] - x[self.n] - vl;
        jac[self.bp] += 1.0;
        jac[self.bn] -= 1.0;
        jac[self.bb] -= r;
    }
    fn state_count(&self) -> usize {
        1
    }
    fn set_state_base(&mut self, base: usize) {
        self.state = base;
    }
    fn init_charges(&self, x: &[f64], uic: bool, q: &mut [f64]) {
        let i = match (uic, self.ic) {
            (true, Some(ic)) => ic,
            _ => x[self.b],
        };
        q[self.state] = self.l * i;
    }
    fn apply_uic(&self, x: &mut [f64]) {
        if let Some(ic) = self.ic {
            x[self.b] = ic;
        }
    }
}
