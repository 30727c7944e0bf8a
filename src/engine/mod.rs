//! MNA engine: unknown layout, sparsity pattern, sparse LU, Newton, `.op` and `.tran`.
//!
//! Entry points: [`simulate`] runs every analysis of a flat circuit; [`Simulator`] is the
//! lower-level handle for running many transients on one circuit while changing element
//! values (conductances, sources) in between, with the pattern and symbolic LU kept.

pub mod btf;
pub mod builder;
pub mod integrator;
pub mod matrix;
mod newton;
mod op;
pub mod schur;
mod tran;

use std::sync::Arc;
use std::time::Instant;

use crate::circuit::{Circuit, ElementKind, Options, Waveform};
use crate::devices::{
    AnyDevice, ArrayRegistry, Device, DeviceError, Layout, SlotBuilder, build_devices,
};
use crate::waveform::{NoSink, RowSink, Signal, Unit, Waveforms};
use btf::BtfLu;
use matrix::Pattern;

pub use builder::CircuitBuilder;
pub use tran::TranSpec;

/// Counters of one analysis (they are part of the output: a slowdown shows as a number).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub accepted_steps: u64,
    pub rejected_steps: u64,
    /// Steps cut because Newton did not converge within itl4.
    pub newton_failures: u64,
    pub newton_iterations: u64,
    pub symbolic_factorisations: u64,
    pub numeric_factorisations: u64,
    pub solves: u64,
    pub wall_time_s: f64,
}

/// Waveforms and counters of one analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalysisResult {
    pub waveforms: Waveforms,
    pub stats: Stats,
}

/// Results of every analysis that ran; on failure, `error` is set and the last result
/// holds the waveform computed up to the failure.
#[derive(Debug)]
pub struct SimOutcome {
    pub results: Vec<AnalysisResult>,
    pub error: Option<SimError>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(
        "{analysis}: Newton iteration did not converge at t = {time:e} s; largest change at {unknown}"
    )]
    NoConvergence {
        analysis: String,
        time: f64,
        unknown: String,
    },
    #[error(
        "{analysis}: singular matrix at t = {time:e} s; check {unknown} (floating node, or a loop of voltage sources/inductors?)"
    )]
    Singular {
        analysis: String,
        time: f64,
        unknown: String,
    },
    #[error(
        "transient: time step too small at t = {time:e} s (step {step:e} s); trouble at {unknown}"
    )]
    TimestepTooSmall {
        time: f64,
        step: f64,
        unknown: String,
    },
    #[error(
        "{analysis}: an equation is not finite (NaN/inf) at t = {time:e} s at {unknown}: e.g. sqrt/ln/log of a negative value or a division by zero in a B source"
    )]
    NonFinite {
        analysis: String,
        time: f64,
        unknown: String,
    },
    #[error("bad analysis: {0}")]
    BadAnalysis(String),
    #[error("element #{index} (`{name}`): {message}")]
    BadElementUpdate {
        index: usize,
        name: String,
        message: String,
    },
}

/// Runs every analysis of `circuit` in order (array devices: none registered).
pub fn simulate(circuit: &Circuit) -> SimOutcome {
    simulate_with(circuit, &ArrayRegistry::new())
}

/// Same as [`simulate`], with array device kinds from `registry`.
pub fn simulate_with(circuit: &Circuit, registry: &ArrayRegistry) -> SimOutcome {
    simulate_into(circuit, registry, &mut NoSink)
}

/// Same as [`simulate_with`], also handing every plot to `sink` while it is computed (a
/// transient's rows as they are accepted, an `.op`'s row when it is done).
pub fn simulate_into(
    circuit: &Circuit,
    registry: &ArrayRegistry,
    sink: &mut dyn RowSink,
) -> SimOutcome {
    let mut results = Vec::new();
    let mut sim = match Simulator::with_registry(circuit, registry) {
        Ok(s) => s,
        Err(e) => {
            return SimOutcome {
                results,
                error: Some(e),
            };
        }
    };
    for a in &circuit.analyses {
        let (res, err) = match TranSpec::of_analysis(a) {
            Some(spec) => sim.run_tran_into(&spec, sink),
            None => {
                let (res, err) = sim.run_op();
                sink.begin(&res.waveforms);
                sink.rows(&res.waveforms.data);
                sink.end();
                (res, err)
            }
        };
        results.push(res);
        if err.is_some() {
            return SimOutcome {
                results,
                error: err,
            };
        }
    }
    SimOutcome {
        results,
        error: None,
    }
}

