//! B sources: `V=expr` and `I=expr`, evaluated with exact derivatives (reverse-mode
//! automatic differentiation over the unknowns the expression references).
//!
//! The expression is compiled once into a flat tape (one register per node of the tree);
//! evaluation fills preallocated value and derivative buffers, so a Newton iteration
//! allocates nothing. Function semantics follow ngspice 39: `^` and `pow` use the magnitude
//! of the base, `sqrt`/`ln`/`log10` of a negative value are an error (NaN here), `u(0)` is
//! 0.5. `limit(x, lo, hi)` clamps x to [lo, hi] (ngspice 39's own `limit` behaves
//! differently and is not reproduced).

use super::{Charges, Device, Layout, LoadCtx, SlotBuilder};
use crate::expr::{BinaryOp, Expr, Func, UnaryOp};

#[derive(Debug, Clone, Copy)]
enum Op {
    Const(f64),
    Time,
    /// k-th referenced unknown
    Var(usize),
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    Call1(Func, usize),
    Call2(Func, usize, usize),
    Limit(usize, usize, usize),
    Ternary(usize, usize, usize),
}

/// A compiled expression with its evaluation buffers.
#[derive(Debug, Clone)]
pub struct Tape {
    ops: Vec<Op>,
    /// Unknown index of each referenced variable.
    pub refs: Vec<usize>,
    /// Value of each op at the last evaluation.
    vals: Vec<f64>,
    /// How each op's derivative follows from its operands' (forward sweep).
    grads: Vec<Grad>,
    /// Adjoint of each op: d(result)/d(op value) (backward sweep).
    adj: Vec<f64>,
    /// d(result)/d(refs[k]).
    ders: Vec<f64>,
}

impl Tape {
    /// Compiles a resolved expression; unresolved names are an error message.
    pub fn compile(expr: &Expr, layout: &Layout) -> Result<Tape, String> {
        let mut t = Tape {
            ops: Vec::new(),
            refs: Vec::new(),
            vals: Vec::new(),
            grads: Vec::new(),
            adj: Vec::new(),
            ders: Vec::new(),
        };
        t.emit(expr, layout)?;
        t.vals = vec![0.0; t.ops.len()];
        t.grads = vec![Grad::Zero; t.ops.len()];
        t.adj = vec![0.0; t.ops.len()];
        t.ders = vec![0.0; t.refs.len()];
        Ok(t)
    }

    fn var(&mut self, unknown: usize) -> usize {
        let k = match self.refs.iter().position(|&r| r == unknown) {
            Some(k) => k,
            None => {
                self.refs.push(unknown);
                self.refs.len() - 1
            }
        };
        self.push(Op::Var(k))
    }

    fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    fn emit(&mut self, e: &Expr, layout: &Layout) -> Result<usize, String> {
        Ok(match e {
            Expr::Const(c) => self.push(Op::Const(*c)),
            Expr::Time => self.push(Op::Time),
            Expr::NodeV(id) => {
                if id.is_ground() {
                    self.push(Op::Const(0.0))
                } else if id.0 > layout.n_nodes {
                    return Err(format!(
                        "v(…) refers to node index {}, which is not in the circuit",
                        id.0
                    ));
                } else {
                    self.var(layout.node(*id))
                }
            }
            Expr::BranchI(idx) => match layout.branch_of.get(*idx).copied().flatten() {
                Some(b) => self.var(b),
                None => {
                    return Err(format!(
                        "i(…) refers to element #{idx}, which has no branch current"
                    ));
                }
            },
            Expr::Var(name) => return Err(format!("unresolved name `{name}` in expression")),
            Expr::VoltageRef(a, b) => {
                return Err(match b {
                    Some(b) => format!("unresolved v({a},{b}) in expression"),
                    None => format!("unresolved v({a}) in expression"),
                });
            }
            Expr::CurrentRef(a) => return Err(format!("unresolved i({a}) in expression")),
            Expr::Unary(op, a) => {
                let a = self.emit(a, layout)?;
                self.push(Op::Unary(*op, a))
            }
            Expr::Binary(op, a, b) => {
                let a = self.emit(a, layout)?;
                let b = self.emit(b, layout)?;
                self.push(Op::Binary(*op, a, b))
            }
            Expr::Ternary(c, a, b) => {
                let c = self.emit(c, layout)?;
                let a = self.emit(a, layout)?;
                let b = self.emit(b, layout)?;
                self.push(Op::Ternary(c, a, b))
            }
            Expr::Call(f, args) => {
                let want = match f {
                    Func::Min | Func::Max | Func::Pow => 2,
                    Func::Limit => 3,
                    _ => 1,
                };
                if args.len() != want {
                    return Err(format!(
                        "function {f:?} takes {want} argument(s), got {}",
                        args.len()
                    ));
                }
                let mut r = [0usize; 3];
                for (k, a) in args.iter().enumerate() {
                    r[k] = self.emit(a, layout)?;
                }
                match want {
                    1 => self.push(Op::Call1(*f, r[0])),
                    2 => self.push(Op::Call2(*f, r[0], r[1])),
                    _ => self.push(Op::Limit(r[0], r[1], r[2])),
                }
            }
        })
    }

