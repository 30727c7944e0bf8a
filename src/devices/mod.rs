//! Circuit devices: each knows its pins, its matrix positions and its stamps.
//!
//! Life of a device (see `Device`): `setup` asks the `SlotBuilder` for the Jacobian
//! positions it will touch (called twice: once to record the pattern, once to resolve
//! positions); `load` writes residual and Jacobian values into those positions once per
//! Newton iteration. The residual is `f(x)`: for a node row, the sum of currents leaving
//! the node through the device (amperes); for a branch row, the branch constraint (volts).
//!
//! Ground is not an unknown: its index is `Layout::n` (the "trash" row/column). `x[n]`
//! is always 0, `f[n]` and `jac[trash]` are never read, so stamps into ground need no test.
//!
//! Charge-like quantities (capacitor charge, inductor flux) are handed to `Charges::integrate`,
//! which returns the companion current and conductance: no device knows the integration
//! method.

pub mod array;
pub mod behavioral;
pub mod capacitor;
pub mod cccs;
pub mod ccvs;
pub mod current_source;
pub mod inductor;
pub mod resistor;
pub mod source;
pub mod vccs;
pub mod vcvs;
pub mod voltage_source;

use crate::circuit::{Circuit, ElementKind, NodeId};

pub use array::{ArrayFactory, ArrayRegistry, InternalFn};
pub use behavioral::{BehavioralCurrent, BehavioralVoltage, Tape};
pub use capacitor::Capacitor;
pub use cccs::Cccs;
pub use ccvs::Ccvs;
pub use current_source::CurrentSource;
pub use inductor::Inductor;
pub use resistor::Resistor;
pub use vccs::Vccs;
pub use vcvs::Vcvs;
pub use voltage_source::VoltageSource;

/// Errors found while turning elements into devices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "element `{element}`: array model kind `{kind}` (model `{model}`) is not known to the simulator"
    )]
    UnknownArrayModel {
        element: String,
        model: String,
        kind: String,
    },
    #[error("element `{element}`: {message}")]
    Invalid { element: String, message: String },
}

/// Internal unknowns an array device asks for, by name suffix (`s_3` becomes `an1#s_3`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InternalUnknowns {
    /// Node-like unknowns (volts): internal nodes such as op-amp summing nodes.
    pub nodes: Vec<String>,
    /// Branch-like unknowns (amperes): currents of internal voltage sources.
    pub branches: Vec<String>,
}

/// Where one array element's internal unknowns sit.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalRange {
    /// Element index in the circuit.
    pub element: usize,
    /// Unknown indices of the internal nodes (inside `Layout::n_nodes`).
    pub nodes: std::ops::Range<usize>,
    /// Unknown indices of the internal branches (after the elements' branches).
    pub branches: std::ops::Range<usize>,
    names: InternalUnknowns,
}

/// Where the unknowns are: circuit nodes first (node k ↦ k−1), then internal nodes of
/// array devices, then branch currents of elements, then internal branches.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Number of non-ground node-like unknowns (circuit nodes + internal nodes).
    pub n_nodes: usize,
    /// Number of non-ground circuit nodes (the internal nodes follow them).
    pub n_circuit_nodes: usize,
    /// Total number of unknowns; also the index of ground (the trash row).
    pub n: usize,
    /// Branch unknown of each element (V, E, H, L, B with V=), by element index.
    pub branch_of: Vec<Option<usize>>,
    /// For each unknown: the element owning the branch (None for nodes).
    pub branch_owner: Vec<Option<usize>>,
    /// Internal unknowns of array elements, in element order.
    pub internal: Vec<InternalRange>,
    /// Element names (for internal unknown names).
    element_names: Vec<String>,
}

impl Layout {
    /// Layout without internal unknowns.
    pub fn new(circuit: &Circuit) -> Layout {
        Self::with_internal(circuit, |_| Ok::<_, std::convert::Infallible>(None))
            .unwrap_or_else(|e| match e {})
    }

