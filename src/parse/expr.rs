//! Expression parser (nom) for `{…}` parameter expressions, `.param` right-hand sides and
//! B-source `V=`/`I=` expressions.
//!
//! Precedence, lowest first: `?:`, `||`, `&&`, comparisons, `+ -`, `* /`, unary `- + !`,
//! `^`/`**` (left associative like ngspice, binds tighter than unary minus: `-2^2 = -4`).
//! Recursion happens only through parentheses, function arguments and `?:`, whose nesting
//! is bounded before parsing, so deep input cannot overflow the stack.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace0, satisfy};
use nom::combinator::{not, opt, recognize};
use nom::multi::many0;
use nom::sequence::{pair, preceded};
use nom::{IResult, Parser};

use super::error::ErrorKind;
use super::number::spice_number;
use crate::expr::{BinaryOp, Expr, Func, UnaryOp};

/// Deepest nesting of parentheses / `?:` accepted.
pub const MAX_NESTING: usize = 48;
/// Most binary operators in one expression (the tree depth of a long sum).
pub const MAX_OPERATORS: usize = 2000;

/// Where and why an expression did not parse (byte offset into the parsed text).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// `Syntax`, or `TooLarge` when a size limit was hit.
    pub kind: ErrorKind,
    pub offset: usize,
    pub message: String,
    pub hint: String,
}

type Res<'a, T> = IResult<&'a str, T>;

fn ws<'a, O, P>(p: P) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>
where
    P: Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
{
    preceded(multispace0, p)
}

fn ident(i: &str) -> Res<'_, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

fn func_by_name(name: &str) -> Option<Func> {
    Some(match name {
        "abs" => Func::Abs,
        "sqrt" => Func::Sqrt,
        "exp" => Func::Exp,
        "ln" | "log" => Func::Ln,
        "log10" => Func::Log10,
        "tanh" => Func::Tanh,
        "sinh" => Func::Sinh,
        "cosh" => Func::Cosh,
        "atan" | "arctan" => Func::Atan,
        "sin" => Func::Sin,
        "cos" => Func::Cos,
        "tan" => Func::Tan,
        "min" => Func::Min,
        "max" => Func::Max,
        "pow" => Func::Pow,
        "limit" => Func::Limit,
        "u" => Func::Step,
        "sgn" | "sign" => Func::Sgn,
        _ => return None,
    })
}

pub const FUNCTION_LIST: &str = "abs sqrt exp ln log log10 tanh sinh cosh atan sin cos tan \
                                 asin acos asinh acosh atanh min max pow pwr limit u uramp sgn";

/// Node or source name inside `v(…)`/`i(…)`.
fn ref_name(i: &str) -> Res<'_, String> {
    ws(take_while1(|c: char| {
        !c.is_whitespace() && c != ',' && c != '(' && c != ')'
    }))
    .map(|s: &str| s.to_ascii_lowercase())
    .parse(i)
}

fn failure(i: &str) -> nom::Err<nom::error::Error<&str>> {
    nom::Err::Failure(nom::error::Error::new(i, nom::error::ErrorKind::Verify))
}

fn primary(i: &str) -> Res<'_, Expr> {
    let (i, _) = multispace0(i)?;
    if let Ok((rest, v)) = spice_number(i) {
        return Ok((rest, Expr::Const(v)));
    }
    if let Ok((rest, e)) = (char('('), ternary, ws(char(')')))
        .map(|(_, e, _)| e)
        .parse(i)
    {
        return Ok((rest, e));
    }
    // `{…}` inside an expression groups like parentheses (ngspice: `V = {k}*v(a)`).
    if let Ok((rest, e)) = (char('{'), ternary, ws(char('}')))
        .map(|(_, e, _)| e)
        .parse(i)
    {
        return Ok((rest, e));
    }
    let (after_name, name) = ident(i)?;
    let lname = name.to_ascii_lowercase();
    let Ok((args_start, _)) = ws(char('(')).parse(after_name) else {
        return Ok((after_name, Expr::Var(lname)));
    };
    match lname.as_str() {
        "v" => {
            let (r, a) = ref_name(args_start)?;
            let (r, b) = opt(preceded(ws(char(',')), ref_name)).parse(r)?;
            let (r, _) = ws(char(')')).parse(r).map_err(|_| failure(r))?;
            Ok((r, Expr::VoltageRef(a, b)))
        }
        "i" => {
            let (r, a) = ref_name(args_start)?;
            let (r, _) = ws(char(')')).parse(r).map_err(|_| failure(r))?;
            Ok((r, Expr::CurrentRef(a)))
        }
        _ => {
            let (r, first) = ternary(args_start)?;
            let (r, mut rest) = many0(preceded(ws(char(',')), ternary)).parse(r)?;
            let (r, _) = ws(char(')')).parse(r).map_err(|_| failure(r))?;
            let mut args = vec![first];
            args.append(&mut rest);
            let call = build_call(&lname, args).ok_or_else(|| failure(i))?;
            Ok((r, call))
        }
    }
}

