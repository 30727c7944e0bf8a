//! AST to flat `Circuit`: `.param` evaluation, `.subckt` expansion, `.model`, `.ic`,
//! `.options`, analyses; element references resolved to indices; topology checked.
//!
//! Names follow ngspice 39 (checked with `display` on a nested netlist): node `n` inside
//! instance `x1` is `x1.n`, inside `x2` of `x1` it is `x1.x2.n`; element `r1` there is
//! `r.x1.x2.r1` (type letter, instance path, name). Nodes `0` and `gnd` are ground.
//!
//! Parameters are evaluated lazily, so a `.param` may use one defined later (as ngspice
//! does); a cycle is an error. Inside an instance, names resolve through the chain of
//! instances up to the top level; instance overrides are evaluated in the caller.
//!
//! Where dfcsim knowingly differs from ngspice 39: `limit(x, lo, hi)` clamps (ngspice's
//! B-source and numparam `limit` return other values); `pwr` means sgn(x)·|x|^y also in
//! `.param` (numparam: |x|^y); a DC value written next to PULSE/PWL/SIN is ignored with a
//! warning (ngspice uses it for a standalone `.op` only); `.meas`/`.four` are ignored with a
//! warning; `.ac`, `.dc` and other analyses are errors.

mod check;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::circuit::{
    Analysis, Circuit, ControlCard, Element, ElementKind, Method, Model, NodeId, ParamValue, Port,
    Save, Waveform,
};
use crate::expr::{BinaryOp, Expr, Func};
pub use crate::parse::ast::Warning;
use crate::parse::ast::{
    ElementBody, ElementCard, Item, ModelCard, ModelValue, Name, Netlist, SaveItem, SourceFn,
    SubcktDef, Value,
};
use crate::parse::error::Result;
pub use crate::parse::error::{ErrorKind, NetlistError};
use crate::span::Span;

pub use check::needs_dc_point;

/// Deepest subcircuit nesting and parameter chain accepted (runaway input protection).
const MAX_DEPTH: usize = 100;
/// Most elements in one flat circuit.
const MAX_ELEMENTS: usize = 20_000_000;

/// Read, parse and elaborate a netlist file.
pub fn load(path: &Path) -> Result<Circuit> {
    load_with_warnings(path).map(|(c, _)| c)
}

/// Parse and elaborate netlist text; `.include`/`.lib` paths are relative to `path`.
pub fn load_str(text: &str, path: &Path) -> Result<Circuit> {
    load_str_with_warnings(text, path).map(|(c, _)| c)
}

/// The `.model` cards of a model library (a file without a title line, e.g.
/// `netlists/models/rram.lib`), read by the netlist parser as an `.include` would read it,
/// so spans, suffixes, `{expr}` values and errors are the same as in a netlist.
pub fn load_models(path: &Path) -> Result<Vec<crate::circuit::Model>> {
    if !path.is_file() {
        // The plain netlist reader names the missing file itself.
        return load(path).map(|c| c.models);
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let text = format!("model library\n.include \"{name}\"\n.end\n");
    load_str(&text, &path.with_file_name("__model_library__.cir")).map(|c| c.models)
}

pub fn load_with_warnings(path: &Path) -> Result<(Circuit, Vec<Warning>)> {
    let text = crate::parse::source::read_text(path).map_err(|e| {
        NetlistError::new(
            ErrorKind::Io,
            Span {
                file: Arc::new(path.to_path_buf()),
                line: 1,
                col: 1,
            },
            path.display().to_string(),
            format!("cannot read netlist: {e}"),
            "check the file name",
        )
    })?;
    load_str_with_warnings(&text, path)
}

/// Like `load_str`, also returning warnings (ignored cards and options, values ngspice
/// would adjust).
pub fn load_str_with_warnings(text: &str, path: &Path) -> Result<(Circuit, Vec<Warning>)> {
    let (ast, sources) = crate::parse::parse_str(text, path);
    let ast = ast?;
    elaborate(&ast).map_err(|e| sources.annotate(e))
}

/// AST to flat circuit.
pub fn elaborate(netlist: &Netlist) -> Result<(Circuit, Vec<Warning>)> {
    let mut el = Elaborator::new(netlist);
    el.run(&netlist.items)?;
    Ok((el.circuit, el.warnings))
}

#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    Pending(&'a Value),
    Busy,
    Done(f64),
}

/// One level of the instance chain (the top level is the root).
struct Scope<'a> {
    params: HashMap<String, Slot<'a>>,
    subckts: HashMap<String, &'a SubcktDef>,
    models: HashMap<String, &'a ModelCard>,
    /// Instance path, e.g. `x1.x2`; empty at top level.
    path: String,
    ports: HashMap<String, NodeId>,
    def: Option<&'a SubcktDef>,
}

impl<'a> Scope<'a> {
    fn new(path: String, def: Option<&'a SubcktDef>) -> Self {
        Scope {
            params: HashMap::new(),
            subckts: HashMap::new(),
            models: HashMap::new(),
            path,
            ports: HashMap::new(),
            def,
        }
    }
}

/// Where a node reference points before all nodes are known.
enum NodeRef {
    Known(NodeId),
    Flat(String),
}

/// An element reference to resolve once every element exists.
struct ElemRef {
    elem: usize,
    target: String,
    span: Span,
    text: String,
}

struct Elaborator<'a> {
    circuit: Circuit,
    warnings: Vec<Warning>,
    scopes: Vec<Scope<'a>>,
    node_index: HashMap<String, NodeId>,
    /// Where each node was first written.
    node_first_use: Vec<Span>,
    elem_index: HashMap<String, usize>,
    globals: HashSet<String>,
    control_refs: Vec<ElemRef>,
    /// B sources whose expressions hold `CurrentRef(flat name)`.
    expr_refs: Vec<(usize, Span)>,
    ics: Vec<(NodeRef, f64, Name)>,
    /// From the first `.tran`: defaults of PULSE/SIN parameters.
    tstep: f64,
    tstop: f64,
}

