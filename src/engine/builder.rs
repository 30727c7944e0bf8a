//! Builds flat circuits in Rust (tests, benchmarks, generated networks) without a netlist.

use crate::circuit::{Analysis, Circuit, Element, ElementKind, NodeId, Options, Waveform};
use crate::expr::Expr;
use crate::span::Span;

/// Incremental builder of a [`Circuit`]; nodes are named on first use (`"0"` is ground).
#[derive(Debug, Clone)]
pub struct CircuitBuilder {
    pub circuit: Circuit,
}

impl Default for CircuitBuilder {
    fn default() -> Self {
        Self::new("built in rust")
    }
}

impl CircuitBuilder {
    pub fn new(title: &str) -> Self {
        CircuitBuilder {
            circuit: Circuit {
                title: title.to_string(),
                nodes: vec!["0".to_string()],
                options: Options::default(),
                ..Circuit::default()
            },
        }
    }

    /// The node called `name` (created if new; `0` and `gnd` are ground).
    pub fn node(&mut self, name: &str) -> NodeId {
        let name = name.to_ascii_lowercase();
        if name == "0" || name == "gnd" {
            return NodeId::GROUND;
        }
        match self.circuit.find_node(&name) {
            Some(id) => id,
            None => {
                self.circuit.nodes.push(name);
                NodeId(self.circuit.nodes.len() - 1)
            }
        }
    }

    /// Adds an element; returns its index.
    pub fn element(&mut self, name: &str, kind: ElementKind) -> usize {
        self.circuit.elements.push(Element {
            name: name.to_ascii_lowercase(),
            kind,
            span: Span::default(),
        });
        self.circuit.elements.len() - 1
    }

    pub fn r(&mut self, name: &str, p: &str, n: &str, ohms: f64) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::Resistor { p, n, ohms })
    }
    pub fn c(&mut self, name: &str, p: &str, n: &str, farads: f64, ic: Option<f64>) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::Capacitor { p, n, farads, ic })
    }
    pub fn l(&mut self, name: &str, p: &str, n: &str, henries: f64, ic: Option<f64>) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::Inductor { p, n, henries, ic })
    }
    pub fn v(&mut self, name: &str, p: &str, n: &str, wave: Waveform) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::VoltageSource { p, n, wave })
    }
    pub fn i(&mut self, name: &str, p: &str, n: &str, wave: Waveform) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::CurrentSource { p, n, wave })
    }
    pub fn e(&mut self, name: &str, p: &str, n: &str, cp: &str, cn: &str, gain: f64) -> usize {
        let (p, n, cp, cn) = (self.node(p), self.node(n), self.node(cp), self.node(cn));
        self.element(name, ElementKind::Vcvs { p, n, cp, cn, gain })
    }
    pub fn g(&mut self, name: &str, p: &str, n: &str, cp: &str, cn: &str, gm: f64) -> usize {
        let (p, n, cp, cn) = (self.node(p), self.node(n), self.node(cp), self.node(cn));
        self.element(name, ElementKind::Vccs { p, n, cp, cn, gm })
    }
    /// F source controlled by the branch current of element `control`.
    pub fn f(&mut self, name: &str, p: &str, n: &str, control: usize, gain: f64) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(
            name,
            ElementKind::Cccs {
                p,
                n,
                control,
                gain,
            },
        )
    }
    /// H source controlled by the branch current of element `control`.
    pub fn h(&mut self, name: &str, p: &str, n: &str, control: usize, ohms: f64) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(
            name,
            ElementKind::Ccvs {
                p,
                n,
                control,
                ohms,
            },
        )
    }
    pub fn bv(&mut self, name: &str, p: &str, n: &str, expr: Expr) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::BehavioralVoltage { p, n, expr })
    }
    pub fn bi(&mut self, name: &str, p: &str, n: &str, expr: Expr) -> usize {
        let (p, n) = (self.node(p), self.node(n));
        self.element(name, ElementKind::BehavioralCurrent { p, n, expr })
    }

    /// `v(name)` as a resolved expression.
    pub fn vref(&mut self, name: &str) -> Expr {
        Expr::NodeV(self.node(name))
    }

    pub fn tran(&mut self, tstep: f64, tstop: f64) -> &mut Self {
        self.circuit.analyses.push(Analysis::Tran {
            tstep,
            tstop,
            tstart: 0.0,
            tmax: None,
            uic: false,
        });
        self
    }

    pub fn build(&self) -> Circuit {
        self.circuit.clone()
    }
}
