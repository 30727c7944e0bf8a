//! R: current g·(v(p) − v(n)) from p to n.

use super::{Charges, Device, LoadCtx, Quad, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Resistor {
    pub p: usize,
    pub n: usize,
    /// Conductance in siemens.
    pub g: f64,
    q: Quad,
}

impl Resistor {
    pub fn new(p: usize, n: usize, g: f64) -> Self {
        Resistor {
            p,
            n,
            g,
            q: Quad::default(),
        }
    }
}

impl Device for Resistor {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.q = s.quad(self.p, self.n);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = self.g * (x[self.p] - x[self.n]);
        f[self.p] += i;
        f[self.n] -= i;
        self.q.add(jac, self.g);
    }
    fn is_static(&self) -> bool {
        true
    }
}