fn is_ground(name: &str) -> bool {
    name == "0" || name == "gnd"
}

fn has_branch(kind: &ElementKind) -> bool {
    matches!(
        kind,
        ElementKind::VoltageSource { .. }
            | ElementKind::Vcvs { .. }
            | ElementKind::Ccvs { .. }
            | ElementKind::Inductor { .. }
            | ElementKind::BehavioralVoltage { .. }
    )
}

impl<'a> Elaborator<'a> {
    fn new(netlist: &Netlist) -> Self {
        let circuit = Circuit {
            title: netlist.title.clone(),
            nodes: vec!["0".to_string()],
            ..Default::default()
        };
        Elaborator {
            circuit,
            warnings: netlist.warnings.clone(),
            scopes: Vec::new(),
            node_index: HashMap::from([("0".to_string(), NodeId::GROUND)]),
            node_first_use: vec![Span::default()],
            elem_index: HashMap::new(),
            globals: HashSet::new(),
            control_refs: Vec::new(),
            expr_refs: Vec::new(),
            ics: Vec::new(),
            tstep: 0.0,
            tstop: 0.0,
        }
    }

    fn warn(&mut self, span: &Span, message: impl Into<String>) {
        self.warnings.push(Warning {
            span: span.clone(),
            message: message.into(),
        });
    }

    fn run(&mut self, items: &'a [Item]) -> Result<()> {
        self.scopes.push(Scope::new(String::new(), None));
        self.declare(items)?;
        for item in items {
            if let Item::Global(nodes) = item {
                for n in nodes {
                    self.globals.insert(n.text.clone());
                }
            }
        }
        self.top_level_cards(items)?;
        self.instantiate(items)?;
        self.resolve_references()?;
        self.finish_top_level(items)?;
        check::check(&self.circuit, &self.node_first_use)
    }

