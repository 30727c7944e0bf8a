//! Expression trees shared by `.param`, `{…}` parameter expressions and B sources.
//!
//! The parser produces `Expr` with `Var`/`Call` nodes naming things by string; the
//! elaborator resolves parameters to constants and node voltages / branch currents to
//! indices, so that a B source in the flat circuit only holds `Const`, `Time`, `NodeV`,
//! `BranchI`, operators and functions. Evaluation and exact derivatives live next to
//! the devices that need them.

use crate::circuit::NodeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `^` and `**`
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

/// Built-in functions (ngspice names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Abs,
    Sqrt,
    Exp,
    /// natural log (`ln`; ngspice's `log` is also natural)
    Ln,
    Log10,
    Tanh,
    Sinh,
    Cosh,
    Atan,
    Sin,
    Cos,
    Tan,
    Min,
    Max,
    Pow,
    /// `limit(x, lo, hi)`
    Limit,
    /// `u(x)`: unit step
    Step,
    Sgn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(f64),
    /// Unresolved identifier (parameter name, or `time`) as written, lower-cased.
    Var(String),
    /// Unresolved `v(a)` / `v(a,b)` (node names as written, lower-cased).
    VoltageRef(String, Option<String>),
    /// Unresolved `i(vname)` (source name as written, lower-cased).
    CurrentRef(String),
    /// Simulation time in seconds (resolved `time`).
    Time,
    /// Resolved node voltage (volts); ground is `NodeId::GROUND` and reads 0.
    NodeV(NodeId),
    /// Resolved branch current (amperes) of element `elements[idx]` in the flat circuit.
    BranchI(usize),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
    /// `cond ? a : b`
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// Numeric meaning of the operators and functions, shared by parameter evaluation and B
/// sources. Truth values are 1.0 / 0.0; any non-zero value is true.
pub fn apply_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Not => f64::from(x == 0.0),
    }
}

pub fn apply_binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Lt => f64::from(a < b),
        BinaryOp::Le => f64::from(a <= b),
        BinaryOp::Gt => f64::from(a > b),
        BinaryOp::Ge => f64::from(a >= b),
        BinaryOp::Eq => f64::from(a == b),
        BinaryOp::Ne => f64::from(a != b),
        BinaryOp::And => f64::from(a != 0.0 && b != 0.0),
        BinaryOp::Or => f64::from(a != 0.0 || b != 0.0),
    }
}

/// `args` has the arity the parser checked (1; 2 for min max pow; 3 for limit).
/// ngspice conventions: `u(0) = 0.5`, `sgn(0) = 0`, `limit(x, lo, hi)` clamps without
/// requiring lo <= hi.
pub fn apply_func(f: Func, args: &[f64]) -> f64 {
    let x = args.first().copied().unwrap_or(f64::NAN);
    let y = args.get(1).copied().unwrap_or(f64::NAN);
    match f {
        Func::Abs => x.abs(),
        Func::Sqrt => x.sqrt(),
        Func::Exp => x.exp(),
        Func::Ln => x.ln(),
        Func::Log10 => x.log10(),
        Func::Tanh => x.tanh(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Atan => x.atan(),
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Min => x.min(y),
        Func::Max => x.max(y),
        Func::Pow => x.powf(y),
        Func::Limit => {
            let hi = args.get(2).copied().unwrap_or(f64::NAN);
            if x < y {
                y
            } else if x > hi {
                hi
            } else {
                x
            }
        }
        Func::Step => {
            if x > 0.0 {
                1.0
            } else if x == 0.0 {
                0.5
            } else {
                0.0
            }
        }
        Func::Sgn => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
    }
}

impl Expr {
    /// Replace every sub-tree that holds no `Time`, `NodeV`, `BranchI` or unresolved name by
    /// its value. Evaluation order (and so every bit) is the same as evaluating the tree.
    pub fn fold_constants(self) -> Expr {
        match self {
            Expr::Unary(op, a) => match a.fold_constants() {
                Expr::Const(x) => Expr::Const(apply_unary(op, x)),
                a => Expr::Unary(op, Box::new(a)),
            },
            Expr::Binary(op, a, b) => match (a.fold_constants(), b.fold_constants()) {
                (Expr::Const(x), Expr::Const(y)) => Expr::Const(apply_binary(op, x, y)),
                (a, b) => Expr::Binary(op, Box::new(a), Box::new(b)),
            },
            Expr::Call(f, args) => {
                let args: Vec<Expr> = args.into_iter().map(Expr::fold_constants).collect();
                let values: Option<Vec<f64>> = args
                    .iter()
                    .map(|a| match a {
                        Expr::Const(v) => Some(*v),
                        _ => None,
                    })
                    .collect();
                match values {
                    Some(v) => Expr::Const(apply_func(f, &v)),
                    None => Expr::Call(f, args),
                }
            }
            Expr::Ternary(c, a, b) => {
                let (c, a, b) = (c.fold_constants(), a.fold_constants(), b.fold_constants());
                match c {
                    Expr::Const(v) => {
                        if v != 0.0 {
                            a
                        } else {
                            b
                        }
                    }
                    c => Expr::Ternary(Box::new(c), Box::new(a), Box::new(b)),
                }
            }
            other => other,
        }
    }
}
