//! The netlist as written: cards with spans, names lower-cased, values as unevaluated
//! expressions. Subcircuit definitions hold their own cards (nested definitions nest).

use crate::expr::Expr;
use crate::span::Span;

/// A lower-cased name (node, element, model, parameter) and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A value: a number, a parameter name or an expression, not evaluated yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub expr: Expr,
    /// The text as written (for error messages).
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceFn {
    /// PULSE(v1 v2 [td [tr [tf [pw [per [np]]]]]])
    Pulse(Vec<Value>),
    /// PWL(t1 v1 …) with optional `td=` shift.
    Pwl {
        points: Vec<Value>,
        td: Option<Value>,
    },
    /// SIN(vo va [freq [td [theta [phase]]]])
    Sin(Vec<Value>),
    /// TRNOISE(na nt [nalpha [namp [rtsam [rtscapt [rtsemt]]]]])
    TrNoise(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Port {
    Scalar(Name),
    Vector(Vec<Name>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ElementBody {
    Resistor {
        p: Name,
        n: Name,
        value: Value,
        m: Option<Value>,
    },
    Capacitor {
        p: Name,
        n: Name,
        value: Value,
        ic: Option<Value>,
        m: Option<Value>,
    },
    Inductor {
        p: Name,
        n: Name,
        value: Value,
        ic: Option<Value>,
        m: Option<Value>,
    },
    Source {
        current: bool,
        p: Name,
        n: Name,
        dc: Option<Value>,
        func: Option<SourceFn>,
    },
    /// E (`current == false`) or G.
    LinearVc {
        current: bool,
        p: Name,
        n: Name,
        cp: Name,
        cn: Name,
        gain: Value,
    },
    /// H (`current == false`) or F.
    LinearCc {
        current: bool,
        p: Name,
        n: Name,
        control: Name,
        gain: Value,
    },
    /// B `V=`/`I=`, and E/G `VALUE=`.
    Behavioral {
        current: bool,
        p: Name,
        n: Name,
        expr: Value,
    },
    Instance {
        nodes: Vec<Name>,
        subckt: Name,
        params: Vec<(Name, Value)>,
    },
    Array {
        ports: Vec<Port>,
        model: Name,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ElementCard {
    /// Lower-cased name as written, e.g. `r1`.
    pub name: Name,
    pub body: ElementBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelValue {
    Expr(Value),
    Str(String),
    Vec(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    pub name: Name,
    pub kind: String,
    pub params: Vec<(Name, ModelValue)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubcktDef {
    pub name: Name,
    pub ports: Vec<Name>,
    /// Default parameters (`params: k=v`).
    pub params: Vec<(Name, Value)>,
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SaveItem {
    All(Span),
    Node(Name),
    Current(Name),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Element(ElementCard),
    Param(Vec<(Name, Value)>),
    Subckt(SubcktDef),
    Model(ModelCard),
    Ic(Vec<(Name, Value)>),
    /// `.options`: name and optional value (words kept as strings).
    Options(Vec<(Name, Option<ModelValue>)>),
    Op(Span),
    Tran {
        tstep: Value,
        tstop: Value,
        tstart: Option<Value>,
        tmax: Option<Value>,
        uic: bool,
        span: Span,
    },
    Save(Vec<SaveItem>),
    /// A control card such as `.learn key=value …`.
    Control {
        name: String,
        args: Vec<(Name, ModelValue)>,
        span: Span,
    },
    Global(Vec<Name>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub span: Span,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.span, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Netlist {
    pub title: String,
    pub items: Vec<Item>,
    pub warnings: Vec<Warning>,
}
