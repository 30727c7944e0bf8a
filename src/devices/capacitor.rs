//! C: charge q = C·(v(p) − v(n)); its current dq/dt comes from the integrator.

use super::{Charges, Device, LoadCtx, Quad, SlotBuilder};

#[derive(Debug, Clone)]
pub struct Capacitor {
    pub p: usize,
    pub n: usize,
    /// Capacitance in farads.
    pub c: f64,
    /// `IC=` initial voltage (volts), used with `uic`.
    pub ic: Option<f64>,
    state: usize,
    q: Quad,
}

impl Capacitor {
    pub fn new(p: usize, n: usize, c: f64, ic: Option<f64>) -> Self {
        Capacitor {
            p,
            n,
            c,
            ic,
            state: 0,
            q: Quad::default(),
        }
    }
}

impl Device for Capacitor {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.q = s.quad(self.p, self.n);
    }
    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, ch: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let v = x[self.p] - x[self.n];
        let (i, g) = ch.integrate(self.state, self.c * v, self.c);
        f[self.p] += i;
        f[self.n] -= i;
        self.q.add(jac, g);
    }
    fn state_count(&self) -> usize {
        1
    }
    fn set_state_base(&mut self, base: usize) {
        self.state = base;
    }
    fn init_charges(&self, x: &[f64], uic: bool, q: &mut [f64]) {
        let v = match (uic, self.ic) {
            (true, Some(ic)) => ic,
            _ => x[self.p] - x[self.n],
        };
        q[self.state] = self.c * v;
    }
}