    /// Layout with the internal unknowns `ask` returns for each element (`None`: none).
    pub fn with_internal<E>(
        circuit: &Circuit,
        mut ask: impl FnMut(&crate::circuit::Element) -> Result<Option<InternalUnknowns>, E>,
    ) -> Result<Layout, E> {
        let n_circuit_nodes = circuit.nodes.len().saturating_sub(1);
        let mut asked = Vec::new();
        for (k, e) in circuit.elements.iter().enumerate() {
            if let Some(iu) = ask(e)? {
                asked.push((k, iu));
            }
        }
        let mut n = n_circuit_nodes;
        let mut internal = Vec::with_capacity(asked.len());
        for (k, iu) in asked {
            let start = n;
            n += iu.nodes.len();
            internal.push(InternalRange {
                element: k,
                nodes: start..n,
                branches: 0..0,
                names: iu,
            });
        }
        let n_nodes = n;
        let mut branch_of = Vec::with_capacity(circuit.elements.len());
        let mut branch_owner = vec![None; n_nodes];
        for (k, e) in circuit.elements.iter().enumerate() {
            let has_branch = matches!(
                e.kind,
                ElementKind::VoltageSource { .. }
                    | ElementKind::Vcvs { .. }
                    | ElementKind::Ccvs { .. }
                    | ElementKind::Inductor { .. }
                    | ElementKind::BehavioralVoltage { .. }
            );
            if has_branch {
                branch_of.push(Some(n));
                branch_owner.push(Some(k));
                n += 1;
            } else {
                branch_of.push(None);
            }
        }
        for r in internal.iter_mut() {
            let start = n;
            n += r.names.branches.len();
            r.branches = start..n;
            branch_owner.extend(std::iter::repeat_n(Some(r.element), r.branches.len()));
        }
        Ok(Layout {
            n_nodes,
            n_circuit_nodes,
            n,
            branch_of,
            branch_owner,
            internal,
            element_names: circuit.elements.iter().map(|e| e.name.clone()).collect(),
        })
    }

    /// Unknown index of a node; ground maps to the trash index `n`.
    #[inline]
    pub fn node(&self, id: NodeId) -> usize {
        if id.is_ground() { self.n } else { id.0 - 1 }
    }

    /// Name of element `k` (empty when out of range).
    pub fn element_name(&self, k: usize) -> &str {
        self.element_names.get(k).map(String::as_str).unwrap_or("")
    }

    /// Internal unknowns of element `element` (index), if it asked for any.
    pub fn internal_of(&self, element: usize) -> Option<&InternalRange> {
        self.internal.iter().find(|r| r.element == element)
    }

    /// Human name of an unknown: the node name, `i(elem)` for a branch, `elem#suffix` /
    /// `i(elem#suffix)` for internal unknowns of array devices.
    pub fn unknown_name(&self, circuit: &Circuit, k: usize) -> String {
        if k < self.n_circuit_nodes {
            return circuit.nodes[k + 1].clone();
        }
        for r in &self.internal {
            let elem = &self.element_names[r.element];
            if r.nodes.contains(&k) {
                return format!("{elem}#{}", r.names.nodes[k - r.nodes.start]);
            }
            if r.branches.contains(&k) {
                return format!("i({elem}#{})", r.names.branches[k - r.branches.start]);
            }
        }
        if let Some(Some(e)) = self.branch_owner.get(k) {
            format!("i({})", circuit.elements[*e].name)
        } else {
            "ground".to_string()
        }
    }
}

/// Hands out Jacobian value positions. Pass 1 records (row, col) pairs; pass 2 resolves
/// them against the final pattern. Any pair touching ground gets the trash position.
#[derive(Debug)]
pub struct SlotBuilder {
    pub(crate) n: usize,
    pub(crate) pairs: Vec<(usize, usize)>,
    pub(crate) pattern: Option<crate::engine::matrix::Pattern>,
    /// Positions handed out in pass 2, in order (the engine reads them per device).
    pub(crate) handed_out: Vec<usize>,
}

impl SlotBuilder {
    /// The (row, col) pairs recorded so far (pass 1).
    pub fn pairs(&self) -> &[(usize, usize)] {
        &self.pairs
    }

    /// Position of Jacobian entry (row, col) in the value array.
    pub fn slot(&mut self, row: usize, col: usize) -> usize {
        match &self.pattern {
            None => {
                if row < self.n && col < self.n {
                    self.pairs.push((row, col));
                }
                0
            }
            Some(p) => {
                let pos = if row < self.n && col < self.n {
                    p.position(row, col)
                        .expect("slot requested in pass 2 but not in pass 1")
                } else {
                    p.nnz()
                };
                self.handed_out.push(pos);
                pos
            }
        }
    }

    /// The four positions of a two-terminal conductance stamp between `a` and `b`.
    pub fn quad(&mut self, a: usize, b: usize) -> Quad {
        Quad {
            aa: self.slot(a, a),
            ab: self.slot(a, b),
            ba: self.slot(b, a),
            bb: self.slot(b, b),
        }
    }
}