    /// Number of referenced unknowns.
    pub fn width(&self) -> usize {
        self.refs.len()
    }

    /// Evaluates at unknowns `x` and time `t`; returns the value, and the derivatives
    /// with respect to `refs` are available through `derivatives()`.
    ///
    /// Reverse mode: a forward sweep computes each op's value and local partials, a backward
    /// sweep accumulates the adjoints, so the cost is O(ops) whatever the number of
    /// referenced unknowns.
    pub fn eval(&mut self, x: &[f64], t: f64) -> f64 {
        let n_ops = self.ops.len();
        if self.refs.len() == 1 {
            // One referenced unknown (e.g. `tanh(v(n))`): scalar forward mode, one sweep;
            // `adj` holds each op's derivative.
            let xr = x[self.refs[0]];
            for k in 0..n_ops {
                let (val, grad) = step(self.ops[k], &self.vals, xr, t);
                let d = &self.adj;
                self.adj[k] = match grad {
                    Grad::Zero => 0.0,
                    Grad::Unit(_) => 1.0,
                    Grad::One(a, ga) => ga * d[a],
                    Grad::Two(a, ga, b, gb) => ga * d[a] + gb * d[b],
                };
                self.vals[k] = val;
            }
            self.ders[0] = self.adj[n_ops - 1];
            return self.vals[n_ops - 1];
        }
        for k in 0..n_ops {
            let xk = match self.ops[k] {
                Op::Var(j) => x[self.refs[j]],
                _ => 0.0,
            };
            let (val, grad) = step(self.ops[k], &self.vals, xk, t);
            self.vals[k] = val;
            self.grads[k] = grad;
        }
        self.ders.fill(0.0);
        if n_ops > 0 && !self.ders.is_empty() {
            self.adj.fill(0.0);
            self.adj[n_ops - 1] = 1.0;
            for k in (0..n_ops).rev() {
                let a = self.adj[k];
                match self.grads[k] {
                    Grad::Zero => {}
                    Grad::Unit(j) => self.ders[j] += a,
                    Grad::One(i, gi) => self.adj[i] += gi * a,
                    Grad::Two(i, gi, j, gj) => {
                        self.adj[i] += gi * a;
                        self.adj[j] += gj * a;
                    }
                }
            }
        }
        *self.vals.last().unwrap_or(&0.0)
    }

    /// Whether the value is smooth in the unknowns wherever it is defined (the edges of
    /// sqrt/ln's domains and the poles of / and tan are not excluded): no comparison,
    /// ternary, clamp, `u`, `sgn` or `abs`, and `^`/`pow` only with a constant exponent
    /// ≥ 2 (the parser writes x^y as |x|^y, as ngspice computes it, so the `abs` of such a
    /// base is allowed: |x|^2 and |x|^3 have a Lipschitz derivative).
    pub fn is_smooth(&self) -> bool {
        let const_at_least_two = |k: usize| matches!(self.ops[k], Op::Const(c) if c >= 2.0);
        // The tape is a tree (each op feeds one other): bases of smooth powers.
        let mut smooth_base = vec![false; self.ops.len()];
        for op in &self.ops {
            match *op {
                Op::Binary(BinaryOp::Pow, a, e) | Op::Call2(Func::Pow, a, e)
                    if const_at_least_two(e) =>
                {
                    smooth_base[a] = true;
                }
                _ => {}
            }
        }
        self.ops.iter().enumerate().all(|(k, op)| match *op {
            Op::Const(_) | Op::Time | Op::Var(_) => true,
            Op::Unary(u, _) => u == UnaryOp::Neg,
            Op::Binary(b, _, e) => match b {
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => true,
                BinaryOp::Pow => const_at_least_two(e),
                _ => false,
            },
            Op::Call1(Func::Abs, _) => smooth_base[k],
            Op::Call1(f, _) => !matches!(f, Func::Step | Func::Sgn),
            Op::Call2(f, _, e) => f == Func::Pow && const_at_least_two(e),
            Op::Limit(..) | Op::Ternary(..) => false,
        })
    }

    /// Whether the expression reads `time`.
    pub fn reads_time(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, Op::Time))
    }

    /// Derivatives of the last evaluated value with respect to `refs`.
    pub fn derivatives(&self) -> &[f64] {
        &self.ders
    }
}