    /// Parameters, subcircuit definitions and models of one scope.
    fn declare(&mut self, items: &'a [Item]) -> Result<()> {
        let scope = self.scopes.last_mut().expect("a scope is open");
        for item in items {
            match item {
                Item::Param(list) => {
                    for (name, value) in list {
                        // Instance overrides (already `Done`) win over body `.param`s.
                        let keep = matches!(scope.params.get(&name.text), Some(Slot::Done(_)))
                            && scope.def.is_some();
                        if !keep {
                            scope.params.insert(name.text.clone(), Slot::Pending(value));
                        }
                    }
                }
                Item::Subckt(def) => {
                    if let Some(old) = scope.subckts.insert(def.name.text.clone(), def) {
                        return Err(NetlistError::new(
                            ErrorKind::DuplicateName,
                            def.name.span.clone(),
                            def.name.text.clone(),
                            format!(
                                "subcircuit '{}' is defined twice (first at {})",
                                def.name.text, old.name.span
                            ),
                            "rename one of the definitions",
                        ));
                    }
                }
                Item::Model(m) => {
                    scope.models.insert(m.name.text.clone(), m);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `.tran`, `.op`, `.options` (needed before elements: PULSE/SIN defaults).
    fn top_level_cards(&mut self, items: &'a [Item]) -> Result<()> {
        for item in items {
            match item {
                Item::Op(_) => self.circuit.analyses.push(Analysis::Op),
                Item::Tran {
                    tstep,
                    tstop,
                    tstart,
                    tmax,
                    uic,
                    ..
                } => {
                    let step = self.eval(tstep, 0)?;
                    let stop = self.eval(tstop, 0)?;
                    let start = match tstart {
                        Some(v) => self.eval(v, 0)?,
                        None => 0.0,
                    };
                    let max = match tmax {
                        Some(v) => Some(self.eval(v, 0)?),
                        None => None,
                    };
                    if step <= 0.0 {
                        return Err(bad_value(tstep, ".tran: tstep must be positive"));
                    }
                    if stop <= 0.0 {
                        return Err(bad_value(tstop, ".tran: tstop must be positive"));
                    }
                    if let Some(v) = tstart
                        && (start < 0.0 || start >= stop)
                    {
                        return Err(bad_value(v, ".tran: tstart must be in [0, tstop)"));
                    }
                    if let (Some(v), Some(m)) = (tmax, max)
                        && m <= 0.0
                    {
                        return Err(bad_value(v, ".tran: tmax must be positive"));
                    }
                    if !self
                        .circuit
                        .analyses
                        .iter()
                        .any(|a| matches!(a, Analysis::Tran { .. }))
                    {
                        self.tstep = step;
                        self.tstop = stop;
                    }
                    self.circuit.analyses.push(Analysis::Tran {
                        tstep: step,
                        tstop: stop,
                        tstart: start,
                        tmax: max,
                        uic: *uic,
                    });
                }
                Item::Options(list) => {
                    for (name, value) in list {
                        self.option(name, value.as_ref())?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn option(&mut self, name: &Name, value: Option<&ModelValue>) -> Result<()> {
        let num = |el: &mut Self| -> Result<f64> {
            match value {
                Some(ModelValue::Expr(v)) => el.eval(v, 0),
                _ => Err(NetlistError::new(
                    ErrorKind::BadValue,
                    name.span.clone(),
                    name.text.clone(),
                    format!("option {} needs a number", name.text),
                    format!("write .options {}=value", name.text),
                )),
            }
        };
        let positive_int = |v: f64| -> Result<u32> {
            if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
                Ok(v as u32)
            } else {
                Err(NetlistError::new(
                    ErrorKind::BadValue,
                    name.span.clone(),
                    name.text.clone(),
                    format!("option {} needs a positive integer", name.text),
                    "e.g. .options itl4=20",
                ))
            }
        };
        match name.text.as_str() {
            "reltol" => self.circuit.options.reltol = num(self)?,
            "abstol" => self.circuit.options.abstol = num(self)?,
            "vntol" => self.circuit.options.vntol = num(self)?,
            "chgtol" => self.circuit.options.chgtol = num(self)?,
            "trtol" => self.circuit.options.trtol = num(self)?,
            "gmin" => self.circuit.options.gmin = num(self)?,
            "tmax" => self.circuit.options.tmax = Some(num(self)?),
            "maxord" => self.circuit.options.maxord = positive_int(num(self)?)?,
            "itl1" => self.circuit.options.itl1 = positive_int(num(self)?)?,
            "itl4" => self.circuit.options.itl4 = positive_int(num(self)?)?,
            "seed" => {
                let v = num(self)?;
                if !(v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64) {
                    return Err(NetlistError::new(
                        ErrorKind::BadValue,
                        name.span.clone(),
                        name.text.clone(),
                        "option seed needs a non-negative integer",
                        "e.g. .options seed=42",
                    ));
                }
                self.circuit.options.seed = Some(v as u64);
            }
            "interp" => self.circuit.options.interp = true,
            "method" => {
                let m = match value {
                    Some(ModelValue::Str(s)) => s.as_str(),
                    _ => "",
                };
                self.circuit.options.method = match m {
                    "trap" | "trapezoidal" => Method::Trap,
                    "gear" => Method::Gear,
                    "be" | "euler" => Method::Be,
                    "trbdf2" => Method::Trbdf2,
                    _ => {
                        return Err(NetlistError::new(
                            ErrorKind::BadValue,
                            name.span.clone(),
                            m.to_string(),
                            format!("unknown integration method '{m}'"),
                            "write method=trap, method=gear, method=be or method=trbdf2",
                        ));
                    }
                };
            }
            other => {
                let msg = format!("option '{other}' is ignored");
                self.warn(&name.span, msg);
            }
        }
        Ok(())
    }

    /// Elements and `.ic` cards of the current scope, subcircuits expanded.
    fn instantiate(&mut self, items: &'a [Item]) -> Result<()> {
        for item in items {
            match item {
                Item::Element(card) => self.element(card)?,
                Item::Ic(list) => {
                    let level = self.level();
                    for (node, value) in list {
                        let v = self.eval(value, level)?;
                        let r = self.node_ref(&node.text);
                        self.ics.push((r, v, node.clone()));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn level(&self) -> usize {
        self.scopes.len() - 1
    }

    // ---- names -------------------------------------------------------------------------

    fn flat_node_name(&self, name: &str) -> NodeRef {
        if is_ground(name) {
            return NodeRef::Known(NodeId::GROUND);
        }
        let scope = self.scopes.last().expect("a scope is open");
        if let Some(&id) = scope.ports.get(name) {
            return NodeRef::Known(id);
        }
        if scope.path.is_empty() || self.globals.contains(name) {
            NodeRef::Flat(name.to_string())
        } else {
            NodeRef::Flat(format!("{}.{}", scope.path, name))
        }
    }

    fn node_ref(&self, name: &str) -> NodeRef {
        match self.flat_node_name(name) {
            NodeRef::Flat(s) => match self.node_index.get(&s) {
                Some(&id) => NodeRef::Known(id),
                None => NodeRef::Flat(s),
            },
            known => known,
        }
    }

    /// The node for a name written in the current scope, created on first use.
    fn node(&mut self, name: &Name) -> NodeId {
        match self.flat_node_name(&name.text) {
            NodeRef::Known(id) => id,
            NodeRef::Flat(flat) => {
                if let Some(&id) = self.node_index.get(&flat) {
                    return id;
                }
                let id = NodeId(self.circuit.nodes.len());
                self.circuit.nodes.push(flat.clone());
                self.node_first_use.push(name.span.clone());
                self.node_index.insert(flat, id);
                id
            }
        }
    }

    /// Flat name of an element written `name` in the current scope (ngspice: `r.x1.r1`).
    fn flat_element_name(&self, name: &str) -> String {
        let path = &self.scopes.last().expect("a scope is open").path;
        if path.is_empty() {
            name.to_string()
        } else {
            let letter = name.chars().next().unwrap_or('?');
            format!("{letter}.{path}.{name}")
        }
    }

    // ---- values ------------------------------------------------------------------------

    /// Evaluate a constant value (parameters allowed, no signals) in scope `level`.
    fn eval(&mut self, value: &Value, level: usize) -> Result<f64> {
        self.eval_depth(value, level, 0)
    }

    fn eval_depth(&mut self, value: &Value, level: usize, depth: usize) -> Result<f64> {
        let e = self.resolve(&value.expr, value, level, false, depth)?;
        match e.fold_constants() {
            Expr::Const(v) if v.is_finite() => Ok(v),
            Expr::Const(v) => Err(NetlistError::new(
                ErrorKind::BadValue,
                value.span.clone(),
                value.text.clone(),
                format!("'{}' evaluates to {v}", value.text),
                "check for division by zero, log or sqrt of a negative number, overflow",
            )),
            _ => Err(NetlistError::new(
                ErrorKind::Syntax,
                value.span.clone(),
                value.text.clone(),
                "value is not a constant",
                "only B sources may depend on v(), i() and time",
            )),
        }
    }

    /// Value of parameter `name` seen from scope `level`, evaluated on first use.
    fn param(&mut self, name: &str, level: usize, depth: usize) -> Option<Result<f64>> {
        let k = (0..=level)
            .rev()
            .find(|&k| self.scopes[k].params.contains_key(name))?;
        let slot = self.scopes[k].params[name];
        Some(match slot {
            Slot::Done(v) => Ok(v),
            Slot::Busy => Err(NetlistError::new(
                ErrorKind::UndefinedParam,
                Span::default(),
                name.to_string(),
                format!("parameter '{name}' depends on itself"),
                "break the cycle in the .param definitions",
            )),
            Slot::Pending(value) => {
                if depth > MAX_DEPTH {
                    return Some(Err(NetlistError::new(
                        ErrorKind::TooLarge,
                        value.span.clone(),
                        name.to_string(),
                        "parameters depend on each other too deeply",
                        format!("at most {MAX_DEPTH} levels of parameter references"),
                    )));
                }
                self.scopes[k].params.insert(name.to_string(), Slot::Busy);
                let r = self.eval_depth(value, k, depth + 1).map_err(|mut e| {
                    if e.span == Span::default() {
                        e.span = value.span.clone();
                        e.text = value.text.clone();
                    }
                    e
                });
                if let Ok(v) = r {
                    self.scopes[k]
                        .params
                        .insert(name.to_string(), Slot::Done(v));
                } else {
                    self.scopes[k]
                        .params
                        .insert(name.to_string(), Slot::Pending(value));
                }
                r
            }
        })
    }

    /// Names to values and indices. With `signals`, `time`, `v()` and `i()` are kept as
    /// `Time`, `NodeV` and `CurrentRef(flat name)`.
    fn resolve(
        &mut self,
        e: &Expr,
        ctx: &Value,
        level: usize,
        signals: bool,
        depth: usize,
    ) -> Result<Expr> {
        let no_signal = |what: &str| {
            NetlistError::new(
                ErrorKind::Syntax,
                ctx.span.clone(),
                ctx.text.clone(),
                format!("{what} cannot be used in a parameter or element value"),
                "only B sources (and E/G VALUE=) may depend on v(), i() and time",
            )
        };
        Ok(match e {
            Expr::Var(name) => {
                if let Some(v) = self.param(name, level, depth) {
                    Expr::Const(v?)
                } else if name == "time" {
                    if !signals {
                        return Err(no_signal("time"));
                    }
                    Expr::Time
                } else if name == "pi" {
                    Expr::Const(std::f64::consts::PI)
                } else {
                    return Err(NetlistError::new(
                        ErrorKind::UndefinedParam,
                        ctx.span.clone(),
                        name.clone(),
                        format!("undefined parameter '{name}'"),
                        "define it with .param name=value (or in the .subckt params:)",
                    ));
                }
            }
            Expr::VoltageRef(a, b) => {
                if !signals {
                    return Err(no_signal("v()"));
                }
                let na = self.node(&Name {
                    text: a.clone(),
                    span: ctx.span.clone(),
                });
                let va = Expr::NodeV(na);
                match b {
                    None => va,
                    Some(b) => {
                        let nb = self.node(&Name {
                            text: b.clone(),
                            span: ctx.span.clone(),
                        });
                        Expr::Binary(BinaryOp::Sub, Box::new(va), Box::new(Expr::NodeV(nb)))
                    }
                }
            }
            Expr::CurrentRef(name) => {
                if !signals {
                    return Err(no_signal("i()"));
                }
                Expr::CurrentRef(self.flat_element_name(name))
            }
            Expr::Unary(op, a) => {
                Expr::Unary(*op, Box::new(self.resolve(a, ctx, level, signals, depth)?))
            }
            Expr::Binary(op, a, b) => Expr::Binary(
                *op,
                Box::new(self.resolve(a, ctx, level, signals, depth)?),
                Box::new(self.resolve(b, ctx, level, signals, depth)?),
            ),
            Expr::Call(f, args) => {
                let mut out = Vec::with_capacity(args.len());
                for a in args {
                    out.push(self.resolve(a, ctx, level, signals, depth)?);
                }
                if *f == Func::Pow && signals && !out.is_empty() {
                    // ngspice 39: in B sources pow(x, y) is |x|^y; in .param it is x^y.
                    let x = out.remove(0);
                    out.insert(0, Expr::Call(Func::Abs, vec![x]));
                }
                Expr::Call(*f, out)
            }
            Expr::Ternary(c, a, b) => Expr::Ternary(
                Box::new(self.resolve(c, ctx, level, signals, depth)?),
                Box::new(self.resolve(a, ctx, level, signals, depth)?),
                Box::new(self.resolve(b, ctx, level, signals, depth)?),
            ),
            other => other.clone(),
        })
    }

    fn value(&mut self, v: &Value) -> Result<f64> {
        let level = self.level();
        self.eval(v, level)
    }

    // ---- elements ----------------------------------------------------------------------

    fn push_element(&mut self, card: &ElementCard, kind: ElementKind) -> Result<usize> {
        let name = self.flat_element_name(&card.name.text);
        if self.circuit.elements.len() >= MAX_ELEMENTS {
            return Err(NetlistError::new(
                ErrorKind::TooLarge,
                card.name.span.clone(),
                card.name.text.clone(),
                "circuit too large",
                format!("at most {MAX_ELEMENTS} elements after subcircuit expansion"),
            ));
        }
        let idx = self.circuit.elements.len();
        if self.elem_index.insert(name.clone(), idx).is_some() {
            return Err(NetlistError::new(
                ErrorKind::DuplicateName,
                card.name.span.clone(),
                card.name.text.clone(),
                format!("element '{name}' is defined twice"),
                "element names must be unique within a (sub)circuit",
            ));
        }
        self.circuit.elements.push(Element {
            name,
            kind,
            span: card.name.span.clone(),
        });
        Ok(idx)
    }

    fn element(&mut self, card: &'a ElementCard) -> Result<()> {
        let label = card.name.text.as_str();
        let kind = match &card.body {
            ElementBody::Resistor { p, n, value, m } => {
                let mut ohms = self.value(value)?;
                if let Some(m) = m {
                    ohms /= self.positive(m, label, "m")?;
                }
                if ohms == 0.0 {
                    // ngspice 39 does the same (with a warning).
                    self.warn(&value.span, format!("{label}: resistance 0 set to 1m ohm"));
                    ohms = 1e-3;
                }
                ElementKind::Resistor {
                    p: self.node(p),
                    n: self.node(n),
                    ohms,
                }
            }
            ElementBody::Capacitor { p, n, value, ic, m } => {
                let mut farads = self.value(value)?;
                if let Some(m) = m {
                    farads *= self.positive(m, label, "m")?;
                }
                let ic = match ic {
                    Some(v) => Some(self.value(v)?),
                    None => None,
                };
                ElementKind::Capacitor {
                    p: self.node(p),
                    n: self.node(n),
                    farads,
                    ic,
                }
            }
            ElementBody::Inductor { p, n, value, ic, m } => {
                let mut henries = self.value(value)?;
                if let Some(m) = m {
                    henries /= self.positive(m, label, "m")?;
                }
                if henries == 0.0 {
                    return Err(bad_value(
                        value,
                        &format!("{label}: inductance must not be 0"),
                    ));
                }
                let ic = match ic {
                    Some(v) => Some(self.value(v)?),
                    None => None,
                };
                ElementKind::Inductor {
                    p: self.node(p),
                    n: self.node(n),
                    henries,
                    ic,
                }
            }
            ElementBody::Source {
                current,
                p,
                n,
                dc,
                func,
            } => {
                let wave = self.waveform(card, dc.as_ref(), func.as_ref())?;
                let (p, n) = (self.node(p), self.node(n));
                if *current {
                    ElementKind::CurrentSource { p, n, wave }
                } else {
                    ElementKind::VoltageSource { p, n, wave }
                }
            }
            ElementBody::LinearVc {
                current,
                p,
                n,
                cp,
                cn,
                gain,
            } => {
                let g = self.value(gain)?;
                let (p, n, cp, cn) = (self.node(p), self.node(n), self.node(cp), self.node(cn));
                if *current {
                    ElementKind::Vccs {
                        p,
                        n,
                        cp,
                        cn,
                        gm: g,
                    }
                } else {
                    ElementKind::Vcvs {
                        p,
                        n,
                        cp,
                        cn,
                        gain: g,
                    }
                }
            }
            ElementBody::LinearCc {
                current,
                p,
                n,
                control,
                gain,
            } => {
                let g = self.value(gain)?;
                let (p, n) = (self.node(p), self.node(n));
                let kind = if *current {
                    ElementKind::Cccs {
                        p,
                        n,
                        control: usize::MAX,
                        gain: g,
                    }
                } else {
                    ElementKind::Ccvs {
                        p,
                        n,
                        control: usize::MAX,
                        ohms: g,
                    }
                };
                let target = self.flat_element_name(&control.text);
                let idx = self.push_element(card, kind)?;
                self.control_refs.push(ElemRef {
                    elem: idx,
                    target,
                    span: control.span.clone(),
                    text: control.text.clone(),
                });
                return Ok(());
            }
            ElementBody::Behavioral {
                current,
                p,
                n,
                expr,
            } => {
                let level = self.level();
                let e = self
                    .resolve(&expr.expr, expr, level, true, 0)?
                    .fold_constants();
                let has_refs = contains_current_ref(&e);
                let (p, n) = (self.node(p), self.node(n));
                let kind = if *current {
                    ElementKind::BehavioralCurrent { p, n, expr: e }
                } else {
                    ElementKind::BehavioralVoltage { p, n, expr: e }
                };
                let idx = self.push_element(card, kind)?;
                if has_refs {
                    self.expr_refs.push((idx, expr.span.clone()));
                }
                return Ok(());
            }
            ElementBody::Instance {
                nodes,
                subckt,
                params,
            } => return self.instance(card, nodes, subckt, params),
            ElementBody::Array { ports, model } => {
                let model = self.model(model)?;
                let mut out = Vec::with_capacity(ports.len());
                for port in ports {
                    out.push(match port {
                        crate::parse::ast::Port::Scalar(n) => Port::Scalar(self.node(n)),
                        crate::parse::ast::Port::Vector(v) => {
                            Port::Vector(v.iter().map(|n| self.node(n)).collect())
                        }
                    });
                }
                ElementKind::Array { ports: out, model }
            }
        };
        self.push_element(card, kind)?;
        Ok(())
    }

    fn positive(&mut self, v: &Value, label: &str, what: &str) -> Result<f64> {
        let x = self.value(v)?;
        if x > 0.0 {
            Ok(x)
        } else {
            Err(bad_value(v, &format!("{label}: {what} must be positive")))
        }
    }

    fn model(&mut self, name: &Name) -> Result<Model> {
        let level = self.level();
        let Some(card) = (0..=level)
            .rev()
            .find_map(|k| self.scopes[k].models.get(&name.text).copied())
        else {
            return Err(NetlistError::new(
                ErrorKind::UndefinedModel,
                name.span.clone(),
                name.text.clone(),
                format!("undefined model '{}'", name.text),
                "define it with .model NAME TYPE(param=value …), or .include the library \
                 that holds it",
            ));
        };
        self.model_from_card(card, level)
    }

    fn model_from_card(&mut self, card: &ModelCard, level: usize) -> Result<Model> {
        let mut params = BTreeMap::new();
        for (k, v) in &card.params {
            let pv = match v {
                ModelValue::Expr(v) => ParamValue::Num(self.eval(v, level)?),
                ModelValue::Str(s) => ParamValue::Str(s.clone()),
                ModelValue::Vec(vs) => {
                    let mut out = Vec::with_capacity(vs.len());
                    for v in vs {
                        out.push(self.eval(v, level)?);
                    }
                    ParamValue::Vec(out)
                }
            };
            params.insert(k.text.clone(), pv);
        }
        Ok(Model {
            name: card.name.text.clone(),
            kind: card.kind.clone(),
            params,
            span: card.span.clone(),
        })
    }

    fn waveform(
        &mut self,
        card: &ElementCard,
        dc: Option<&Value>,
        func: Option<&SourceFn>,
    ) -> Result<Waveform> {
        let label = card.name.text.as_str();
        if let Some(SourceFn::TrNoise(vals)) = func {
            return self.trnoise(card, dc, vals);
        }
        if let (Some(dc), Some(_)) = (dc, func) {
            // ngspice uses the DC value for a standalone .op, the function for .tran.
            self.warn(
                &dc.span,
                format!("{label}: DC value ignored; the transient function gives the value at t=0"),
            );
        }
        let Some(func) = func else {
            return Ok(Waveform::Dc(match dc {
                Some(v) => self.value(v)?,
                None => {
                    self.warn(&card.name.span, format!("{label}: no value given, using 0"));
                    0.0
                }
            }));
        };
        // ngspice: a missing or zero TR, TF is tstep; PW, PER is tstop; SIN FREQ is 1/tstop.
        // Without .tran only the value at t = 0 matters; 1 s avoids zero divisions.
        let (tstep, tstop) = if self.tstop > 0.0 {
            (self.tstep, self.tstop)
        } else {
            (1.0, 1.0)
        };
        let args = |el: &mut Self, vals: &[Value]| -> Result<Vec<f64>> {
            vals.iter().map(|v| el.value(v)).collect()
        };
        let arity = |n: usize, lo: usize, hi: usize, what: &str| -> Result<()> {
            if n < lo || n > hi {
                Err(NetlistError::new(
                    ErrorKind::Syntax,
                    card.name.span.clone(),
                    label.to_string(),
                    format!("{label}: {what} takes {lo} to {hi} values, found {n}"),
                    match what {
                        "PULSE" => "PULSE(v1 v2 [td [tr [tf [pw [per [np]]]]]])",
                        "SIN" => "SIN(vo va [freq [td [theta [phase]]]])",
                        _ => "PWL(t1 v1 t2 v2 …)",
                    },
                ))
            } else {
                Ok(())
            }
        };
        let or = |x: Option<&f64>, default: f64| match x {
            Some(&v) if v != 0.0 => v,
            _ => default,
        };
        Ok(match func {
            SourceFn::Pulse(vals) => {
                arity(vals.len(), 2, 8, "PULSE")?;
                let a = args(self, vals)?;
                let np = match a.get(7) {
                    Some(&v) if v > 0.0 => Some(v.round() as u64),
                    _ => None,
                };
                Waveform::Pulse {
                    v1: a[0],
                    v2: a[1],
                    td: a.get(2).copied().unwrap_or(0.0),
                    tr: or(a.get(3), tstep),
                    tf: or(a.get(4), tstep),
                    pw: or(a.get(5), tstop),
                    per: or(a.get(6), tstop),
                    np,
                }
            }
            SourceFn::Sin(vals) => {
                arity(vals.len(), 2, 6, "SIN")?;
                let a = args(self, vals)?;
                Waveform::Sin {
                    vo: a[0],
                    va: a[1],
                    freq: or(a.get(2), 1.0 / tstop),
                    td: a.get(3).copied().unwrap_or(0.0),
                    theta: a.get(4).copied().unwrap_or(0.0),
                    phase_deg: a.get(5).copied().unwrap_or(0.0),
                }
            }
            SourceFn::TrNoise(_) => unreachable!("handled above"),
            SourceFn::Pwl { points, td } => {
                if points.len() < 2 || points.len() % 2 != 0 {
                    return Err(NetlistError::new(
                        ErrorKind::Syntax,
                        card.name.span.clone(),
                        label.to_string(),
                        format!(
                            "{label}: PWL needs pairs of time and value, found {} numbers",
                            points.len()
                        ),
                        "PWL(t1 v1 t2 v2 …)",
                    ));
                }
                let shift = match td {
                    Some(v) => self.value(v)?,
                    None => 0.0,
                };
                let a = args(self, points)?;
                let mut pts: Vec<(f64, f64)> = a.chunks(2).map(|c| (c[0] + shift, c[1])).collect();
                for i in 1..pts.len() {
                    if pts[i].0 < pts[i - 1].0 {
                        return Err(bad_value(
                            &points[2 * i],
                            &format!("{label}: PWL times must not decrease"),
                        ));
                    }
                    if pts[i].0 == pts[i - 1].0 {
                        self.warn(
                            &points[2 * i].span,
                            format!("{label}: repeated PWL time point (a jump, as in ngspice)"),
                        );
                    }
                }
                pts.shrink_to_fit();
                Waveform::Pwl(pts)
            }
        })
    }

    /// TRNOISE(na nt [nalpha [namp [rtsam [rtscapt [rtsemt]]]]]) with the DC value added, as
    /// ngspice does. White noise only: 1/f (namp) and RTS (rtsam) amplitudes must be 0.
    fn trnoise(
        &mut self,
        card: &ElementCard,
        dc: Option<&Value>,
        vals: &[Value],
    ) -> Result<Waveform> {
        let label = card.name.text.as_str();
        if vals.len() < 2 || vals.len() > 7 {
            return Err(NetlistError::new(
                ErrorKind::Syntax,
                card.name.span.clone(),
                label.to_string(),
                format!("{label}: TRNOISE takes 2 to 7 values, found {}", vals.len()),
                "TRNOISE(na nt [nalpha namp]): rms amplitude (V or A) and sample step (s)",
            ));
        }
        let dc = match dc {
            Some(v) => self.value(v)?,
            None => 0.0,
        };
        let a: Vec<f64> = vals.iter().map(|v| self.value(v)).collect::<Result<_>>()?;
        let (na, nt) = (a[0], a[1]);
        if !(na.is_finite() && na >= 0.0) {
            return Err(bad_value(
                &vals[0],
                &format!("{label}: TRNOISE amplitude na must be >= 0"),
            ));
        }
        if !(nt.is_finite() && nt >= 0.0) {
            return Err(bad_value(
                &vals[1],
                &format!("{label}: TRNOISE step nt must be >= 0"),
            ));
        }
        if let Some(alpha) = a.get(2)
            && !(alpha.is_finite() && (0.0..=2.0).contains(alpha))
        {
            return Err(bad_value(
                &vals[2],
                &format!("{label}: TRNOISE nalpha must be in [0, 2]"),
            ));
        }
        for (i, what) in [(3, "1/f noise (namp)"), (4, "RTS noise (rtsam)")] {
            if a.get(i).is_some_and(|&x| x != 0.0) {
                return Err(NetlistError::new(
                    ErrorKind::Unsupported,
                    vals[i].span.clone(),
                    vals[i].text.clone(),
                    format!("{label}: TRNOISE {what} is not supported"),
                    "only white noise: TRNOISE(na nt) or with namp = 0 and rtsam = 0",
                ));
            }
        }
        if na == 0.0 || nt == 0.0 {
            if na > 0.0 {
                self.warn(
                    &vals[1].span,
                    format!("{label}: TRNOISE with nt = 0 gives no noise (as in ngspice)"),
                );
            }
            return Ok(Waveform::Dc(dc));
        }
        let seed = self
            .circuit
            .options
            .seed
            .unwrap_or(crate::noise::DEFAULT_SEED);
        let name = self.flat_element_name(label);
        Ok(Waveform::TrNoise(crate::noise::TrNoise::new(
            dc, na, nt, seed, &name, self.tstop,
        )))
    }

    fn instance(
        &mut self,
        card: &'a ElementCard,
        nodes: &'a [Name],
        subckt: &'a Name,
        params: &'a [(Name, Value)],
    ) -> Result<()> {
        let level = self.level();
        let Some(def) = (0..=level)
            .rev()
            .find_map(|k| self.scopes[k].subckts.get(&subckt.text).copied())
        else {
            return Err(NetlistError::new(
                ErrorKind::UndefinedSubckt,
                subckt.span.clone(),
                subckt.text.clone(),
                format!("undefined subcircuit '{}'", subckt.text),
                "define it with .subckt NAME nodes … .ends, or .include the file that holds it; \
                 the last word before the parameters is the subcircuit name",
            ));
        };
        if self
            .scopes
            .iter()
            .any(|s| s.def.is_some_and(|d| std::ptr::eq(d, def)))
        {
            let chain: Vec<&str> = self
                .scopes
                .iter()
                .filter_map(|s| s.def.map(|d| d.name.text.as_str()))
                .chain(std::iter::once(def.name.text.as_str()))
                .collect();
            return Err(NetlistError::new(
                ErrorKind::RecursiveSubckt,
                subckt.span.clone(),
                subckt.text.clone(),
                format!(
                    "subcircuit '{}' instantiates itself: {}",
                    def.name.text,
                    chain.join(" -> ")
                ),
                "a subcircuit must not contain an instance of itself, directly or indirectly",
            ));
        }
        if self.scopes.len() > MAX_DEPTH {
            return Err(NetlistError::new(
                ErrorKind::TooLarge,
                card.name.span.clone(),
                card.name.text.clone(),
                "subcircuits nested too deeply",
                format!("at most {MAX_DEPTH} levels of subcircuit instances"),
            ));
        }
        if nodes.len() != def.ports.len() {
            let kind = if nodes.len() < def.ports.len() {
                ErrorKind::MissingNode
            } else {
                ErrorKind::Syntax
            };
            return Err(NetlistError::new(
                kind,
                card.name.span.clone(),
                card.name.text.clone(),
                format!(
                    "{}: subcircuit '{}' has {} nodes ({}), instance gives {}",
                    card.name.text,
                    def.name.text,
                    def.ports.len(),
                    def.ports
                        .iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    nodes.len()
                ),
                "give one node per subcircuit port, then the subcircuit name",
            ));
        }
        let outer: Vec<NodeId> = nodes.iter().map(|n| self.node(n)).collect();
        let mut overrides = Vec::with_capacity(params.len());
        for (k, v) in params {
            if !def.params.iter().any(|(d, _)| d.text == k.text) {
                return Err(NetlistError::new(
                    ErrorKind::UndefinedParam,
                    k.span.clone(),
                    k.text.clone(),
                    format!(
                        "subcircuit '{}' has no parameter '{}'",
                        def.name.text, k.text
                    ),
                    format!(
                        "its parameters: {}",
                        def.params
                            .iter()
                            .map(|(d, _)| d.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ));
            }
            overrides.push((k.text.clone(), self.eval(v, level)?));
        }
        let parent_path = &self.scopes[level].path;
        let path = if parent_path.is_empty() {
            card.name.text.clone()
        } else {
            format!("{parent_path}.{}", card.name.text)
        };
        let mut scope = Scope::new(path, Some(def));
        for (port, id) in def.ports.iter().zip(outer) {
            scope.ports.insert(port.text.clone(), id);
        }
        for (k, v) in &def.params {
            scope.params.insert(k.text.clone(), Slot::Pending(v));
        }
        for (k, v) in overrides {
            scope.params.insert(k, Slot::Done(v));
        }
        self.scopes.push(scope);
        let result = self
            .declare(&def.items)
            .and_then(|_| self.instantiate(&def.items));
        self.scopes.pop();
        result
    }

    // ---- after expansion ---------------------------------------------------------------

    fn resolve_references(&mut self) -> Result<()> {
        let refs = std::mem::take(&mut self.control_refs);
        for r in refs {
            let idx = self.branch_element(&r.target, &r.span, &r.text)?;
            match &mut self.circuit.elements[r.elem].kind {
                ElementKind::Cccs { control, .. } | ElementKind::Ccvs { control, .. } => {
                    *control = idx
                }
                _ => unreachable!("control references are recorded for F/H only"),
            }
        }
        let refs = std::mem::take(&mut self.expr_refs);
        for (elem, span) in refs {
            let mut expr = match &mut self.circuit.elements[elem].kind {
                ElementKind::BehavioralCurrent { expr, .. }
                | ElementKind::BehavioralVoltage { expr, .. } => {
                    std::mem::replace(expr, Expr::Time)
                }
                _ => unreachable!("expression references are recorded for B sources only"),
            };
            self.resolve_current_refs(&mut expr, &span)?;
            match &mut self.circuit.elements[elem].kind {
                ElementKind::BehavioralCurrent { expr: e, .. }
                | ElementKind::BehavioralVoltage { expr: e, .. } => *e = expr,
                _ => {}
            }
        }
        Ok(())
    }

    fn resolve_current_refs(&self, e: &mut Expr, span: &Span) -> Result<()> {
        match e {
            Expr::CurrentRef(name) => {
                let idx = self.branch_element(name, span, name)?;
                *e = Expr::BranchI(idx);
            }
            Expr::Unary(_, a) => self.resolve_current_refs(a, span)?,
            Expr::Binary(_, a, b) => {
                self.resolve_current_refs(a, span)?;
                self.resolve_current_refs(b, span)?;
            }
            Expr::Call(_, args) => {
                for a in args {
                    self.resolve_current_refs(a, span)?;
                }
            }
            Expr::Ternary(c, a, b) => {
                self.resolve_current_refs(c, span)?;
                self.resolve_current_refs(a, span)?;
                self.resolve_current_refs(b, span)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Index of the element named `flat` that carries a branch current.
    fn branch_element(&self, flat: &str, span: &Span, text: &str) -> Result<usize> {
        let Some(&idx) = self.elem_index.get(flat) else {
            return Err(NetlistError::new(
                ErrorKind::UndefinedElement,
                span.clone(),
                text.to_string(),
                format!("no element '{flat}' to take the current of"),
                "name a voltage source (a 0 V source works as an ammeter)",
            ));
        };
        if !has_branch(&self.circuit.elements[idx].kind) {
            return Err(NetlistError::new(
                ErrorKind::UndefinedElement,
                span.clone(),
                text.to_string(),
                format!("element '{flat}' has no branch current"),
                "currents can be taken of V, E, H, L and B V= elements; put a 0 V source in \
                 series to measure others",
            ));
        }
        Ok(idx)
    }

    /// `.ic`, `.save`, `.learn`, top-level models.
    fn finish_top_level(&mut self, items: &'a [Item]) -> Result<()> {
        let ics = std::mem::take(&mut self.ics);
        for (r, v, name) in ics {
            let id = match r {
                NodeRef::Known(id) => Some(id),
                NodeRef::Flat(s) => self.node_index.get(&s).copied(),
            };
            let Some(id) = id else {
                return Err(unknown_node(&name));
            };
            if id.is_ground() {
                self.warn(&name.span, ".ic on the ground node is ignored");
                continue;
            }
            self.circuit.ics.push((id, v));
        }
        for item in items {
            match item {
                Item::Save(list) => {
                    for s in list {
                        let save = match s {
                            SaveItem::All(_) => Save::All,
                            SaveItem::Node(n) => match self.node_index.get(&n.text) {
                                Some(&id) => Save::Node(id),
                                None if is_ground(&n.text) => Save::Node(NodeId::GROUND),
                                None => return Err(unknown_node(n)),
                            },
                            SaveItem::Current(n) => {
                                Save::Branch(self.branch_element(&n.text, &n.span, &n.text)?)
                            }
                        };
                        self.circuit.saves.push(save);
                    }
                }
                Item::Control { name, args, span } => {
                    let mut out = BTreeMap::new();
                    for (k, v) in args {
                        let pv = match v {
                            ModelValue::Expr(v) => ParamValue::Num(self.eval(v, 0)?),
                            ModelValue::Str(s) => ParamValue::Str(s.clone()),
                            ModelValue::Vec(vs) => {
                                let mut x = Vec::with_capacity(vs.len());
                                for v in vs {
                                    x.push(self.eval(v, 0)?);
                                }
                                ParamValue::Vec(x)
                            }
                        };
                        out.insert(k.text.clone(), pv);
                    }
                    self.circuit.controls.push(ControlCard {
                        name: name.clone(),
                        args: out,
                        span: span.clone(),
                    });
                }
                Item::Model(card) => {
                    let m = self.model_from_card(card, 0)?;
                    self.circuit.models.push(m);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn contains_current_ref(e: &Expr) -> bool {
    match e {
        Expr::CurrentRef(_) => true,
        Expr::Unary(_, a) => contains_current_ref(a),
        Expr::Binary(_, a, b) => contains_current_ref(a) || contains_current_ref(b),
        Expr::Call(_, args) => args.iter().any(contains_current_ref),
        Expr::Ternary(c, a, b) => {
            contains_current_ref(c) || contains_current_ref(a) || contains_current_ref(b)
        }
        _ => false,
    }
}

fn bad_value(v: &Value, message: &str) -> NetlistError {
    let hint = if message.contains("PWL") {
        "PWL(t1 v1 t2 v2 …) needs non-decreasing times"
    } else if message.contains(".tran") {
        "write .tran tstep tstop [tstart [tmax]] [uic] with 0 <= tstart < tstop"
    } else {
        "check the value"
    };
    NetlistError::new(
        ErrorKind::BadValue,
        v.span.clone(),
        v.text.clone(),
        message.to_string(),
        hint,
    )
}

fn unknown_node(n: &Name) -> NetlistError {
    NetlistError::new(
        ErrorKind::UnknownNode,
        n.span.clone(),
        n.text.clone(),
        format!("unknown node '{}'", n.text),
        "nodes inside subcircuits are written x1.node; check the spelling",
    )
}