/// Positions of a conductance stamp (a, b).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quad {
    pub aa: usize,
    pub ab: usize,
    pub ba: usize,
    pub bb: usize,
}

impl Quad {
    #[inline]
    pub fn add(&self, jac: &mut [f64], g: f64) {
        jac[self.aa] += g;
        jac[self.ab] -= g;
        jac[self.ba] -= g;
        jac[self.bb] += g;
    }
}

/// Coefficients of the integration formula for the current step:
/// `i_n = ag0·q_n + c1·q_{n−1} + c2·q_{n−2} + d1·i_{n−1}` (all zero in DC).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coeffs {
    pub ag0: f64,
    pub c1: f64,
    pub c2: f64,
    pub d1: f64,
}

/// What a device needs to know about the current solve.
#[derive(Debug, Clone, Copy)]
pub struct LoadCtx {
    /// Time in seconds (0 during the operating point). A device whose `load` reads it
    /// must override [`Device::varies_before`].
    pub time: f64,
    /// Multiplies every independent source (source stepping); 1 normally.
    pub source_factor: f64,
    /// Operating point: charges are held, their currents are zero.
    pub dc: bool,
}

/// The integrator's view offered to charge/flux devices.
#[derive(Debug)]
pub struct Charges<'a> {
    pub coeffs: Coeffs,
    pub q: &'a mut [f64],
    pub i: &'a mut [f64],
    pub q1: &'a [f64],
    pub q2: &'a [f64],
    pub i1: &'a [f64],
}

impl Charges<'_> {
    /// Records charge `q` of state `s` and returns (current dq/dt, its derivative
    /// with respect to the controlling unknown given `dq_dx`).
    #[inline]
    pub fn integrate(&mut self, s: usize, q: f64, dq_dx: f64) -> (f64, f64) {
        let c = self.coeffs;
        self.q[s] = q;
        let i = c.ag0 * q + c.c1 * self.q1[s] + c.c2 * self.q2[s] + c.d1 * self.i1[s];
        self.i[s] = i;
        (i, c.ag0 * dq_dx)
    }
}

/// An array device (crossbar, neuron layer, …) behind one virtual call.
pub type BoxedDevice = Box<dyn Device + Send + Sync>;

/// Cloning through `dyn Device`: a compiled simulator is cloned per transient, so that
/// the pattern and symbolic LU are built once per netlist.
pub trait DeviceClone {
    fn clone_boxed(&self) -> BoxedDevice;
}

impl<T: Device + Clone + Send + Sync + 'static> DeviceClone for T {
    fn clone_boxed(&self) -> BoxedDevice {
        Box::new(self.clone())
    }
}

/// The one small trait every device implements.
pub trait Device: DeviceClone {
    /// Asks for the Jacobian positions this device writes (called twice, same order).
    fn setup(&mut self, slots: &mut SlotBuilder);
    /// Adds residual and Jacobian contributions at unknowns `x` (length n+1, x[n]=0).
    fn load(
        &mut self,
        x: &[f64],
        ctx: &LoadCtx,
        charges: &mut Charges,
        f: &mut [f64],
        jac: &mut [f64],
    );
    /// Number of integrated quantities (charges/fluxes) the device owns.
    fn state_count(&self) -> usize {
        0
    }
    /// Receives the index of its first state.
    fn set_state_base(&mut self, _base: usize) {}
    /// Charges at the start of a transient from the initial solution `x`; with `uic`,
    /// the element's own `IC=` takes precedence.
    fn init_charges(&self, _x: &[f64], _uic: bool, _q: &mut [f64]) {}
    /// With `uic`: writes the element's `IC=` into branch unknowns (inductor current).
    fn apply_uic(&self, _x: &mut [f64]) {}
    /// Source corners in [0, tstop] (seconds).
    fn breakpoints(&self, _tstop: f64, _out: &mut Vec<f64>) {}
    /// Whether the device's equations change with time somewhere in [0, t) (seconds).
    /// Only devices whose `load` reads `ctx.time` (independent and behavioural sources)
    /// can, and they override this.
    fn varies_before(&self, _t: f64) -> bool {
        false
    }
    /// True when the Jacobian never depends on x (so one Newton solve is exact).
    fn is_linear(&self) -> bool {
        true
    }
    /// True when the residual is continuously differentiable in x (no clamp, comparison or
    /// rounding): then a parabola through past solutions is a good Newton guess, and the
    /// convergence rate measured at one time step predicts the next step's, so a transient
    /// step may stop after one iteration (see `newton` and `tran_inner`).
    fn is_smooth(&self) -> bool {
        self.is_linear()
    }
    /// True when the Jacobian is constant in x and time and the residual is exactly
    /// J·x (R, G, E, F, H): the engine then stamps it once and reuses it.
    fn is_static(&self) -> bool {
        false
    }
    /// The device as `Any`, so that array devices can be reached by their concrete type
    /// (e.g. a crossbar's conductances) through `Simulator::device_mut`.
    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
}