/// How an op's derivative follows from its operands' derivatives.
#[derive(Debug, Clone, Copy)]
enum Grad {
    Zero,
    /// d/dx_j of the j-th referenced unknown itself.
    Unit(usize),
    /// ga·d(a)
    One(usize, f64),
    /// ga·d(a) + gb·d(b)
    Two(usize, f64, usize, f64),
}

/// Value and derivative rule of one op, given the values `v` of the ops before it;
/// `xv` is the unknown's value when `op` is a `Var`.
#[inline(always)]
fn step(op: Op, v: &[f64], xv: f64, t: f64) -> (f64, Grad) {
    match op {
        Op::Const(c) => (c, Grad::Zero),
        Op::Time => (t, Grad::Zero),
        Op::Var(j) => (xv, Grad::Unit(j)),
        Op::Unary(UnaryOp::Neg, a) => (-v[a], Grad::One(a, -1.0)),
        Op::Unary(UnaryOp::Not, a) => (bool_f(v[a] == 0.0), Grad::Zero),
        Op::Binary(op, a, b) => {
            let (va, vb) = (v[a], v[b]);
            match op {
                BinaryOp::Add => (va + vb, Grad::Two(a, 1.0, b, 1.0)),
                BinaryOp::Sub => (va - vb, Grad::Two(a, 1.0, b, -1.0)),
                BinaryOp::Mul => (va * vb, Grad::Two(a, vb, b, va)),
                BinaryOp::Div => {
                    let q = va / vb;
                    (q, Grad::Two(a, 1.0 / vb, b, -q / vb))
                }
                BinaryOp::Pow => {
                    let (p, ga, gb) = pow_parts(va, vb);
                    (p, Grad::Two(a, ga, b, gb))
                }
                BinaryOp::Lt => (bool_f(va < vb), Grad::Zero),
                BinaryOp::Le => (bool_f(va <= vb), Grad::Zero),
                BinaryOp::Gt => (bool_f(va > vb), Grad::Zero),
                BinaryOp::Ge => (bool_f(va >= vb), Grad::Zero),
                BinaryOp::Eq => (bool_f(va == vb), Grad::Zero),
                BinaryOp::Ne => (bool_f(va != vb), Grad::Zero),
                BinaryOp::And => (bool_f(va != 0.0 && vb != 0.0), Grad::Zero),
                BinaryOp::Or => (bool_f(va != 0.0 || vb != 0.0), Grad::Zero),
            }
        }
        Op::Call1(f, a) => {
            let (y, dy) = func1(f, v[a]);
            (y, Grad::One(a, dy))
        }
        Op::Call2(f, a, b) => {
            let (va, vb) = (v[a], v[b]);
            match f {
                Func::Min => {
                    if va <= vb {
                        (va, Grad::One(a, 1.0))
                    } else {
                        (vb, Grad::One(b, 1.0))
                    }
                }
                Func::Max => {
                    if va >= vb {
                        (va, Grad::One(a, 1.0))
                    } else {
                        (vb, Grad::One(b, 1.0))
                    }
                }
                _ => {
                    let (p, ga, gb) = pow_parts(va, vb);
                    (p, Grad::Two(a, ga, b, gb))
                }
            }
        }
        Op::Limit(a, lo, hi) => {
            let va = v[a];
            let pick = if va < v[lo] {
                lo
            } else if va > v[hi] {
                hi
            } else {
                a
            };
            (v[pick], Grad::One(pick, 1.0))
        }
        Op::Ternary(c, a, b) => {
            let pick = if v[c] != 0.0 { a } else { b };
            (v[pick], Grad::One(pick, 1.0))
        }
    }
}

#[inline]
fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// ngspice's power: |a|^b, with its partial derivatives.
fn pow_parts(a: f64, b: f64) -> (f64, f64, f64) {
    let m = a.abs();
    let p = m.powf(b);
    let ga = if m == 0.0 {
        if b == 1.0 { 1.0 } else { 0.0 }
    } else {
        b * p / m * a.signum()
    };
    let gb = if m > 0.0 { p * m.ln() } else { 0.0 };
    (p, ga, gb)
}

