//! The flat circuit: what the elaborator hands to the engine.
//!
//! Everything here is in SI units (volts, amperes, ohms, farads, henries, seconds).
//! Subcircuits are expanded, parameters evaluated, names lower-cased and made
//! hierarchical the way ngspice prints them (node `x1.n3`, element `r.x1.r1`... see
//! `Element::name`).

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::span::Span;

/// Index of a node; 0 is ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

impl NodeId {
    pub const GROUND: NodeId = NodeId(0);
    pub fn is_ground(self) -> bool {
        self.0 == 0
    }
}

/// Independent source waveform (values in volts or amperes, times in seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Waveform {
    Dc(f64),
    /// PULSE(v1 v2 td tr tf pw per [np]); defaults already filled in as ngspice does
    /// (tr, tf default to tstep, pw and per to tstop).
    Pulse {
        v1: f64,
        v2: f64,
        td: f64,
        tr: f64,
        tf: f64,
        pw: f64,
        per: f64,
        np: Option<u64>,
    },
    /// PWL(t1 v1 t2 v2 …), times non-decreasing after elaboration; a repeated time is a
    /// jump, as in ngspice (the value at that time is the earlier point's).
    Pwl(Vec<(f64, f64)>),
    /// SIN(vo va freq td theta phase_deg)
    Sin {
        vo: f64,
        va: f64,
        freq: f64,
        td: f64,
        theta: f64,
        phase_deg: f64,
    },
    /// TRNOISE(NA NT): DC plus white Gaussian samples every NT, interpolated linearly
    /// (see `crate::noise`).
    TrNoise(crate::noise::TrNoise),
}

/// A `.model` card, carried as written (lower-cased names).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    /// device type as written after the name, e.g. `crossbar`, `d`, `opamp`.
    pub kind: String,
    pub params: BTreeMap<String, ParamValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Num(f64),
    Str(String),
    /// vector parameter `[a b c]`
    Vec(Vec<f64>),
}

/// One port of an XSPICE-style `A` device: a single node or a vector `[a b c]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Port {
    Scalar(NodeId),
    Vector(Vec<NodeId>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ElementKind {
    Resistor {
        p: NodeId,
        n: NodeId,
        ohms: f64,
    },
    Capacitor {
        p: NodeId,
        n: NodeId,
        farads: f64,
        ic: Option<f64>,
    },
    Inductor {
        p: NodeId,
        n: NodeId,
        henries: f64,
        ic: Option<f64>,
    },
    /// Branch current i(V) flows from `p` through the source to `n`.
    VoltageSource {
        p: NodeId,
        n: NodeId,
        wave: Waveform,
    },
    /// Drives current from `p` through the source to `n`.
    CurrentSource {
        p: NodeId,
        n: NodeId,
        wave: Waveform,
    },
    /// E: v(p,n) = gain · v(cp,cn)
    Vcvs {
        p: NodeId,
        n: NodeId,
        cp: NodeId,
        cn: NodeId,
        gain: f64,
    },
    /// G: current gm · v(cp,cn) from p through the source to n
    Vccs {
        p: NodeId,
        n: NodeId,
        cp: NodeId,
        cn: NodeId,
        gm: f64,
    },
    /// F: current gain · i(control) from p through the source to n;
    /// `control` indexes the controlling voltage source in `Circuit::elements`.
    Cccs {
        p: NodeId,
        n: NodeId,
        control: usize,
        gain: f64,
    },
    /// H: v(p,n) = r · i(control)
    Ccvs {
        p: NodeId,
        n: NodeId,
        control: usize,
        ohms: f64,
    },
    /// B with `V=expr`
    BehavioralVoltage {
        p: NodeId,
        n: NodeId,
        expr: Expr,
    },
    /// B with `I=expr`: current from p through the source to n
    BehavioralCurrent {
        p: NodeId,
        n: NodeId,
        expr: Expr,
    },
    /// XSPICE-style array device `A… [ports…] model`
    Array {
        ports: Vec<Port>,
        model: Model,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// Lower-case flat name as ngspice prints it: top level `r1`, inside instance `x1`
    /// of a subcircuit `r.x1.r1` (ngspice 39 convention: type letter, then path).
    pub name: String,
    pub kind: ElementKind,
    /// Where the element's card was written (for the innermost instance).
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Be,
    Trap,
    Gear,
    Trbdf2,
}

/// `.options` with ngspice defaults and meanings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub reltol: f64,
    pub abstol: f64,
    pub vntol: f64,
    pub chgtol: f64,
    pub trtol: f64,
    pub method: Method,
    pub maxord: u32,
    pub gmin: f64,
    pub tmax: Option<f64>,
    /// Newton iteration limit per time point (ngspice itl4).
    pub itl4: u32,
    /// Newton iteration limit for the operating point (ngspice itl1).
    pub itl1: u32,
    pub seed: Option<u64>,
    /// Output interpolated onto the tstep grid (ngspice `interp`).
    pub interp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reltol: 1e-3,
            abstol: 1e-12,
            vntol: 1e-6,
            chgtol: 1e-14,
            trtol: 7.0,
            method: Method::Trap,
            maxord: 2,
            gmin: 1e-12,
            tmax: None,
            itl4: 10,
            itl1: 100,
            seed: None,
            interp: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Analysis {
    Op,
    Tran {
        tstep: f64,
        tstop: f64,
        tstart: f64,
        tmax: Option<f64>,
        uic: bool,
    },
}

/// A `.save` entry, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Save {
    Node(NodeId),
    /// branch current of `elements[idx]`
    Branch(usize),
    All,
}

/// A control card that a later stage interprets (e.g. `.learn key=value …`).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlCard {
    pub name: String,
    pub args: BTreeMap<String, ParamValue>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Circuit {
    /// Title line.
    pub title: String,
    /// Node names, index = NodeId; `nodes[0] == "0"` (ground).
    pub nodes: Vec<String>,
    pub elements: Vec<Element>,
    pub models: Vec<Model>,
    pub analyses: Vec<Analysis>,
    pub options: Options,
    /// `.ic v(node)=value`
    pub ics: Vec<(NodeId, f64)>,
    pub saves: Vec<Save>,
    pub controls: Vec<ControlCard>,
}

impl Circuit {
    pub fn node_name(&self, n: NodeId) -> &str {
        &self.nodes[n.0]
    }
    pub fn find_node(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|s| s == name).map(NodeId)
    }
    pub fn find_element(&self, name: &str) -> Option<usize> {
        self.elements.iter().position(|e| e.name == name)
    }
}