/// Closed set of device kinds, dispatched statically in the hot loop; array devices
/// (crossbars, neuron layers, …) come through `Array`, one virtual call per whole array.
#[derive(Clone)]
pub enum AnyDevice {
    R(Resistor),
    C(Capacitor),
    L(Inductor),
    V(VoltageSource),
    I(CurrentSource),
    E(Vcvs),
    F(Cccs),
    G(Vccs),
    H(Ccvs),
    Bv(BehavioralVoltage),
    Bi(BehavioralCurrent),
    Array(BoxedDevice),
}

impl Clone for BoxedDevice {
    fn clone(&self) -> Self {
        self.clone_boxed()
    }
}

impl std::fmt::Debug for AnyDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            AnyDevice::R(_) => "R",
            AnyDevice::C(_) => "C",
            AnyDevice::L(_) => "L",
            AnyDevice::V(_) => "V",
            AnyDevice::I(_) => "I",
            AnyDevice::E(_) => "E",
            AnyDevice::F(_) => "F",
            AnyDevice::G(_) => "G",
            AnyDevice::H(_) => "H",
            AnyDevice::Bv(_) => "B(V)",
            AnyDevice::Bi(_) => "B(I)",
            AnyDevice::Array(_) => "A",
        };
        write!(f, "AnyDevice::{kind}")
    }
}

macro_rules! dispatch {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            AnyDevice::R($d) => $e,
            AnyDevice::C($d) => $e,
            AnyDevice::L($d) => $e,
            AnyDevice::V($d) => $e,
            AnyDevice::I($d) => $e,
            AnyDevice::E($d) => $e,
            AnyDevice::F($d) => $e,
            AnyDevice::G($d) => $e,
            AnyDevice::H($d) => $e,
            AnyDevice::Bv($d) => $e,
            AnyDevice::Bi($d) => $e,
            AnyDevice::Array($d) => $e,
        }
    };
}

impl Device for AnyDevice {
    fn setup(&mut self, slots: &mut SlotBuilder) {
        dispatch!(self, d => d.setup(slots))
    }
    #[inline]
    fn load(
        &mut self,
        x: &[f64],
        ctx: &LoadCtx,
        charges: &mut Charges,
        f: &mut [f64],
        jac: &mut [f64],
    ) {
        dispatch!(self, d => d.load(x, ctx, charges, f, jac))
    }
    fn state_count(&self) -> usize {
        dispatch!(self, d => d.state_count())
    }
    fn set_state_base(&mut self, base: usize) {
        dispatch!(self, d => d.set_state_base(base))
    }
    fn init_charges(&self, x: &[f64], uic: bool, q: &mut [f64]) {
        dispatch!(self, d => d.init_charges(x, uic, q))
    }
    fn apply_uic(&self, x: &mut [f64]) {
        dispatch!(self, d => d.apply_uic(x))
    }
    fn breakpoints(&self, tstop: f64, out: &mut Vec<f64>) {
        dispatch!(self, d => d.breakpoints(tstop, out))
    }
    fn varies_before(&self, t: f64) -> bool {
        dispatch!(self, d => d.varies_before(t))
    }
    fn is_linear(&self) -> bool {
        dispatch!(self, d => d.is_linear())
    }
    fn is_smooth(&self) -> bool {
        dispatch!(self, d => d.is_smooth())
    }
    fn is_static(&self) -> bool {
        dispatch!(self, d => d.is_static())
    }
}

/// The nodes an element's terminals (and controls) name.
fn element_nodes(kind: &ElementKind) -> Vec<NodeId> {
    match kind {
        ElementKind::Resistor { p, n, .. }
        | ElementKind::Capacitor { p, n, .. }
        | ElementKind::Inductor { p, n, .. }
        | ElementKind::VoltageSource { p, n, .. }
        | ElementKind::CurrentSource { p, n, .. }
        | ElementKind::Cccs { p, n, .. }
        | ElementKind::Ccvs { p, n, .. }
        | ElementKind::BehavioralVoltage { p, n, .. }
        | ElementKind::BehavioralCurrent { p, n, .. } => vec![*p, *n],
        ElementKind::Vcvs { p, n, cp, cn, .. } | ElementKind::Vccs { p, n, cp, cn, .. } => {
            vec![*p, *n, *cp, *cn]
        }
        ElementKind::Array { ports, .. } => ports
            .iter()
            .flat_map(|port| match port {
                crate::circuit::Port::Scalar(id) => vec![*id],
                crate::circuit::Port::Vector(ids) => ids.clone(),
            })
            .collect(),
    }
}