/// Function call with arity check; `pwr` and `uramp` are rewritten into built-ins.
fn build_call(name: &str, mut args: Vec<Expr>) -> Option<Expr> {
    match name {
        "pwr" if args.len() == 2 => {
            // ngspice B sources: pwr(x, y) = sgn(x) * |x|^y (numparam's pwr is |x|^y; the B
            // meaning is used everywhere).
            let y = args.pop()?;
            let x = args.pop()?;
            return Some(Expr::Binary(
                BinaryOp::Mul,
                Box::new(Expr::Call(Func::Sgn, vec![x.clone()])),
                Box::new(Expr::Call(
                    Func::Pow,
                    vec![Expr::Call(Func::Abs, vec![x]), y],
                )),
            ));
        }
        // Inverse and hyperbolic functions in terms of the built-ins (exact derivatives
        // follow from the chain rule on the rewritten tree).
        "asin" | "arcsin" if args.len() == 1 => return Some(asin(args.pop()?)),
        "acos" | "arccos" if args.len() == 1 => {
            return Some(sub(
                Expr::Const(std::f64::consts::FRAC_PI_2),
                asin(args.pop()?),
            ));
        }
        "asinh" | "arcsinh" if args.len() == 1 => {
            let x = args.pop()?;
            let r = sqrt(add(mul(x.clone(), x.clone()), Expr::Const(1.0)));
            return Some(Expr::Call(Func::Ln, vec![add(x, r)]));
        }
        "acosh" | "arccosh" if args.len() == 1 => {
            let x = args.pop()?;
            let r = sqrt(sub(mul(x.clone(), x.clone()), Expr::Const(1.0)));
            return Some(Expr::Call(Func::Ln, vec![add(x, r)]));
        }
        "atanh" | "arctanh" if args.len() == 1 => {
            let x = args.pop()?;
            let ratio = div(add(Expr::Const(1.0), x.clone()), sub(Expr::Const(1.0), x));
            return Some(mul(Expr::Const(0.5), Expr::Call(Func::Ln, vec![ratio])));
        }
        "uramp" if args.len() == 1 => {
            let x = args.pop()?;
            return Some(Expr::Binary(
                BinaryOp::Mul,
                Box::new(x.clone()),
                Box::new(Expr::Call(Func::Step, vec![x])),
            ));
        }
        _ => {}
    }
    let f = func_by_name(name)?;
    let arity_ok = match f {
        Func::Min | Func::Max | Func::Pow => args.len() == 2,
        Func::Limit => args.len() == 3,
        _ => args.len() == 1,
    };
    arity_ok.then_some(Expr::Call(f, args))
}

fn bin(op: BinaryOp, a: Expr, b: Expr) -> Expr {
    Expr::Binary(op, Box::new(a), Box::new(b))
}
fn add(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Add, a, b)
}
fn sub(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Sub, a, b)
}
fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Mul, a, b)
}
fn div(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Div, a, b)
}
fn sqrt(a: Expr) -> Expr {
    Expr::Call(Func::Sqrt, vec![a])
}
/// asin(x) = atan(x / sqrt(1 - x²)), ±π/2 at x = ±1.
fn asin(x: Expr) -> Expr {
    let r = sqrt(sub(Expr::Const(1.0), mul(x.clone(), x.clone())));
    Expr::Call(Func::Atan, vec![div(x, r)])
}

/// `^` / `**` chains, LEFT associative as in ngspice 39 (`2^3^2` is 64 both in `.param`
/// and in B sources, checked); an exponent may carry prefix operators (`2^-1`).
/// The base is wrapped in `abs()`, see below.
fn power(i: &str) -> Res<'_, Expr> {
    let (mut i, mut acc) = primary(i)?;
    loop {
        let Ok((after_op, _)) = ws(alt((tag("**"), tag("^")))).parse(i) else {
            return Ok((i, acc));
        };
        let (r, pre) = prefix_ops(after_op)?;
        let (r, e) = primary(r)?;
        // ngspice 39 computes `x^y` and `x**y` as |x|^y (PTpower and numparam alike:
        // `(-2)^3` is 8); the tree says so explicitly.
        let base = Expr::Call(Func::Abs, vec![acc]);
        acc = Expr::Binary(
            BinaryOp::Pow,
            Box::new(base),
            Box::new(apply_prefix(&pre, e)),
        );
        i = r;
    }
}