/// A circuit compiled for simulation: devices with their matrix slots, the sparsity
/// pattern, the symbolic LU and every work buffer. Build once, run many times; a clone
/// of a simulator that has not run is a fresh simulator without a second symbolic
/// analysis (one per transient of a training run).
#[derive(Clone)]
pub struct Simulator {
    // Names and layout never change after construction: shared, so that the clone made
    // for every training transient copies no strings (a run's result table still gets
    // its own signal names).
    title: Arc<str>,
    /// Unknown names for error messages (node name or `i(elem)`).
    unknown_names: Arc<[String]>,
    /// `v(node)`… then `i(elem)`… in unknown order.
    signals: Arc<[Signal]>,
    element_names: Arc<[String]>,
    layout: Arc<Layout>,
    devices: Vec<AnyDevice>,
    /// Devices loaded every iteration (not static).
    dynamic: Vec<usize>,
    /// Devices with constant Jacobian and residual J·x, stamped once into `jac_static`.
    static_devs: Vec<usize>,
    jac_static: Vec<f64>,
    /// The non-zero entries of `jac_static` row by row, (column, value) in ascending
    /// columns, with row ranges in `static_ptr`: the residual's J_static·x product reads
    /// only these, one row's dot product at a time.
    static_entries: Vec<(u32, f64)>,
    static_ptr: Vec<usize>,
    /// Largest |entry| of each row over the positions only static devices write (the
    /// rest of a row's maximum comes from `dyn_positions`; see `snapshot_rate_jacobian`).
    static_row_max: Vec<f64>,
    static_dirty: bool,
    /// Jacobian positions non-static devices (and gmin/`.ic`) write, sorted.
    dyn_positions: Vec<usize>,
    /// Values at `dyn_positions` of the current factorisation.
    factored_dyn: Vec<f64>,
    factor_valid: bool,
    /// Jacobian values of the current factorisation, kept in chord mode (the solve reads
    /// them: a chord iteration solves with the factored matrix, not the current one).
    jac_factored: Vec<f64>,
    /// Chord Newton (transient): integration coefficient ag0 of the current
    /// factorisation, Newton iterations it served, and its last measured contraction
    /// rate (scaled update of an iteration over the previous one's).
    factored_ag0: f64,
    chord_uses: u32,
    chord_rate: f64,
    /// The next iteration refactors (the stale factorisation converged too slowly).
    refactor_next: bool,
    /// Newton error estimate of transients (DASSL's): the last measured contraction rate ρ
    /// (infinite: none since the start or the last Newton failure), the scaled first
    /// update it was measured at, and the one-iteration steps taken on it since.
    rate: f64,
    rate_ref: f64,
    rate_age: u32,
    /// Jacobian values at `dyn_positions` when the rate was measured, and how far each may
    /// drift (a fraction of its row's largest entry) before the rate is measured again.
    rate_jac: Vec<f64>,
    rate_jac_tol: Vec<f64>,
    /// Chord Newton allowed in transients (default); off: full Newton every iteration.
    chord_enabled: bool,
    /// One-iteration transient steps allowed (default; see `newton`).
    one_iteration_enabled: bool,
    /// Quadratic predictor for smooth circuits (default; see `tran_inner`).
    quadratic_predictor: bool,
    /// Devices owning integration states (touched again after Newton converges).
    stateful: Vec<usize>,
    /// Element index owning each state.
    state_owner: Vec<usize>,
    /// Whether an analysis already ran (the symbolic LU is counted once).
    ran: bool,
    /// The last transient step was a split TR-BDF2 step.
    last_step_was_split: bool,
    lu: BtfLu,
    n: usize,
    nnz: usize,
    linear: bool,
    /// Every device is smooth in x (`Device::is_smooth`): transients use the quadratic
    /// predictor, and a step may stop after one Newton iteration on the measured rate.
    smooth: bool,
    n_states: usize,
    /// Jacobian position of each unknown's diagonal.
    diag: Vec<usize>,
    pub options: Options,
    /// `.ic` node voltages as (unknown, volts).
    ics: Vec<(usize, f64)>,
    // Work buffers, sized once.
    x: Vec<f64>,
    f: Vec<f64>,
    jac: Vec<f64>,
    dx: Vec<f64>,
    q: [Vec<f64>; 4],
    iq: [Vec<f64>; 2],
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("unknowns", &self.n)
            .field("nnz", &self.nnz)
            .finish()
    }
}