/// Builds one device per element (same order as `circuit.elements`).
pub fn build_devices(
    circuit: &Circuit,
    layout: &Layout,
    registry: &ArrayRegistry,
) -> Result<Vec<AnyDevice>, DeviceError> {
    let mut out = Vec::with_capacity(circuit.elements.len());
    let n_names = circuit.nodes.len().max(1);
    for (k, e) in circuit.elements.iter().enumerate() {
        if let Some(bad) = element_nodes(&e.kind)
            .into_iter()
            .find(|id| id.0 >= n_names)
        {
            return Err(DeviceError::Invalid {
                element: e.name.clone(),
                message: format!("node index {} is not in the circuit's node list", bad.0),
            });
        }
        let nd = |id: NodeId| layout.node(id);
        let branch = || layout.branch_of[k].expect("layout gives this element a branch");
        let control_branch = |control: usize| -> Result<usize, DeviceError> {
            layout
                .branch_of
                .get(control)
                .copied()
                .flatten()
                .ok_or_else(|| DeviceError::Invalid {
                    element: e.name.clone(),
                    message: format!(
                        "controlling element `{}` has no branch current (use a voltage source)",
                        circuit
                            .elements
                            .get(control)
                            .map(|c| c.name.as_str())
                            .unwrap_or("?")
                    ),
                })
        };
        let dev = match &e.kind {
            ElementKind::Resistor { p, n, ohms } => {
                if *ohms == 0.0 || !ohms.is_finite() {
                    return Err(DeviceError::Invalid {
                        element: e.name.clone(),
                        message: format!("resistance must be finite and non-zero, got {ohms}"),
                    });
                }
                AnyDevice::R(Resistor::new(nd(*p), nd(*n), 1.0 / ohms))
            }
            ElementKind::Capacitor { p, n, farads, ic } => {
                AnyDevice::C(Capacitor::new(nd(*p), nd(*n), *farads, *ic))
            }
            ElementKind::Inductor { p, n, henries, ic } => {
                AnyDevice::L(Inductor::new(nd(*p), nd(*n), branch(), *henries, *ic))
            }
            ElementKind::VoltageSource { p, n, wave } => {
                AnyDevice::V(VoltageSource::new(nd(*p), nd(*n), branch(), wave.clone()))
            }
            ElementKind::CurrentSource { p, n, wave } => {
                AnyDevice::I(CurrentSource::new(nd(*p), nd(*n), wave.clone()))
            }
            ElementKind::Vcvs { p, n, cp, cn, gain } => {
                AnyDevice::E(Vcvs::new(nd(*p), nd(*n), nd(*cp), nd(*cn), branch(), *gain))
            }
            ElementKind::Vccs { p, n, cp, cn, gm } => {
                AnyDevice::G(Vccs::new(nd(*p), nd(*n), nd(*cp), nd(*cn), *gm))
            }
            ElementKind::Cccs {
                p,
                n,
                control,
                gain,
            } => AnyDevice::F(Cccs::new(nd(*p), nd(*n), control_branch(*control)?, *gain)),
            ElementKind::Ccvs {
                p,
                n,
                control,
                ohms,
            } => AnyDevice::H(Ccvs::new(
                nd(*p),
                nd(*n),
                branch(),
                control_branch(*control)?,
                *ohms,
            )),
            ElementKind::BehavioralVoltage { p, n, expr } => {
                let tape = Tape::compile(expr, layout).map_err(|m| DeviceError::Invalid {
                    element: e.name.clone(),
                    message: m,
                })?;
                AnyDevice::Bv(BehavioralVoltage::new(nd(*p), nd(*n), branch(), tape))
            }
            ElementKind::BehavioralCurrent { p, n, expr } => {
                let tape = Tape::compile(expr, layout).map_err(|m| DeviceError::Invalid {
                    element: e.name.clone(),
                    message: m,
                })?;
                AnyDevice::Bi(BehavioralCurrent::new(nd(*p), nd(*n), tape))
            }
            ElementKind::Array { ports, model } => {
                AnyDevice::Array(registry.build(e, ports, model, layout)?)
            }
        };
        out.push(dev);
    }
    Ok(out)
}