fn prefix_ops(mut i: &str) -> Res<'_, Vec<char>> {
    let mut ops = Vec::new();
    loop {
        let t = i.trim_start();
        match t.chars().next() {
            Some(c @ ('-' | '+' | '!')) if !t.starts_with("!=") => {
                ops.push(c);
                i = &t[1..];
            }
            _ => return Ok((i, ops)),
        }
    }
}

fn apply_prefix(ops: &[char], mut e: Expr) -> Expr {
    for op in ops.iter().rev() {
        e = match op {
            '-' => match e {
                Expr::Const(v) => Expr::Const(-v),
                other => Expr::Unary(UnaryOp::Neg, Box::new(other)),
            },
            '!' => Expr::Unary(UnaryOp::Not, Box::new(e)),
            _ => e,
        };
    }
    e
}

fn unary(i: &str) -> Res<'_, Expr> {
    let (i, ops) = prefix_ops(i)?;
    let (i, e) = power(i)?;
    Ok((i, apply_prefix(&ops, e)))
}

/// Left-associative chain of `operand (op operand)*`.
fn chain<'a>(
    i: &'a str,
    operand: fn(&'a str) -> Res<'a, Expr>,
    op: fn(&'a str) -> Res<'a, BinaryOp>,
) -> Res<'a, Expr> {
    let (mut i, mut acc) = operand(i)?;
    loop {
        let Ok((after_op, o)) = op(i) else {
            return Ok((i, acc));
        };
        let (rest, rhs) = operand(after_op)?;
        acc = Expr::Binary(o, Box::new(acc), Box::new(rhs));
        i = rest;
    }
}

fn mul_op(i: &str) -> Res<'_, BinaryOp> {
    ws(alt((
        (char('*'), not(char('*'))).map(|_| BinaryOp::Mul),
        char('/').map(|_| BinaryOp::Div),
    )))
    .parse(i)
}

fn add_op(i: &str) -> Res<'_, BinaryOp> {
    ws(alt((
        char('+').map(|_| BinaryOp::Add),
        char('-').map(|_| BinaryOp::Sub),
    )))
    .parse(i)
}

fn cmp_op(i: &str) -> Res<'_, BinaryOp> {
    ws(alt((
        tag("==").map(|_| BinaryOp::Eq),
        tag("!=").map(|_| BinaryOp::Ne),
        tag("<>").map(|_| BinaryOp::Ne),
        tag("<=").map(|_| BinaryOp::Le),
        tag(">=").map(|_| BinaryOp::Ge),
        char('<').map(|_| BinaryOp::Lt),
        char('>').map(|_| BinaryOp::Gt),
    )))
    .parse(i)
}

fn and_op(i: &str) -> Res<'_, BinaryOp> {
    ws(tag("&&")).map(|_| BinaryOp::And).parse(i)
}

fn or_op(i: &str) -> Res<'_, BinaryOp> {
    ws(tag("||")).map(|_| BinaryOp::Or).parse(i)
}

fn mul_expr(i: &str) -> Res<'_, Expr> {
    chain(i, unary, mul_op)
}
fn add_expr(i: &str) -> Res<'_, Expr> {
    chain(i, mul_expr, add_op)
}
fn cmp_expr(i: &str) -> Res<'_, Expr> {
    chain(i, add_expr, cmp_op)
}
fn and_expr(i: &str) -> Res<'_, Expr> {
    chain(i, cmp_expr, and_op)
}
fn or_expr(i: &str) -> Res<'_, Expr> {
    chain(i, and_expr, or_op)
}

fn ternary(i: &str) -> Res<'_, Expr> {
    let (i, cond) = or_expr(i)?;
    let Ok((after_q, _)) = ws(char('?')).parse(i) else {
        return Ok((i, cond));
    };
    let (r, a) = ternary(after_q)?;
    let (r, _) = ws(char(':')).parse(r).map_err(|_| failure(r))?;
    let (r, b) = ternary(r)?;
    Ok((r, Expr::Ternary(Box::new(cond), Box::new(a), Box::new(b))))
}

