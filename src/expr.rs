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
