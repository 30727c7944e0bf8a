//! Builds flat circuits in Rust (tests, benchmarks, generated networks) without a netlist.

use crate::circuit::{Analysis, Circuit, Element, ElementKind, NodeId, Options, Waveform};
use crate::expr::Expr;
use crate::span::Span;

/// Incremental builder of a [`Circuit`]; nodes are named on first use (`"0"` is ground).
#[derive(Debug, Clone)]
pub struct CircuitBuilder {
    pub circuit: Circuit,
    /// Node name → id (rebuilt if `circuit.nodes` was edited directly).
    index: std::collections::HashMap<String, NodeId>,
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
            index: std::collections::HashMap::new(),
        }
    }

    /// The node called `name` (created if new; `0` and `gnd` are ground).
    pub fn node(&mut self, name: &str) -> NodeId {
        let name = name.to_ascii_lowercase();
        if name == "0" || name == "gnd" {
            return NodeId::GROUND;
        }
        if self.index.len() != self.circuit.nodes.len() - 1 {
            self.index = self
                .circuit
                .nodes
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, n)| (n.clone(), NodeId(k)))
                .collect();
        }
        if let Some(&id) = self.index.get(&name) {
            return id;
        }
        self.circuit.nodes.push(name.clone());
        let id = NodeId(self.circuit.nodes.len() - 1);
        self.index.insert(name, id);
        id
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

/// Fully connected tanh leaky-integrator network in "tanh node + G coupling" form, the
/// structure of `bench/gen_network.py`: every neuron is a node with R = 10 kΩ ∥ C = 1 nF
/// to ground (τ = 10 µs), a B source writes r = tanh(v) onto its own node, one G source
/// per synapse injects w·r_prev/R. Inputs alternate SIN and PULSE sources. Weights are
/// uniform in ±2/√fan_in from a small seeded generator (not the script's Python RNG).
pub fn tanh_network(sizes: &[usize], seed: u64, tstep: f64, tstop: f64) -> Circuit {
    tanh_network_with_feedback(sizes, seed, tstep, tstop, false)
}

/// [`tanh_network`], optionally with feedback in the DFC manner: every hidden neuron also
/// receives a G coupling from every output rate (weights ±0.5/√outputs), which makes the
/// whole network one strongly connected block.
pub fn tanh_network_with_feedback(
    sizes: &[usize],
    seed: u64,
    tstep: f64,
    tstop: f64,
    feedback: bool,
) -> Circuit {
    const R: f64 = 10e3;
    const C: f64 = 1e-9;
    let gl = 1.0 / R;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = |lo: f64, hi: f64| {
        // xorshift64*: deterministic, good enough for benchmark weights
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    };
    let mut b = CircuitBuilder::new("tanh network");
    for k in 0..sizes[0] {
        let amp = uniform(0.5, 2.0);
        let wave = if k % 2 == 0 {
            Waveform::Sin {
                vo: 0.0,
                va: amp,
                freq: uniform(2e3, 20e3),
                td: uniform(0.0, 50e-6),
                theta: 0.0,
                phase_deg: 0.0,
            }
        } else {
            let s = if uniform(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 };
            Waveform::Pulse {
                v1: -s * amp,
                v2: s * amp,
                td: 50e-6,
                tr: 2e-6,
                tf: 2e-6,
                pw: 200e-6,
                per: 400e-6,
                np: None,
            }
        };
        b.v(&format!("vu{k}"), &format!("u{k}"), "0", wave);
    }
    for (l, &n) in sizes.iter().enumerate() {
        for j in 0..n {
            let node = format!("n{l}_{j}");
            b.r(&format!("r{l}_{j}"), &node, "0", R);
            b.c(&format!("c{l}_{j}"), &node, "0", C, None);
            let v = b.vref(&node);
            b.bv(
                &format!("b{l}_{j}"),
                &format!("r{l}_{j}"),
                "0",
                Expr::Call(crate::expr::Func::Tanh, vec![v]),
            );
            if l == 0 {
                b.g(&format!("gin{j}"), "0", &node, &format!("u{j}"), "0", gl);
            } else {
                let fan_in = sizes[l - 1];
                let bound = 2.0 / (fan_in as f64).sqrt();
                for k in 0..fan_in {
                    let w = uniform(-bound, bound);
                    b.g(
                        &format!("g{l}_{j}_{k}"),
                        "0",
                        &node,
                        &format!("r{}_{k}", l - 1),
                        "0",
                        w * gl,
                    );
                }
            }
        }
    }
    if feedback && sizes.len() > 2 {
        let last = sizes.len() - 1;
        let bound = 0.5 / (sizes[last] as f64).sqrt();
        for (l, &n) in sizes.iter().enumerate().take(last).skip(1) {
            for j in 0..n {
                for k in 0..sizes[last] {
                    let w = uniform(-bound, bound);
                    b.g(
                        &format!("q{l}_{j}_{k}"),
                        "0",
                        &format!("n{l}_{j}"),
                        &format!("r{last}_{k}"),
                        "0",
                        w * gl,
                    );
                }
            }
        }
    }
    b.tran(tstep, tstop);
    b.build()
}