impl Simulator {
    pub fn new(circuit: &Circuit) -> Result<Simulator, SimError> {
        Self::with_registry(circuit, &ArrayRegistry::new())
    }

    pub fn with_registry(
        circuit: &Circuit,
        registry: &ArrayRegistry,
    ) -> Result<Simulator, SimError> {
        let layout = Layout::with_internal(circuit, |e| registry.internal_unknowns(e))?;
        let n = layout.n;
        let mut devices = build_devices(circuit, &layout, registry)?;
        // Pass 1: record the pattern; pass 2: resolve positions.
        let mut rec = SlotBuilder::recording(n);
        for d in devices.iter_mut() {
            d.setup(&mut rec);
        }
        let pattern = Pattern::from_pairs(n, &rec.pairs, layout.n_nodes);
        let mut matchable = vec![false; pattern.nnz()];
        for &(r, c) in &rec.pairs {
            matchable[pattern
                .position(r, c)
                .expect("requested pair is in the pattern")] = true;
        }
        let mut res = SlotBuilder::resolving(&pattern);
        // Positions written by non-static devices: only these change between iterations.
        let mut dyn_positions = Vec::new();
        for d in devices.iter_mut() {
            let start = res.handed_out.len();
            d.setup(&mut res);
            if !d.is_static() {
                dyn_positions.extend_from_slice(&res.handed_out[start..]);
            }
        }
        let diag: Vec<usize> = (0..layout.n_nodes)
            .map(|k| {
                pattern
                    .position(k, k)
                    .expect("node diagonal is in the pattern")
            })
            .collect();
        let nnz = pattern.nnz();
        dyn_positions.extend_from_slice(&diag);
        dyn_positions.retain(|&k| k < nnz);
        dyn_positions.sort_unstable();
        dyn_positions.dedup();
        let n_dyn = dyn_positions.len();
        let unknown_names: Vec<String> = (0..n).map(|k| layout.unknown_name(circuit, k)).collect();
        let lu = BtfLu::new(pattern, &matchable).map_err(|e| {
            let unknown = match e {
                matrix::LuFailure::Structural(Some(k)) if k < n => {
                    if k < layout.n_nodes {
                        format!("node {}", unknown_names[k])
                    } else {
                        format!("branch {}", unknown_names[k])
                    }
                }
                other => format!("{other:?}"),
            };
            SimError::Singular {
                analysis: "setup (structure)".into(),
                time: 0.0,
                unknown,
            }
        })?;
        let mut n_states = 0;
        let mut stateful = Vec::new();
        let mut state_owner = Vec::new();
        for (k, d) in devices.iter_mut().enumerate() {
            let c = d.state_count();
            if c > 0 {
                d.set_state_base(n_states);
                n_states += c;
                stateful.push(k);
                state_owner.extend(std::iter::repeat_n(k, c));
            }
        }
        let linear = devices.iter().all(|d| d.is_linear());
        let smooth = devices.iter().all(|d| d.is_smooth());
        let (static_devs, dynamic): (Vec<usize>, Vec<usize>) =
            (0..devices.len()).partition(|&k| devices[k].is_static());
        let mut signals = Vec::with_capacity(n);
        for (k, name) in unknown_names.iter().enumerate() {
            let (name, unit) = if k < layout.n_nodes {
                (format!("v({name})"), Unit::Voltage)
            } else {
                (name.clone(), Unit::Current)
            };
            signals.push(Signal { name, unit });
        }
        let ics = circuit
            .ics
            .iter()
            .filter(|(node, _)| !node.is_ground())
            .map(|(node, v)| (layout.node(*node), *v))
            .collect();
        Ok(Simulator {
            title: circuit.title.as_str().into(),
            unknown_names: unknown_names.into(),
            signals: signals.into(),
            element_names: circuit.elements.iter().map(|e| e.name.clone()).collect(),
            layout: Arc::new(layout),
            devices,
            stateful,
            state_owner,
            dynamic,
            static_devs,
            jac_static: vec![0.0; nnz + 1],
            static_entries: Vec::new(),
            static_ptr: vec![0; n + 1],
            static_row_max: vec![0.0; n],
            static_dirty: true,
            factored_dyn: vec![0.0; dyn_positions.len()],
            dyn_positions,
            factor_valid: false,
            jac_factored: vec![0.0; nnz + 1],
            factored_ag0: 0.0,
            chord_uses: 0,
            chord_rate: 1.0,
            refactor_next: false,
            rate: f64::INFINITY,
            rate_ref: 0.0,
            rate_age: 0,
            rate_jac: vec![0.0; n_dyn],
            rate_jac_tol: vec![0.0; n_dyn],
            chord_enabled: true,
            one_iteration_enabled: true,
            quadratic_predictor: true,
            ran: false,
            last_step_was_split: false,
            lu,
            n,
            nnz,
            linear,
            smooth,
            n_states,
            diag,
            options: circuit.options.clone(),
            ics,
            x: vec![0.0; n + 1],
            f: vec![0.0; n + 1],
            jac: vec![0.0; nnz + 1],
            dx: vec![0.0; n + 1],
            q: std::array::from_fn(|_| vec![0.0; n_states]),
            iq: std::array::from_fn(|_| vec![0.0; n_states]),
        })
    }

