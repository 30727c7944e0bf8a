//! B sources: `V=expr` and `I=expr`, evaluated with exact derivatives by forward-mode
//! dual numbers over the unknowns the expression references.
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
    vals: Vec<f64>,
    /// `ops.len() × refs.len()` derivatives, row per op.
    ders: Vec<f64>,
}

impl Tape {
    /// Compiles a resolved expression; unresolved names are an error message.
    pub fn compile(expr: &Expr, layout: &Layout) -> Result<Tape, String> {
        let mut t = Tape {
            ops: Vec::new(),
            refs: Vec::new(),
            vals: Vec::new(),
            ders: Vec::new(),
        };
        t.emit(expr, layout)?;
        let m = t.refs.len();
        t.vals = vec![0.0; t.ops.len()];
        t.ders = vec![0.0; t.ops.len() * m];
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
    pub fn eval(&mut self, x: &[f64], t: f64) -> f64 {
        let m = self.refs.len();
        for k in 0..self.ops.len() {
            let (before, rest) = self.ders.split_at_mut(k * m);
            let d = &mut rest[..m];
            let v = &self.vals;
            let val = match self.ops[k] {
                Op::Const(c) => {
                    d.fill(0.0);
                    c
                }
                Op::Time => {
                    d.fill(0.0);
                    t
                }
                Op::Var(j) => {
                    d.fill(0.0);
                    d[j] = 1.0;
                    x[self.refs[j]]
                }
                Op::Unary(op, a) => {
                    let da = &before[a * m..a * m + m];
                    match op {
                        UnaryOp::Neg => {
                            lin1(d, da, -1.0);
                            -v[a]
                        }
                        UnaryOp::Not => {
                            d.fill(0.0);
                            bool_f(v[a] == 0.0)
                        }
                    }
                }
                Op::Binary(op, a, b) => {
                    let (va, vb) = (v[a], v[b]);
                    let da = &before[a * m..a * m + m];
                    let db = &before[b * m..b * m + m];
                    match op {
                        BinaryOp::Add => {
                            lin2(d, da, 1.0, db, 1.0);
                            va + vb
                        }
                        BinaryOp::Sub => {
                            lin2(d, da, 1.0, db, -1.0);
                            va - vb
                        }
                        BinaryOp::Mul => {
                            lin2(d, da, vb, db, va);
                            va * vb
                        }
                        BinaryOp::Div => {
                            let q = va / vb;
                            lin2(d, da, 1.0 / vb, db, -q / vb);
                            q
                        }
                        BinaryOp::Pow => {
                            let (p, ga, gb) = pow_parts(va, vb);
                            lin2(d, da, ga, db, gb);
                            p
                        }
                        cmp => {
                            d.fill(0.0);
                            match cmp {
                                BinaryOp::Lt => bool_f(va < vb),
                                BinaryOp::Le => bool_f(va <= vb),
                                BinaryOp::Gt => bool_f(va > vb),
                                BinaryOp::Ge => bool_f(va >= vb),
                                BinaryOp::Eq => bool_f(va == vb),
                                BinaryOp::Ne => bool_f(va != vb),
                                BinaryOp::And => bool_f(va != 0.0 && vb != 0.0),
                                BinaryOp::Or => bool_f(va != 0.0 || vb != 0.0),
                                _ => unreachable!("arithmetic handled above"),
                            }
                        }
                    }
                }
                Op::Call1(f, a) => {
                    let va = v[a];
                    let da = &before[a * m..a * m + m];
                    let (y, dy) = func1(f, va);
                    lin1(d, da, dy);
                    y
                }
                Op::Call2(f, a, b) => {
                    let (va, vb) = (v[a], v[b]);
                    let da = &before[a * m..a * m + m];
                    let db = &before[b * m..b * m + m];
                    match f {
                        Func::Min => {
                            if va <= vb {
                                lin1(d, da, 1.0);
                                va
                            } else {
                                lin1(d, db, 1.0);
                                vb
                            }
                        }
                        Func::Max => {
                            if va >= vb {
                                lin1(d, da, 1.0);
                                va
                            } else {
                                lin1(d, db, 1.0);
                                vb
                            }
                        }
                        _ => {
                            let (p, ga, gb) = pow_parts(va, vb);
                            lin2(d, da, ga, db, gb);
                            p
                        }
                    }
                }
                Op::Limit(a, lo, hi) => {
                    let (va, vlo, vhi) = (v[a], v[lo], v[hi]);
                    let pick = if va < vlo {
                        lo
                    } else if va > vhi {
                        hi
                    } else {
                        a
                    };
                    let dp = &before[pick * m..pick * m + m];
                    lin1(d, dp, 1.0);
                    v[pick]
                }
                Op::Ternary(c, a, b) => {
                    let pick = if v[c] != 0.0 { a } else { b };
                    let dp = &before[pick * m..pick * m + m];
                    lin1(d, dp, 1.0);
                    v[pick]
                }
            };
            self.vals[k] = val;
        }
        *self.vals.last().unwrap_or(&0.0)
    }

    /// Derivatives of the last evaluated value with respect to `refs`.
    pub fn derivatives(&self) -> &[f64] {
        let m = self.refs.len();
        let k = self.ops.len();
        &self.ders[(k - 1) * m..k * m]
    }
}

#[inline]
fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[inline]
fn lin1(d: &mut [f64], da: &[f64], ga: f64) {
    for (o, a) in d.iter_mut().zip(da) {
        *o = ga * a;
    }
}

#[inline]
fn lin2(d: &mut [f64], da: &[f64], ga: f64, db: &[f64], gb: f64) {
    for ((o, a), b) in d.iter_mut().zip(da).zip(db) {
        *o = ga * a + gb * b;
    }
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
}