fn check_limits(text: &str) -> Result<(), ExprError> {
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut questions = 0usize;
    let mut operators = 0usize;
    for c in text.chars() {
        match c {
            '(' | '{' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            ')' | '}' => depth = depth.saturating_sub(1),
            '?' => questions += 1,
            '+' | '-' | '*' | '/' | '^' | '<' | '>' | '=' | '&' | '|' | '!' | ',' => operators += 1,
            _ => {}
        }
    }
    if max_depth + questions > MAX_NESTING {
        return Err(ExprError {
            kind: ErrorKind::TooLarge,
            offset: 0,
            message: "expression nested too deeply".into(),
            hint: format!("at most {MAX_NESTING} levels of parentheses and `?:` are supported"),
        });
    }
    if operators > MAX_OPERATORS {
        return Err(ExprError {
            kind: ErrorKind::TooLarge,
            offset: 0,
            message: "expression too long".into(),
            hint: format!("at most {MAX_OPERATORS} operators per expression; split it with .param"),
        });
    }
    Ok(())
}

fn error_at(text: &str, rest: &str) -> ExprError {
    let offset = text.len() - rest.len();
    let near: String = rest.trim().chars().take(20).collect();
    let (message, hint) = if near.is_empty() {
        (
            "expression ends too early".to_string(),
            "check for a missing operand or closing parenthesis".to_string(),
        )
    } else {
        let name: String = near
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && near[name.len()..].trim_start().starts_with('(') {
            (
                format!("unknown function or wrong number of arguments: '{name}'"),
                format!("functions: {FUNCTION_LIST}"),
            )
        } else {
            (
                format!("cannot parse expression near '{near}'"),
                "expressions use numbers, parameters, v(node), v(a,b), i(vsource), time, \
                 + - * / ^ comparisons && || ?: and functions"
                    .to_string(),
            )
        }
    };
    ExprError {
        kind: ErrorKind::Syntax,
        offset: offset + (rest.len() - rest.trim_start().len()),
        message,
        hint,
    }
}

/// Parse a whole string as one expression.
pub fn parse_expr(text: &str) -> Result<Expr, ExprError> {
    let (rest, e) = parse_expr_prefix(text)?;
    if !rest.trim().is_empty() {
        return Err(error_at(text, rest));
    }
    Ok(e)
}

/// Parse the longest expression at the start of `text`; returns the unparsed rest.
pub fn parse_expr_prefix(text: &str) -> Result<(&str, Expr), ExprError> {
    check_limits(text)?;
    match ternary(text) {
        Ok((rest, e)) => Ok((rest, e)),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(error_at(text, e.input)),
        Err(nom::Err::Incomplete(_)) => Err(error_at(text, "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr::*;

    fn c(v: f64) -> Expr {
        Const(v)
    }
    fn b(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Binary(op, Box::new(l), Box::new(r))
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(
            parse_expr("1+2*3").unwrap(),
            b(BinaryOp::Add, c(1.0), b(BinaryOp::Mul, c(2.0), c(3.0)))
        );
        assert_eq!(
            parse_expr("8-2-1").unwrap(),
            b(BinaryOp::Sub, b(BinaryOp::Sub, c(8.0), c(2.0)), c(1.0))
        );
        let abs = |e: Expr| Call(Func::Abs, vec![e]);
        assert_eq!(
            parse_expr("2^3^2").unwrap(),
            b(
                BinaryOp::Pow,
                abs(b(BinaryOp::Pow, abs(c(2.0)), c(3.0))),
                c(2.0)
            )
        );
        assert_eq!(
            parse_expr("-2**2").unwrap(),
            Unary(
                UnaryOp::Neg,
                Box::new(b(BinaryOp::Pow, abs(c(2.0)), c(2.0)))
            )
        );
        assert_eq!(
            parse_expr("2*-x").unwrap(),
            b(
                BinaryOp::Mul,
                c(2.0),
                Unary(UnaryOp::Neg, Box::new(Var("x".into())))
            )
        );
    }

    #[test]
    fn references_functions_ternary() {
        let e = parse_expr("V(Out, x1.n2) > 0.5 ? tanh(i(Vsense)*1k) : max(time, 2m)").unwrap();
        assert_eq!(
            e,
            Ternary(
                Box::new(b(
                    BinaryOp::Gt,
                    VoltageRef("out".into(), Some("x1.n2".into())),
                    c(0.5)
                )),
                Box::new(Call(
                    Func::Tanh,
                    vec![b(BinaryOp::Mul, CurrentRef("vsense".into()), c(1e3))]
                )),
                Box::new(Call(Func::Max, vec![Var("time".into()), c(2e-3)])),
            )
        );
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse_expr("1 + foo(2)").unwrap_err();
        assert!(e.message.contains("foo"), "{e:?}");
        let e = parse_expr("1 + ").unwrap_err();
        assert_eq!(e.message, "expression ends too early");
        let e = parse_expr("(1 + 2").unwrap_err();
        assert!(e.offset <= 6);
        let deep = "(".repeat(10_000) + "1" + &")".repeat(10_000);
        assert!(parse_expr(&deep).is_err());
    }
}