    /// Allows (default) or forbids chord Newton in transients: with it, the LU is kept
    /// across Newton iterations and steps while it contracts fast; without, every
    /// iteration whose Jacobian changed refactors (for comparisons and diagnostics).
    pub fn set_chord_newton(&mut self, on: bool) {
        self.chord_enabled = on;
    }

    /// Allows (default) or forbids transient steps that stop after one Newton iteration
    /// when the measured convergence rate puts the error left well inside the tolerance
    /// (smooth circuits, `Device::is_smooth`); without, every step iterates until its update
    /// is within the tolerance, as in ngspice (for comparisons and diagnostics).
    pub fn set_one_iteration_steps(&mut self, on: bool) {
        self.one_iteration_enabled = on;
    }

    /// Allows (default) or forbids the quadratic predictor of smooth circuits' transients
    /// (the Newton guess through the last three accepted points); without, the guess is
    /// the line through the last two, as in ngspice (for comparisons and diagnostics).
    pub fn set_quadratic_predictor(&mut self, on: bool) {
        self.quadratic_predictor = on;
    }

    /// Number of MNA unknowns (node voltages + branch currents).
    pub fn unknowns(&self) -> usize {
        self.n
    }

    /// Non-zeros of the Jacobian pattern.
    pub fn nonzeros(&self) -> usize {
        self.nnz
    }

    /// Number of diagonal blocks of the block triangular form and the largest block size.
    pub fn block_structure(&self) -> (usize, usize) {
        (self.lu.block_count(), self.lu.largest_block)
    }

    /// The unknown layout (node ↦ unknown index, branches).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Signals of the waveforms this simulator writes (`v(node)`…, `i(elem)`…, without `time`).
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// The solution vector of the last solve (unknown order, volts and amperes).
    pub fn solution(&self) -> &[f64] {
        &self.x[..self.n]
    }

    /// Whether no equation of the circuit changes with time before `t` (seconds): every
    /// independent and behavioural source keeps its time-0 value on [0, t). An unforced
    /// operating point at time 0 (no `.ic`, no `uic`) is then the transient's state at `t`
    /// too, and a transient may start there ([`Simulator::run_tran_from`]).
    pub fn quiescent_until(&self, t: f64) -> bool {
        !self.devices.iter().any(|d| d.varies_before(t))
    }

    /// Whether the circuit has `.ic` node voltages (they force the operating point).
    pub fn has_initial_conditions(&self) -> bool {
        !self.ics.is_empty()
    }

    /// Sets the conductance (siemens) of resistor `element` (1/R), or the
    /// transconductance of G source `element`.
    pub fn set_conductance(&mut self, element: usize, siemens: f64) -> Result<(), SimError> {
        let name = self.element_name(element);
        if !siemens.is_finite() {
            return Err(SimError::BadElementUpdate {
                index: element,
                name,
                message: format!("conductance {siemens} is not finite"),
            });
        }
        match self.devices.get_mut(element) {
            Some(AnyDevice::R(r)) => {
                if siemens == 0.0 {
                    return Err(SimError::BadElementUpdate {
                        index: element,
                        name,
                        message: "zero conductance".into(),
                    });
                }
                r.g = siemens;
                self.static_dirty = true;
                Ok(())
            }
            Some(AnyDevice::G(g)) => {
                g.gm = siemens;
                self.static_dirty = true;
                Ok(())
            }
            _ => Err(SimError::BadElementUpdate {
                index: element,
                name,
                message: "not a resistor or G source".into(),
            }),
        }
    }