/// Value and derivative of a one-argument function.
fn func1(f: Func, a: f64) -> (f64, f64) {
    match f {
        Func::Abs => (a.abs(), if a >= 0.0 { 1.0 } else { -1.0 }),
        // ngspice refuses negative arguments of sqrt and the logarithms: NaN makes the
        // engine report the equation.
        Func::Sqrt => {
            let s = a.sqrt();
            (s, if s > 0.0 { 0.5 / s } else { 0.0 })
        }
        Func::Exp => {
            let e = a.exp();
            (e, e)
        }
        Func::Ln => (a.ln(), 1.0 / a),
        Func::Log10 => (a.log10(), 1.0 / (a * std::f64::consts::LN_10)),
        Func::Tanh => {
            let t = a.tanh();
            (t, 1.0 - t * t)
        }
        Func::Sinh => (a.sinh(), a.cosh()),
        Func::Cosh => (a.cosh(), a.sinh()),
        Func::Atan => (a.atan(), 1.0 / (1.0 + a * a)),
        Func::Sin => (a.sin(), a.cos()),
        Func::Cos => (a.cos(), -a.sin()),
        Func::Tan => {
            let t = a.tan();
            (t, 1.0 + t * t)
        }
        // ngspice: u(0) = 0.5
        Func::Step => (
            if a > 0.0 {
                1.0
            } else if a < 0.0 {
                0.0
            } else {
                0.5
            },
            0.0,
        ),
        Func::Sgn => (
            if a > 0.0 {
                1.0
            } else if a < 0.0 {
                -1.0
            } else {
                0.0
            },
            0.0,
        ),
        // Arity is checked at compile time; these never reach here.
        Func::Min | Func::Max | Func::Pow | Func::Limit => (f64::NAN, 0.0),
    }
}

/// B with `I=expr`: current expr from p through the source to n.
#[derive(Debug, Clone)]
pub struct BehavioralCurrent {
    pub p: usize,
    pub n: usize,
    pub tape: Tape,
    /// Slots (p, ref_k) and (n, ref_k).
    sp: Vec<usize>,
    sn: Vec<usize>,
}

impl BehavioralCurrent {
    pub fn new(p: usize, n: usize, tape: Tape) -> Self {
        BehavioralCurrent {
            p,
            n,
            tape,
            sp: Vec::new(),
            sn: Vec::new(),
        }
    }
}

impl Device for BehavioralCurrent {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.sp = self.tape.refs.iter().map(|&r| s.slot(self.p, r)).collect();
        self.sn = self.tape.refs.iter().map(|&r| s.slot(self.n, r)).collect();
    }
    #[inline]
    fn load(&mut self, x: &[f64], ctx: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = self.tape.eval(x, ctx.time);
        f[self.p] += i;
        f[self.n] -= i;
        for ((&d, &sp), &sn) in self.tape.derivatives().iter().zip(&self.sp).zip(&self.sn) {
            jac[sp] += d;
            jac[sn] -= d;
        }
    }
    fn is_linear(&self) -> bool {
        false
    }
    fn is_smooth(&self) -> bool {
        self.tape.is_smooth()
    }
    fn varies_before(&self, _t: f64) -> bool {
        self.tape.reads_time()
    }
}

/// B with `V=expr`: v(p) − v(n) = expr; branch current from p through the source to n.
#[derive(Debug, Clone)]
pub struct BehavioralVoltage {
    pub p: usize,
    pub n: usize,
    pub b: usize,
    pub tape: Tape,
    pb: usize,
    nb: usize,
    bp: usize,
    bn: usize,
    /// Slots (b, ref_k).
    sb: Vec<usize>,
}

impl BehavioralVoltage {
    pub fn new(p: usize, n: usize, b: usize, tape: Tape) -> Self {
        BehavioralVoltage {
            p,
            n,
            b,
            tape,
            pb: 0,
            nb: 0,
            bp: 0,
            bn: 0,
            sb: Vec::new(),
        }
    }
}

impl Device for BehavioralVoltage {
    fn setup(&mut self, s: &mut SlotBuilder) {
        self.pb = s.slot(self.p, self.b);
        self.nb = s.slot(self.n, self.b);
        self.bp = s.slot(self.b, self.p);
        self.bn = s.slot(self.b, self.n);
        self.sb = self.tape.refs.iter().map(|&r| s.slot(self.b, r)).collect();
    }
    #[inline]
    fn load(&mut self, x: &[f64], ctx: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let i = x[self.b];
        f[self.p] += i;
        f[self.n] -= i;
        jac[self.pb] += 1.0;
        jac[self.nb] -= 1.0;
        let v = self.tape.eval(x, ctx.time);
        f[self.b] += x[self.p] - x[self.n] - v;
        jac[self.bp] += 1.0;
        jac[self.bn] -= 1.0;
        for (&d, &sb) in self.tape.derivatives().iter().zip(&self.sb) {
            jac[sb] -= d;
        }
    }
    fn is_linear(&self) -> bool {
        false
    }
    fn is_smooth(&self) -> bool {
        self.tape.is_smooth()
    }
    fn varies_before(&self, _t: f64) -> bool {
        self.tape.reads_time()
    }
}