    /// Replaces the waveform of V or I source `element`.
    pub fn set_source(&mut self, element: usize, wave: Waveform) -> Result<(), SimError> {
        let name = self.element_name(element);
        match self.devices.get_mut(element) {
            Some(AnyDevice::V(v)) => v.wave = wave,
            Some(AnyDevice::I(i)) => i.wave = wave,
            _ => {
                return Err(SimError::BadElementUpdate {
                    index: element,
                    name,
                    message: "not a V or I source".into(),
                });
            }
        }
        Ok(())
    }

    /// Sets the capacitance (farads) of capacitor `element`.
    pub fn set_capacitance(&mut self, element: usize, farads: f64) -> Result<(), SimError> {
        let name = self.element_name(element);
        match self.devices.get_mut(element) {
            Some(AnyDevice::C(c)) => {
                c.c = farads;
                Ok(())
            }
            _ => Err(SimError::BadElementUpdate {
                index: element,
                name,
                message: "not a capacitor".into(),
            }),
        }
    }

    /// Residual f(x) and dense Jacobian at `x` (length = unknowns) and time `t`, with
    /// charges integrated by backward Euler of step `h` (`None`: DC). For tests and
    /// diagnostics; it disturbs the integration history.
    pub fn linearize(&mut self, x: &[f64], t: f64, h: Option<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        let n = self.n;
        self.x[..n].copy_from_slice(x);
        self.x[n] = 0.0;
        let setup = newton::NewtonSetup {
            ctx: crate::devices::LoadCtx {
                time: t,
                source_factor: 1.0,
                dc: h.is_none(),
            },
            coeffs: h.map(integrator::backward_euler).unwrap_or_default(),
            max_iter: 1,
            gshunt: 0.0,
            force_ic: false,
            max_dv: None,
            chord: false,
        };
        self.assemble(&setup);
        // Full residual: the static part is J_static·x.
        let p = self.lu.pattern();
        for c in 0..n {
            for k in p.col_ptr[c]..p.col_ptr[c + 1] {
                self.f[p.row_idx[k]] += self.jac_static[k] * self.x[c];
            }
        }
        let mut dense = vec![vec![0.0; n]; n];
        for (c, w) in p.col_ptr.windows(2).enumerate() {
            for k in w[0]..w[1] {
                dense[p.row_idx[k]][c] = self.jac[k];
            }
        }
        (self.f[..n].to_vec(), dense)
    }

    /// Direct access to a device (e.g. an array device registered by another module).
    pub fn device_mut(&mut self, element: usize) -> Option<&mut AnyDevice> {
        self.static_dirty = true;
        self.devices.get_mut(element)
    }

    fn element_name(&self, element: usize) -> String {
        self.element_names
            .get(element)
            .cloned()
            .unwrap_or_else(|| "?".into())
    }

    fn first_run(&mut self) -> bool {
        !std::mem::replace(&mut self.ran, true)
    }

    fn state_element(&self, s: usize) -> Option<String> {
        self.state_owner.get(s).map(|&k| self.element_name(k))
    }

    fn waveforms(&self, plot_name: &str, with_time: bool) -> Waveforms {
        let mut signals = Vec::with_capacity(self.n + 1);
        if with_time {
            signals.push(Signal {
                name: "time".into(),
                unit: Unit::Time,
            });
        }
        signals.extend(self.signals.iter().cloned());
        Waveforms::new(&self.title, plot_name, signals)
    }

    fn start_stats(&self) -> (Stats, Instant, [u64; 3]) {
        (
            Stats::default(),
            Instant::now(),
            [
                self.lu.symbolic_count,
                self.lu.numeric_count,
                self.lu.solve_count,
            ],
        )
    }

    fn finish_stats(
        &self,
        mut stats: Stats,
        t0: Instant,
        base: [u64; 3],
        first_run: bool,
    ) -> Stats {
        // The symbolic factorisation happens once per Simulator; the first analysis owns it.
        stats.symbolic_factorisations = if first_run { base[0] } else { 0 };
        stats.numeric_factorisations = self.lu.numeric_count - base[1];
        stats.solves = self.lu.solve_count - base[2];
        stats.wall_time_s = t0.elapsed().as_secs_f64();
        stats
    }
}

/// True for element kinds whose branch current ngspice saves by default.
pub fn has_branch(kind: &ElementKind) -> bool {
    matches!(
        kind,
        ElementKind::VoltageSource { .. }
            | ElementKind::Vcvs { .. }
            | ElementKind::Ccvs { .. }
            | ElementKind::Inductor { .. }
            | ElementKind::BehavioralVoltage { .. }
    )
}
