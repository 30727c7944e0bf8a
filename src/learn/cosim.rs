//! Learning co-simulation of a generated DFC circuit (`dfcsim gen`, array or flat form): one
//! sample at a time, set the input DACs, settle the feed-forward state with the controller
//! off, set the output target r_L* from the sampled output and the label, run the controlled
//! transient, integrate rule (5) over the waveform ([`super::plasticity`]) and reprogram the
//! plastic crossbars through the conductance device model.
//!
//! Units: the circuit is SI (volts, siemens, seconds); everything handed to the plasticity
//! module and the ideal model is dimensionless (voltages / V_s, time / τ_u, weights
//! w = R_f (G⁺ − G⁻)).
//!
//! Conductance convention (as `dfcsim gen` writes it): G⁺ = G_min + max(w, 0)/R_f,
//! G⁻ = G_min + max(−w, 0)/R_f. A wanted change Δw on a synapse whose read weight is w is
//! split onto the pair so that this convention is kept:
//! ΔG⁺ = (max(w+Δw, 0) − max(w, 0))/R_f, ΔG⁻ = (max(−w−Δw, 0) − max(−w, 0))/R_f, and each
//! ΔG is programmed open-loop into its device (`DeviceArray::program_deltas`, device weight
//! change ΔG·(w_max − w_min)/(g_max − g_min)). The circuit then runs with the conductances
//! read back from the devices (read noise and drift included).
//!
//! Flat form: inputs and target through the V sources `vx*`/`vxn*`/`vt*`, conductances through
//! `set_conductance` on the crossbar resistors. Array form: the `dac` devices `ax`/`at` and the
//! `crossbar` devices `aw*`/`aq*` (`set_conductances`). The sources' energy covers V/E/H/B
//! branches; the array DACs and neuron op-amps have no branch current and are not counted.

// Kernels index several arrays with one loop variable (as in `crate::ideal`).
#![allow(clippy::needless_range_loop)]

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::circuit::{Circuit, ElementKind, NodeId, Waveform};
use crate::engine::{SimError, Simulator, TranSpec};
use crate::ideal::controller::ControllerParams;
use crate::ideal::dfc;
use crate::ideal::linalg::Mat;
use crate::ideal::loss::Loss;
use crate::ideal::network::{Activation, Layer, Network, ParamGrads};
use crate::learn::device::{DeviceArray, DeviceParams};
use crate::learn::plasticity::{Plasticity, Rule, TimePoint, angle_deg, sgd_step};
use crate::learn::sleep::{self, SleepSpec};

/// Smallest conductance written into the circuit (S): a device at G = 0 is an open
/// circuit, which the engine represents by this leak.
pub const G_FLOOR: f64 = 1e-12;

#[derive(Debug, thiserror::Error)]
pub enum CosimError {
    #[error("{path}: {msg}")]
    Netlist { path: String, msg: String },
    #[error("{path}:{line}: .learn card: {msg}")]
    Learn {
        path: String,
        line: usize,
        msg: String,
    },
    #[error("sample {sample}: {source}")]
    Sim { sample: usize, source: SimError },
    #[error("{0}")]
    Other(String),
}

/// The `.learn` card (SI times as written; `vs` in volts, `tau_u` in seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnSpec {
    pub task: String,
    pub loss: Loss,
    pub lambda: f64,
    pub rule: Rule,
    pub t_ff_s: f64,
    pub t_ctl_s: f64,
    pub lr: f64,
    pub clip: f64,
    pub batch: usize,
    pub seed: u64,
    pub plastic: Vec<String>,
    pub k_p: f64,
    pub alpha: f64,
    pub time_constant_ratio: f64,
    pub vs: f64,
    pub tau_u: f64,
    /// Converter resolutions and energy figures (`dac_bits`, `adc_bits`, `p_static`, …;
    /// written by `dfcsim gen`, ideal when absent).
    pub periphery: crate::r#gen::LearnPeriphery,
    /// The feedback ("sleep") phase, when Q is plastic (`feedback_phase=on` or a `q…` in
    /// `plastic=`); see [`crate::learn::sleep`].
    pub sleep: Option<SleepSpec>,
    /// Accuracy of the co-simulation's transients (`reltol=`, `max_step=` in seconds),
    /// replacing the netlist's `.options reltol` and `.tran` tmax, which suit a waveform
    /// compared with ngspice rather than a weight update; None: the netlist's.
    pub reltol: Option<f64>,
    pub max_step_s: Option<f64>,
}

impl LearnSpec {
    /// Finds the `.learn` card in netlist text: a card of the array form, or the commented
    /// copy (`* .learn …`, `* + …`) of the flat form.
    pub fn from_netlist_text(text: &str, path: &str) -> Result<LearnSpec, CosimError> {
        let mut body = String::new();
        let mut line_no = 0;
        let mut in_card = false;
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            let l = if let Some(c) = l.strip_prefix('*') {
                c.trim()
            } else {
                l
            };
            if !in_card {
                if let Some(rest) = l.strip_prefix(".learn") {
                    in_card = true;
                    line_no = n + 1;
                    body.push_str(rest);
                    body.push(' ');
                }
            } else if let Some(rest) = l.strip_prefix('+') {
                body.push_str(rest);
                body.push(' ');
            } else {
                break;
            }
        }
        if !in_card {
            return Err(CosimError::Netlist {
                path: path.into(),
                msg: "no .learn card (write one, or generate the netlist with `dfcsim gen`)".into(),
            });
        }
        let err = |msg: String| CosimError::Learn {
            path: path.into(),
            line: line_no,
            msg,
        };
        let mut kv = std::collections::BTreeMap::new();
        for tok in body.split_whitespace() {
            let (k, v) = tok
                .split_once('=')
                .ok_or_else(|| err(format!("`{tok}`: expected key=value")))?;
            kv.insert(k.to_ascii_lowercase(), v.to_string());
        }
        let num = |k: &str, default: Option<f64>| -> Result<f64, CosimError> {
            match kv.get(k) {
                Some(v) => crate::r#gen::hardware::parse_spice_number(v)
                    .ok_or_else(|| err(format!("{k}={v}: not a number"))),
                None => default.ok_or_else(|| err(format!("missing {k}="))),
            }
        };
        let loss = match kv.get("loss").map(|s| s.as_str()).unwrap_or("mse") {
            "mse" => Loss::Mse,
            "ce" | "cross-entropy" | "crossentropy" => Loss::CrossEntropy,
            other => return Err(err(format!("loss={other}: expected mse or cross-entropy"))),
        };
        let variant = kv.get("variant").map(|s| s.as_str()).unwrap_or("dfc");
        let rule = Rule::parse(variant)
            .ok_or_else(|| err(format!("variant={variant}: expected dfc or dfc-ss")))?;
        let batch = num("batch", Some(1.0))?;
        if !(batch >= 1.0 && batch.fract() == 0.0) {
            return Err(err(format!("batch={batch}: expected an integer ≥ 1")));
        }
        let spec = LearnSpec {
            task: kv
                .get("task")
                .cloned()
                .unwrap_or_else(|| "student-teacher".into()),
            loss,
            lambda: num("lambda", None)?,
            rule,
            t_ff_s: num("t_ff", None)?,
            t_ctl_s: num("t_ctl", None)?,
            lr: num("lr", None)?,
            clip: num("clip", Some(0.0))?,
            batch: batch as usize,
            seed: num("seed", Some(42.0))? as u64,
            plastic: kv
                .get("plastic")
                .map(|s| {
                    s.split(',')
                        .map(|p| p.trim().to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
            k_p: num("k_p", None)?,
            alpha: num("alpha", None)?,
            time_constant_ratio: num("time_constant_ratio", None)?,
            vs: num("vs", None)?,
            tau_u: num("tau_u", None)?,
            periphery: crate::r#gen::LearnPeriphery::from_keys(|k| match kv.get(k) {
                None => Ok(None),
                Some(v) => crate::r#gen::hardware::parse_spice_number(v)
                    .map(Some)
                    .ok_or_else(|| format!("{k}={v}: not a number")),
            })
            .map_err(err)?,
            sleep: None,
            reltol: kv
                .contains_key("reltol")
                .then(|| num("reltol", None))
                .transpose()?,
            max_step_s: kv
                .contains_key("max_step")
                .then(|| num("max_step", None))
                .transpose()?,
        };
        if spec.reltol.is_some_and(|r| !(r > 0.0 && r < 1.0)) {
            return Err(err("reltol must be in (0, 1)".into()));
        }
        if spec.max_step_s.is_some_and(|h| !(h.is_finite() && h > 0.0)) {
            return Err(err("max_step must be > 0 s".into()));
        }
        let mut spec = spec;
        let q_plastic = spec.plastic.iter().any(|p| p.starts_with('q'));
        let fb_on = kv.get("feedback_phase").is_some_and(|v| v == "on");
        if q_plastic || fb_on {
            let tau = spec.tau_u;
            let count = |k: &str, default: f64| -> Result<usize, CosimError> {
                let v = num(k, Some(default))?;
                if !(v >= 0.0 && v.fract() == 0.0) {
                    return Err(err(format!("{k}={v}: expected an integer ≥ 0")));
                }
                Ok(v as usize)
            };
            let sigma = num("sigma_fb", Some(0.01))?;
            let sleep = SleepSpec {
                sigma,
                sigma_out: num("sigma_out_fb", Some(sigma))?,
                t_fb_s: num("t_fb", Some(2.0 * tau))?,
                dt_s: num("dt_fb", Some(0.01 * tau))?,
                lr: num("lr_fb", Some(0.002))?,
                lr_init: num("lr_fb_init", Some(0.1))?,
                weight_decay: num("wd_fb", Some(0.025))?,
                clip: num("clip_fb", Some(1.0))?,
                epochs_init: count("epochs_fb", 0.0)?,
                epochs_per_epoch: count("fb_epochs", 1.0)?,
                batch: count("batch_fb", spec.batch as f64)?.max(1),
            };
            if !(sleep.sigma > 0.0
                && sleep.sigma_out >= 0.0
                && sleep.dt_s > 0.0
                && sleep.t_fb_s >= sleep.dt_s)
            {
                return Err(err(
                    "feedback phase: need sigma_fb > 0, sigma_out_fb ≥ 0, dt_fb > 0, t_fb ≥ dt_fb"
                        .into(),
                ));
            }
            if sleep.steps() > 1_000_000 {
                return Err(err(format!(
                    "feedback phase: t_fb/dt_fb = {} noise steps (at most 1e6)",
                    sleep.steps()
                )));
            }
            spec.sleep = Some(sleep);
        }
        let spec = spec;
        if !(spec.lambda > 0.0 && spec.vs > 0.0 && spec.tau_u > 0.0 && spec.t_ctl_s > 0.0) {
            return Err(err("lambda, vs, tau_u and t_ctl must be > 0".into()));
        }
        if !(spec.t_ff_s >= 0.0 && (spec.t_ff_s + spec.t_ctl_s).is_finite()) {
            return Err(err(format!(
                "t_ff={} s: the settle phase must last a finite time ≥ 0",
                spec.t_ff_s
            )));
        }
        if let Some(o) = kv.get("optimizer").filter(|o| *o != "sgd") {
            return Err(err(format!("optimizer={o}: only sgd is supported")));
        }
        Ok(spec)
    }

    /// Controller parameters of the ideal model's reference Euler discretisation (dt = 0.005
    /// τ_u) covering the same controlled phase.
    pub fn ideal_params(&self) -> ControllerParams {
        let dt = 0.005;
        ControllerParams {
            k_p: self.k_p,
            alpha: self.alpha,
            ratio: self.time_constant_ratio,
            dt,
            steps: (self.t_ctl_s / self.tau_u / dt).round() as usize + 1,
            apical_tau: None,
            inst_transmission: true,
        }
    }
}

/// One differential crossbar: element indices and conductances (S), row-major
/// [row j][column k]; rows are input lines (the last one the bias line for W).
#[derive(Debug, Clone)]
pub struct Crossbar {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    /// Flat form: the resistor elements of G⁺ and G⁻ (empty in the array form).
    pub elem_p: Vec<usize>,
    pub elem_n: Vec<usize>,
    /// Array form: the `crossbar` element.
    pub array: Option<usize>,
    pub gp: Vec<f64>,
    pub gn: Vec<f64>,
}

impl Crossbar {
    /// Writes the conductances (floored at [`G_FLOOR`]) into the simulator.
    pub fn write_into(&self, sim: &mut Simulator) -> Result<(), SimError> {
        if let Some(e) = self.array {
            let floor = |g: &[f64]| g.iter().map(|v| v.max(G_FLOOR)).collect::<Vec<f64>>();
            let name = self.name.clone();
            let dev = sim
                .device_mut(e)
                .and_then(crate::devices::array::crossbar_mut)
                .ok_or_else(|| SimError::BadElementUpdate {
                    index: e,
                    name: name.clone(),
                    message: "not a crossbar".into(),
                })?;
            return dev
                .set_conductances(&floor(&self.gp), &floor(&self.gn))
                .map_err(|m| SimError::BadElementUpdate {
                    index: e,
                    name,
                    message: m,
                });
        }
        for (e, g) in self
            .elem_p
            .iter()
            .zip(&self.gp)
            .chain(self.elem_n.iter().zip(&self.gn))
        {
            sim.set_conductance(*e, g.max(G_FLOOR))?;
        }
        Ok(())
    }

    /// Weight matrix w_kj = R_f (G⁺_jk − G⁻_jk), as cols × rows (n_out × n_in) row-major.
    pub fn weights(&self, r_f: f64) -> Mat {
        let mut m = Mat::zeros(self.cols, self.rows);
        for j in 0..self.rows {
            for k in 0..self.cols {
                let idx = j * self.cols + k;
                m.data[k * self.rows + j] = r_f * (self.gp[idx] - self.gn[idx]);
            }
        }
        m
    }
}

/// The structure of a generated DFC netlist (array or flat form), found through its names.
#[derive(Debug, Clone)]
pub struct DfcCircuit {
    /// Fixed after construction (the compiled template below is built from it).
    circuit: Circuit,
    /// The `.learn` card; its `reltol=`/`max_step=` are applied at construction (later:
    /// [`DfcCircuit::set_reltol`], [`DfcCircuit::set_max_step`]).
    pub learn: LearnSpec,
    /// n_0 … n_L.
    pub sizes: Vec<usize>,
    pub acts: Vec<Activation>,
    pub r_f: f64,
    /// Forward crossbars W_1..W_L (with bias row) and feedback crossbars Q_1..Q_L.
    pub w: Vec<Crossbar>,
    pub q: Vec<Crossbar>,
    vx: Vec<usize>,
    vxn: Vec<usize>,
    vt: Vec<usize>,
    /// Array form: the input and target `dac` elements (then vx/vxn/vt are empty).
    dac_x: Option<usize>,
    dac_t: Option<usize>,
    tran: TranSpec,
    /// Feedback phase: the noise current sources `inzfb{i}_{k}` the co-simulation adds from
    /// each feedback column wire to ground (0 A but in the sleep transient), per layer.
    pub noise_fb: Vec<Vec<usize>>,
    /// The controller-enable source `Ven`.
    pub en: Option<usize>,
    /// Relative tolerance of the transients (`.learn reltol=`, [`DfcCircuit::set_reltol`]);
    /// None: the netlist's `.options reltol`.
    reltol: Option<f64>,
    /// The compiled `circuit` (pattern, symbolic LU), built on first use and cloned for
    /// every transient: one symbolic analysis per netlist. `circuit` does not change after
    /// construction (private, so nothing changes it).
    template: std::sync::OnceLock<Result<Simulator, SimError>>,
}

fn find(c: &Circuit, path: &str, name: &str) -> Result<usize, CosimError> {
    c.find_element(name).ok_or_else(|| CosimError::Netlist {
        path: path.into(),
        msg: format!("element `{name}` not found: not a `dfcsim gen` DFC netlist?"),
    })
}

impl DfcCircuit {
    pub fn load(path: &Path) -> Result<DfcCircuit, CosimError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CosimError::Netlist {
            path: p.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        let learn = LearnSpec::from_netlist_text(&text, &p)?;
        let circuit = crate::elaborate::load_str(&text, path).map_err(|e| CosimError::Netlist {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        Self::from_circuit(circuit, learn, &p)
    }

    /// Applies the `.learn` card's transient accuracy (`reltol=`, `max_step=`).
    fn with_learn_accuracy(mut self) -> Result<DfcCircuit, CosimError> {
        if let Some(h) = self.learn.max_step_s {
            self.set_max_step(h)?;
        }
        if let Some(r) = self.learn.reltol {
            self.set_reltol(r)?;
        }
        Ok(self)
    }

    pub fn from_circuit(
        mut circuit: Circuit,
        learn: LearnSpec,
        path: &str,
    ) -> Result<DfcCircuit, CosimError> {
        let bad = |msg: String| CosimError::Netlist {
            path: path.into(),
            msg,
        };
        let array_form = circuit
            .elements
            .iter()
            .any(|e| matches!(e.kind, ElementKind::Array { .. }));
        let count = |f: &dyn Fn(usize) -> String| {
            (0..)
                .take_while(|&k| circuit.find_node(&f(k)).is_some())
                .count()
        };
        let mut sizes = vec![count(&|k| crate::r#gen::nodes::r(0, k))];
        loop {
            let i = sizes.len();
            let n = count(&|k| crate::r#gen::nodes::v(i, k));
            if n == 0 {
                break;
            }
            sizes.push(n);
        }
        if sizes.len() < 2 || sizes[0] == 0 {
            return Err(bad(
                "no DFC layers found (nodes r0_0, v1_0, …): not a `dfcsim gen` netlist?".into(),
            ));
        }
        let layers = sizes.len() - 1;
        let n_out = sizes[layers];
        let tran = TranSpec::of_circuit(&circuit).ok_or_else(|| bad("no .tran card".into()))?;
        if tran.tstop < learn.t_ff_s + learn.t_ctl_s * (1.0 - 1e-9) {
            return Err(bad(format!(
                ".tran stops at {:e} s, before t_ff + t_ctl = {:e} s",
                tran.tstop,
                learn.t_ff_s + learn.t_ctl_s
            )));
        }
        let noise_fb = if learn.sleep.is_some() {
            add_noise_sources(&mut circuit, path, &sizes)?
        } else {
            Vec::new()
        };
        let en = circuit.find_element("ven");
        if array_form {
            let mut dc = Self::from_array_circuit(circuit, learn, path, sizes, tran)?;
            dc.noise_fb = noise_fb;
            dc.en = en;
            return dc.with_learn_accuracy();
        }
        let mut acts = Vec::new();
        for i in 1..=layers {
            acts.push(if circuit.find_element(&format!("br{i}_0")).is_some() {
                Activation::Tanh
            } else if circuit.find_element(&format!("er{i}_0")).is_some() {
                Activation::Linear
            } else {
                return Err(bad(format!(
                    "layer {i}: no transfer stage br{i}_0 / er{i}_0"
                )));
            });
        }
        let r_f = match &circuit.elements[find(&circuit, path, "rf1_0")?].kind {
            ElementKind::Resistor { ohms, .. } => *ohms,
            _ => return Err(bad("rf1_0 is not a resistor".into())),
        };
        let mut w = Vec::new();
        let mut q = Vec::new();
        for i in 1..=layers {
            w.push(flat_crossbar(&mut circuit, path, "w", i, &sizes)?);
            q.push(flat_crossbar(&mut circuit, path, "q", i, &sizes)?);
        }
        let vx = (0..sizes[0])
            .map(|j| find(&circuit, path, &format!("vx{j}")))
            .collect::<Result<Vec<_>, _>>()?;
        let vxn = (0..sizes[0])
            .map(|j| find(&circuit, path, &format!("vxn{j}")))
            .collect::<Result<Vec<_>, _>>()?;
        let vt = (0..n_out)
            .map(|m| find(&circuit, path, &format!("vt{m}")))
            .collect::<Result<Vec<_>, _>>()?;
        DfcCircuit {
            circuit,
            learn,
            sizes,
            acts,
            r_f,
            w,
            q,
            vx,
            vxn,
            vt,
            dac_x: None,
            dac_t: None,
            tran,
            noise_fb,
            en,
            reltol: None,
            template: Default::default(),
        }
        .with_learn_accuracy()
    }

    /// The array form: crossbars `aw{i}`/`aq{i}`, neuron layers `an{i}`, DACs `ax`/`at`.
    fn from_array_circuit(
        circuit: Circuit,
        learn: LearnSpec,
        path: &str,
        sizes: Vec<usize>,
        tran: TranSpec,
    ) -> Result<DfcCircuit, CosimError> {
        let bad = |msg: String| CosimError::Netlist {
            path: path.into(),
            msg,
        };
        let layers = sizes.len() - 1;
        let mut acts = Vec::new();
        for i in 1..=layers {
            let e = find(&circuit, path, &format!("an{i}"))?;
            let phi = match &circuit.elements[e].kind {
                ElementKind::Array { model, .. } => match model.params.get("phi") {
                    Some(crate::circuit::ParamValue::Str(s)) => s.to_ascii_lowercase(),
                    _ => "tanh".into(),
                },
                _ => return Err(bad(format!("an{i} is not an array device"))),
            };
            acts.push(match phi.as_str() {
                "tanh" => Activation::Tanh,
                "linear" => Activation::Linear,
                other => return Err(bad(format!("an{i}: phi={other} is not supported"))),
            });
        }
        let mut sim = Simulator::new(&circuit).map_err(|e| CosimError::Sim {
            sample: 0,
            source: e,
        })?;
        let mut r_f = 0.0;
        let mut read = |name: String, rows: usize, cols: usize| -> Result<Crossbar, CosimError> {
            let e = find(&circuit, path, &name)?;
            let cb = sim
                .device_mut(e)
                .and_then(crate::devices::array::crossbar_mut)
                .ok_or_else(|| bad(format!("{name} is not a crossbar")))?;
            if cb.rows() != rows || cb.cols() != cols {
                return Err(bad(format!(
                    "{name}: {}×{} crossbar, the layers need {rows}×{cols}",
                    cb.rows(),
                    cb.cols()
                )));
            }
            r_f = cb.r_f();
            Ok(Crossbar {
                name: name[1..].to_ascii_uppercase(),
                rows,
                cols,
                elem_p: Vec::new(),
                elem_n: Vec::new(),
                array: Some(e),
                gp: cb.g_plus().to_vec(),
                gn: cb.g_minus().to_vec(),
            })
        };
        let n_out = sizes[layers];
        let mut w = Vec::new();
        let mut q = Vec::new();
        for i in 1..=layers {
            w.push(read(format!("aw{i}"), sizes[i - 1] + 1, sizes[i])?);
            q.push(read(format!("aq{i}"), n_out, sizes[i])?);
        }
        let dac_x = Some(find(&circuit, path, "ax")?);
        let dac_t = Some(find(&circuit, path, "at")?);
        Ok(DfcCircuit {
            circuit,
            learn,
            sizes,
            acts,
            r_f,
            w,
            q,
            vx: Vec::new(),
            vxn: Vec::new(),
            vt: Vec::new(),
            dac_x,
            dac_t,
            tran,
            noise_fb: Vec::new(),
            en: None,
            reltol: None,
            // The simulator that read the crossbars has not run: it is the template.
            template: std::sync::OnceLock::from(Ok(sim)),
        })
    }

    fn set_dac(sim: &mut Simulator, e: usize, values: &[f64]) -> Result<(), SimError> {
        let dac = sim
            .device_mut(e)
            .and_then(crate::devices::array::dac_mut)
            .ok_or_else(|| SimError::BadElementUpdate {
                index: e,
                name: "dac".into(),
                message: "not a dac".into(),
            })?;
        dac.set_values(values)
            .map_err(|m| SimError::BadElementUpdate {
                index: e,
                name: "dac".into(),
                message: m,
            })
    }

    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Sets the input DACs to x (dimensionless).
    pub fn set_input(&self, sim: &mut Simulator, x: &[f64]) -> Result<(), SimError> {
        let vs = self.learn.vs;
        if let Some(e) = self.dac_x {
            DfcCircuit::set_dac(sim, e, x)?;
        }
        for (j, &xj) in x.iter().enumerate().take(self.vx.len()) {
            sim.set_source(self.vx[j], Waveform::Dc(xj * vs))?;
            sim.set_source(self.vxn[j], Waveform::Dc(-xj * vs))?;
        }
        Ok(())
    }

    /// Sets the output target r_L* (dimensionless).
    pub fn set_target(&self, sim: &mut Simulator, target: &[f64]) -> Result<(), SimError> {
        if let Some(e) = self.dac_t {
            DfcCircuit::set_dac(sim, e, target)?;
        }
        for (m, &t) in target.iter().enumerate().take(self.vt.len()) {
            sim.set_source(self.vt[m], Waveform::Dc(t * self.learn.vs))?;
        }
        Ok(())
    }

    /// Caps the transient's step (seconds), replacing the netlist's `.tran` tstep/tmax
    /// (which `dfcsim gen` sets for ngspice's fixed-output accuracy, τ_v/100).
    pub fn set_max_step(&mut self, seconds: f64) -> Result<(), CosimError> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(CosimError::Other(format!(
                "max step must be > 0 s, got {seconds}"
            )));
        }
        self.tran.tstep = seconds;
        self.tran.tmax = Some(seconds);
        Ok(())
    }

    /// Relative tolerance of the transients (Newton and truncation error), replacing the
    /// netlist's `.options reltol`.
    pub fn set_reltol(&mut self, reltol: f64) -> Result<(), CosimError> {
        if !(reltol > 0.0 && reltol < 1.0) {
            return Err(CosimError::Other(format!(
                "reltol must be in (0, 1), got {reltol}"
            )));
        }
        self.reltol = Some(reltol);
        Ok(())
    }

    /// The elaborated netlist (read-only: the compiled template is built from it).
    pub fn circuit(&self) -> &Circuit {
        &self.circuit
    }

    /// (reltol, largest step in seconds) of the transients.
    pub fn transient_accuracy(&self) -> (f64, Option<f64>) {
        (
            self.reltol.unwrap_or(self.circuit.options.reltol),
            self.tran.tmax,
        )
    }

    /// The ideal model's network with the circuit's current weights (W, b, Q).
    pub fn network(&self) -> Network {
        let layers = (0..self.layers())
            .map(|i| {
                let full = self.w[i].weights(self.r_f);
                let (n_out, n_in) = (self.sizes[i + 1], self.sizes[i]);
                let mut w = Mat::zeros(n_out, n_in);
                let mut b = vec![0.0; n_out];
                for k in 0..n_out {
                    w.data[k * n_in..(k + 1) * n_in]
                        .copy_from_slice(&full.data[k * (n_in + 1)..k * (n_in + 1) + n_in]);
                    b[k] = full.data[k * (n_in + 1) + n_in];
                }
                Layer {
                    w,
                    b,
                    q: self.q[i].weights(self.r_f),
                    act: self.acts[i],
                }
            })
            .collect();
        Network { layers }
    }

    /// A fresh simulator with the crossbars' current conductances.
    pub fn simulator(&self) -> Result<Simulator, CosimError> {
        let mut sim = self
            .template
            .get_or_init(|| Simulator::new(&self.circuit))
            .clone()
            .map_err(|e| CosimError::Sim {
                sample: 0,
                source: e,
            })?;
        if let Some(r) = self.reltol {
            sim.options.reltol = r;
        }
        for cb in self.w.iter().chain(&self.q) {
            cb.write_into(&mut sim).map_err(|e| CosimError::Sim {
                sample: 0,
                source: e,
            })?;
        }
        Ok(sim)
    }

    /// A simulator whose hardware noise sources (the netlist's TRNOISE sources) draw the
    /// realisation `noise_seed` instead of the netlist's `.options seed`: every transient
    /// of a training run sees fresh noise, reproducibly.
    pub fn simulator_with_noise(&self, noise_seed: u64) -> Result<Simulator, CosimError> {
        let mut sim = self.simulator()?;
        for (k, el) in self.circuit.elements.iter().enumerate() {
            let wave = match &el.kind {
                ElementKind::VoltageSource { wave, .. }
                | ElementKind::CurrentSource { wave, .. } => wave,
                _ => continue,
            };
            if let Waveform::TrNoise(t) = wave {
                let fresh = Waveform::TrNoise(t.with_seed(noise_seed, self.tran.tstop));
                sim.set_source(k, fresh).map_err(|e| CosimError::Sim {
                    sample: 0,
                    source: e,
                })?;
            }
        }
        Ok(sim)
    }
}

/// Seed of the hardware noise of one transient: distinct per (run seed, epoch, phase,
/// sample), where phase 0 is the forward phase and 1 + r the r-th feedback epoch. Salted so
/// that it never equals the feedback phase's own noise seed of the same indices.
pub fn hardware_noise_seed(seed: u64, epoch: usize, phase: usize, sample: usize) -> u64 {
    const SALT: u64 = 0x6A09_E667_F3BC_C908;
    let counter = ((epoch as u64) << 20) | phase as u64;
    crate::ideal::feedback::sample_seed(seed ^ SALT, counter, sample)
}

/// Figures of one sample's co-simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutcome {
    /// Feed-forward output r_L^− and target r_L* (dimensionless).
    pub r_ff: Vec<f64>,
    pub target: Vec<f64>,
    /// Sample loss at the feed-forward output (as the ideal model's `sample_loss`).
    pub loss: f64,
    /// ‖e(T)‖ / ‖r_L* − r_L^−‖.
    pub steady_state_error: f64,
    /// Settling time of ‖e‖ (units of τ_u, from the controller switch-on).
    pub settling_time: f64,
    /// ∫ Σ_sources v·i dt over the transient (J): net energy delivered by every source.
    pub source_energy_j: f64,
    /// ∫ Σ_cells G·ΔV² dt over the transient (J): dissipation in every crossbar.
    pub crossbar_energy_j: f64,
    /// Values digitised by the sense ADCs for the plasticity module (conversions).
    pub adc_conversions: u64,
    /// The circuit's (unclipped) per-sample gradient, ideal conventions.
    pub grad: ParamGrads,
    pub tran_points: usize,
    /// The transient (both phases), SI.
    pub waveforms: crate::waveform::Waveforms,
}

/// Node columns of one crossbar's row lines and column wires.
struct BarProbe {
    pos: Vec<Option<usize>>,
    neg: Vec<Option<usize>>,
    cols: Vec<Option<usize>>,
}

/// Columns of the probed signals in the engine's waveform rows ([time, unknowns…]).
struct Probes {
    r0: Vec<usize>,
    r: Vec<Vec<usize>>,
    vff: Vec<Vec<usize>>,
    e: Vec<usize>,
    /// Per crossbar (W_1, Q_1, W_2, …): row lines (+, −) and column wires (row columns;
    /// ground = None), for the dissipation.
    bars: Vec<BarProbe>,
    /// (branch column, p column, n column) of every voltage-type source; ground = None.
    sources: Vec<(usize, Option<usize>, Option<usize>)>,
}

impl Probes {
    fn new(dc: &DfcCircuit, sim: &Simulator) -> Result<Probes, CosimError> {
        let c = &dc.circuit;
        let lay = sim.layout();
        let col = |name: String| -> Result<usize, CosimError> {
            c.find_node(&name)
                .map(|n| lay.node(n) + 1)
                .ok_or_else(|| CosimError::Other(format!("node `{name}` not found")))
        };
        use crate::r#gen::nodes;
        let r0 = (0..dc.sizes[0])
            .map(|j| col(nodes::r(0, j)))
            .collect::<Result<_, _>>()?;
        let mut r = Vec::new();
        let mut vff = Vec::new();
        for i in 1..=dc.layers() {
            r.push(
                (0..dc.sizes[i])
                    .map(|k| col(nodes::r(i, k)))
                    .collect::<Result<_, _>>()?,
            );
            vff.push(
                (0..dc.sizes[i])
                    .map(|k| col(nodes::vff(i, k)))
                    .collect::<Result<_, _>>()?,
            );
        }
        let e = (0..dc.sizes[dc.layers()])
            .map(|m| col(nodes::e(m)))
            .collect::<Result<_, _>>()?;
        let node_col = |n: NodeId| (!n.is_ground()).then(|| lay.node(n) + 1);
        let named = |name: String| c.find_node(&name).and_then(node_col);
        let n_out = dc.sizes[dc.layers()];
        let mut bars = Vec::new();
        for i in 1..=dc.layers() {
            let mut pos: Vec<_> = (0..dc.sizes[i - 1])
                .map(|j| named(nodes::r(i - 1, j)))
                .collect();
            let mut neg: Vec<_> = (0..dc.sizes[i - 1])
                .map(|j| named(nodes::rn(i - 1, j)))
                .collect();
            pos.push(named(nodes::ONE.into()));
            neg.push(named(nodes::ONE_N.into()));
            let cols = (0..dc.sizes[i])
                .map(|k| named(nodes::col_ff(i, k)))
                .collect();
            bars.push(BarProbe { pos, neg, cols });
            bars.push(BarProbe {
                pos: (0..n_out).map(|m| named(nodes::u(m))).collect(),
                neg: (0..n_out).map(|m| named(nodes::un(m))).collect(),
                cols: (0..dc.sizes[i])
                    .map(|k| named(nodes::col_fb(i, k)))
                    .collect(),
            });
        }
        let sources = source_columns(c, sim);
        Ok(Probes {
            r0,
            r,
            vff,
            e,
            bars,
            sources,
        })
    }
}

/// Runs one sample on `sim` (which holds the current conductances) and integrates rule (5)
/// into `plast` (begin/end of sample included; `batch` is the minibatch size B).
pub fn run_sample(
    dc: &DfcCircuit,
    sim: &mut Simulator,
    plast: &mut Plasticity,
    x: &[f64],
    y: &[f64],
    batch: usize,
    sample: usize,
) -> Result<SampleOutcome, CosimError> {
    let ls = &dc.learn;
    let vs = ls.vs;
    let simerr = |e: SimError| CosimError::Sim { sample, source: e };
    // Periphery: the drivers' DAC levels, the sense amplifiers' ADC levels.
    let (dac, adc) = (ls.periphery.dac, ls.periphery.adc);
    let x_q: Vec<f64> = x.iter().map(|&v| dac.apply(v)).collect();
    let x = &x_q[..];
    let mut adc_conversions = 0u64;
    dc.set_input(sim, x).map_err(simerr)?;
    let probes = Probes::new(dc, sim)?;
    // Feed-forward settle phase: the controller is off (en = 0), so the operating point is
    // the feed-forward state; r_L* does not enter it.
    sim.operating_point(false).map_err(simerr)?;
    let sol = sim.solution();
    let l = dc.layers();
    let r_ff: Vec<f64> = probes.r[l - 1]
        .iter()
        .map(|&c| adc.apply(sol[c - 1] / vs))
        .collect();
    adc_conversions += r_ff.len() as u64;
    let mut g = vec![0.0; r_ff.len()];
    ls.loss.gradient(&r_ff, y, batch, &mut g);
    let target: Vec<f64> = r_ff
        .iter()
        .zip(&g)
        .map(|(r, gi)| dac.apply(r - ls.lambda * gi))
        .collect();
    dc.set_target(sim, &target).map_err(simerr)?;
    // When no source changes before the controller is switched on (no noise, DC drivers)
    // and nothing forces the initial state (`.ic`, `uic`), the operating point with the
    // target set holds until t_ff and the integration starts there, from a warm Newton
    // (the target only moves the error nodes). Otherwise the transient runs from time 0
    // as the netlist says.
    let t_on = ls.t_ff_s;
    let rests = t_on > 0.0
        && t_on < dc.tran.tstop
        && !dc.tran.uic
        && !sim.has_initial_conditions()
        && sim.quiescent_until(t_on);
    let (res, err) = if rests {
        sim.operating_point(true).map_err(simerr)?;
        let x_op = sim.solution().to_vec();
        sim.run_tran_from(&dc.tran, &x_op, t_on)
    } else {
        sim.run_tran(&dc.tran)
    };
    if let Some(e) = err {
        return Err(simerr(e));
    }
    let wf = &res.waveforms;
    let rows = wf.rows();
    // Rule (5) over the controlled phase, on the solver's accepted time points.
    let t_end = ls.t_ff_s + ls.t_ctl_s;
    let mut phi_v: Vec<Vec<f64>> = dc.sizes[1..].iter().map(|&n| vec![0.0; n]).collect();
    let mut v_ff = phi_v.clone();
    let mut r_prev: Vec<Vec<f64>> = dc.sizes[..l].iter().map(|&n| vec![0.0; n]).collect();
    let mut e_norm: Vec<(f64, f64)> = Vec::new();
    plast.begin_sample();
    let (mut energy, mut crossbar_energy) = (0.0, 0.0);
    let mut prev_power: Option<(f64, f64, f64)> = None;
    for p in 0..rows {
        let row = wf.row(p);
        let t = row[0];
        let power: f64 = probes
            .sources
            .iter()
            .map(|&(b, pc, nc)| {
                let v = pc.map_or(0.0, |c| row[c]) - nc.map_or(0.0, |c| row[c]);
                -v * row[b]
            })
            .sum();
        let at = |c: Option<usize>| c.map_or(0.0, |c| row[c]);
        let bar_power: f64 = probes
            .bars
            .iter()
            .zip(dc.w.iter().zip(&dc.q).flat_map(|(w, q)| [w, q]))
            .map(|(bp, cb)| {
                crate::r#gen::periphery::crossbar_power(
                    |j| at(bp.pos[j]),
                    |j| at(bp.neg[j]),
                    |k| at(bp.cols[k]),
                    &cb.gp,
                    &cb.gn,
                    cb.cols,
                )
            })
            .sum();
        if let Some((t0, p0, b0)) = prev_power {
            energy += 0.5 * (t - t0) * (p0 + power);
            crossbar_energy += 0.5 * (t - t0) * (b0 + bar_power);
        }
        prev_power = Some((t, power, bar_power));
        if t < t_on * (1.0 - 1e-12) || t > t_end * (1.0 + 1e-12) {
            continue;
        }
        for i in 0..l {
            for (k, &c) in probes.r[i].iter().enumerate() {
                phi_v[i][k] = adc.apply(row[c] / vs);
            }
            for (k, &c) in probes.vff[i].iter().enumerate() {
                v_ff[i][k] = adc.apply(row[c] / vs);
            }
            adc_conversions += (probes.r[i].len() + probes.vff[i].len()) as u64;
        }
        for (j, &c) in probes.r0.iter().enumerate() {
            r_prev[0][j] = row[c] / vs;
        }
        for i in 1..l {
            r_prev[i].copy_from_slice(&phi_v[i - 1]);
        }
        let tau = t / ls.tau_u;
        plast.add(&TimePoint {
            t: tau,
            phi_v: &phi_v,
            v_ff: &v_ff,
            r_prev: &r_prev,
        });
        let en: f64 = probes
            .e
            .iter()
            .map(|&c| (row[c] / vs).powi(2))
            .sum::<f64>()
            .sqrt();
        e_norm.push((tau - t_on / ls.tau_u, en));
    }
    if !plast.end_sample(1) {
        return Err(CosimError::Other(format!(
            "sample {sample}: the transient has no points in the controlled phase"
        )));
    }
    let mut grad = plast.take();
    grad.scale(1.0 / batch as f64);
    let delta: f64 = target
        .iter()
        .zip(&r_ff)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let (steady_state_error, settling_time) = settling(&e_norm, delta);
    Ok(SampleOutcome {
        loss: ls.loss.sample_loss(&r_ff, y),
        r_ff,
        target,
        steady_state_error,
        settling_time,
        source_energy_j: energy,
        crossbar_energy_j: crossbar_energy,
        adc_conversions,
        grad,
        tran_points: rows,
        waveforms: res.waveforms,
    })
}

/// (‖e(T)‖/δ, settling time): the first time after which ‖e(t)‖ stays within 2 % of δ of
/// its final value (DESIGN.md §6). The band crossing is interpolated linearly between the
/// accepted time points around it, so that the figure does not jump with the solver's step
/// size (the points are up to a τ_u apart once the controller has settled).
pub fn settling(e_norm: &[(f64, f64)], delta: f64) -> (f64, f64) {
    let Some(&(_, e_end)) = e_norm.last() else {
        return (f64::NAN, f64::NAN);
    };
    if delta <= 0.0 {
        return (f64::NAN, 0.0);
    }
    let band = 0.02 * delta;
    let mut settle = e_norm[0].0;
    for w in e_norm.windows(2).rev() {
        let ((t0, e0), (t1, e1)) = (w[0], w[1]);
        let (d0, d1) = (e0 - e_end, e1 - e_end);
        if d0.abs() > band {
            // d(t) = ‖e(t)‖ − ‖e(T)‖ leaves the band [−band, band] between t0 and t1.
            let edge = band.copysign(d0);
            let frac = ((d0 - edge) / (d0 - d1)).clamp(0.0, 1.0);
            settle = t0 + frac * (t1 - t0);
            break;
        }
    }
    (e_end / delta, settle)
}

/// Devices of the plastic crossbars: one [`DeviceArray`] for all G⁺ and one for all G⁻ of
/// each crossbar, index = the crossbar's row-major entry.
#[derive(Debug, Clone)]
pub struct CrossbarDevices {
    pub plus: DeviceArray,
    pub minus: DeviceArray,
}

/// The device model's parameters with the crossbar's conductance range (g_min from the
/// netlist's smallest conductance, so that G_min of `dfcsim gen` maps to the same value).
pub fn device_params_for(base: &DeviceParams, cb: &Crossbar) -> DeviceParams {
    let gmin = cb
        .gp
        .iter()
        .chain(&cb.gn)
        .fold(f64::INFINITY, |a, &b| a.min(b));
    let gmax = cb.gp.iter().chain(&cb.gn).fold(0.0f64, |a, &b| a.max(b));
    let mut p = base.clone();
    if base.kind == crate::learn::device::DeviceKind::Ideal {
        p.g_min = gmin;
        p.g_max = p.g_max.max(gmax).max(gmin * 2.0 + 1e-9);
    }
    p
}

impl CrossbarDevices {
    /// Devices programmed to the crossbar's conductances. `d2d_rng` draws the
    /// device-to-device parameters (same seed, same devices).
    pub fn new(params: &DeviceParams, cb: &Crossbar, d2d_rng: &mut ChaCha8Rng) -> CrossbarDevices {
        let n = cb.rows * cb.cols;
        let mut plus = DeviceArray::new(params, n, d2d_rng);
        let mut minus = DeviceArray::new(params, n, d2d_rng);
        for k in 0..n {
            plus.set_weight(k, params.conductance_to_weight(cb.gp[k]), d2d_rng);
            minus.set_weight(k, params.conductance_to_weight(cb.gn[k]), d2d_rng);
        }
        CrossbarDevices { plus, minus }
    }

    /// Programs the weight changes `dw` (row-major like the crossbar, network units) and
    /// reads the new conductances into `cb`. Returns the number of pulses.
    pub fn program(
        &mut self,
        cb: &mut Crossbar,
        r_f: f64,
        dw: &[f64],
        rng: &mut ChaCha8Rng,
        scratch: &mut (Vec<f64>, Vec<f64>),
    ) -> u64 {
        let p = self.plus.params();
        let d_per_g = (p.w_max - p.w_min) / (p.g_max - p.g_min);
        let (dp, dn) = scratch;
        dp.resize(dw.len(), 0.0);
        dn.resize(dw.len(), 0.0);
        for k in 0..dw.len() {
            let w = r_f * (cb.gp[k] - cb.gn[k]);
            let w1 = w + dw[k];
            dp[k] = (w1.max(0.0) - w.max(0.0)) / r_f * d_per_g;
            dn[k] = ((-w1).max(0.0) - (-w).max(0.0)) / r_f * d_per_g;
        }
        let pulses = self.plus.program_deltas(dp, rng) + self.minus.program_deltas(dn, rng);
        self.plus.read_conductances(rng, &mut cb.gp);
        self.minus.read_conductances(rng, &mut cb.gn);
        // Write and read noise can carry a read value below zero; a conductance cannot be.
        for g in cb.gp.iter_mut().chain(cb.gn.iter_mut()) {
            *g = g.max(G_FLOOR);
        }
        pulses
    }
}

/// Result of comparing one sample's circuit update with the ideal model's.
#[derive(Debug, Clone, PartialEq)]
pub struct IdealComparison {
    pub angle_deg: f64,
    pub ideal: ParamGrads,
}

/// The ideal model's DFC (or DFC-SS) per-sample update for the same weights and sample.
pub fn ideal_update(
    net: &Network,
    spec: &LearnSpec,
    x: &[f64],
    y: &[f64],
    batch: usize,
) -> ParamGrads {
    let xs = [x];
    let ys = [y];
    let bf = dfc::forward_batch(net, &xs, &ys, spec.loss, spec.lambda);
    // forward_batch uses B = 1 for the target; rescale the loss gradient to the minibatch.
    let mut bf = bf;
    let rl = bf.ff[0].r.last().unwrap().clone();
    let mut g = vec![0.0; rl.len()];
    spec.loss.gradient(&rl, y, batch, &mut g);
    bf.targets[0] = rl
        .iter()
        .zip(&g)
        .map(|(r, gi)| r - spec.lambda * gi)
        .collect();
    let p = spec.ideal_params();
    let mut out = match spec.rule {
        Rule::Dfc => dfc::simulate_batch(net, &xs, &bf, &p, true, &[])
            .dfc
            .unwrap(),
        Rule::DfcSs => {
            let sim = dfc::simulate_batch(net, &xs, &bf, &p, false, &[]);
            dfc::ss_update(net, &xs, &sim.finals)
        }
    };
    out.scale(1.0 / batch as f64);
    out
}

/// Angle between the circuit's and the ideal model's updates of one sample.
pub fn compare_with_ideal(
    net: &Network,
    spec: &LearnSpec,
    x: &[f64],
    y: &[f64],
    batch: usize,
    circuit_grad: &ParamGrads,
) -> IdealComparison {
    let ideal = ideal_update(net, spec, x, y, batch);
    IdealComparison {
        angle_deg: angle_deg(circuit_grad, &ideal),
        ideal,
    }
}

/// Applies a minibatch gradient: SGD step of the ideal model (per-tensor clip, η = lr/λ),
/// turned into device pulses on the plastic crossbars. Returns the pulse count.
pub fn apply_update(
    dc: &mut DfcCircuit,
    devices: &mut [Option<CrossbarDevices>],
    grad: ParamGrads,
    rng: &mut ChaCha8Rng,
) -> u64 {
    let step = sgd_step(grad, dc.learn.lr, dc.learn.lambda, true, dc.learn.clip);
    let mut pulses = 0;
    let mut scratch = (Vec::new(), Vec::new());
    for i in 0..dc.layers() {
        let Some(dev) = devices[i].as_mut() else {
            continue;
        };
        let cb = &mut dc.w[i];
        let n_in = dc.sizes[i];
        // crossbar layout [row j][col k]; the update is W (k, j) and b (k) as row j = n_in.
        let mut dw = vec![0.0; cb.rows * cb.cols];
        for k in 0..cb.cols {
            for j in 0..n_in {
                dw[j * cb.cols + k] = step.w[i].data[k * n_in + j];
            }
            dw[n_in * cb.cols + k] = step.b[i][k];
        }
        pulses += dev.program(cb, dc.r_f, &dw, rng, &mut scratch);
    }
    pulses
}

/// Wall-clock helper for per-sample timing.
pub fn seconds_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// Training: epochs over student-teacher data, metrics, checkpoints, resume.
// ---------------------------------------------------------------------------------------

/// What `dfcsim train` runs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    /// Seed of the data, the devices and the programming noise.
    pub seed: u64,
    /// Training samples per epoch (the first N of the training set).
    pub samples: usize,
    /// Test samples (loss by the ideal model's forward pass on the circuit's weights).
    pub test_samples: usize,
    /// Minibatch size (updates buffered over B samples); 1 = per-sample application.
    pub batch: usize,
    /// Conductance device model of the plastic crossbars.
    pub device: DeviceParams,
    /// Energy per DAC/ADC conversion (J); 0 until the periphery models carry one.
    pub conversion_energy_j: f64,
    /// Training-set indices whose transients are written, each epoch, as
    /// `waveform_dir/epoch_EEEE_sample_S.csv` (SI, every node and branch).
    pub waveform_samples: Vec<usize>,
    pub waveform_dir: Option<std::path::PathBuf>,
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean sample loss at the circuit's feed-forward outputs during the epoch.
    pub train_loss: f64,
    pub test_loss: f64,
    /// Test error in percent (classification only).
    pub test_error: Option<f64>,
    /// Mean angle between the circuit's and the ideal model's per-sample updates.
    pub update_angle_deg: f64,
    /// Mean ‖e(T)‖ / ‖r_L* − r_L^−‖.
    pub steady_state_error: f64,
    /// Mean settling time, in τ_u and in seconds.
    pub settling_time_tau: f64,
    pub settling_time_s: f64,
    /// Energy per sample (J): sources, programming pulses, conversions, total.
    pub energy_sources_j: f64,
    pub energy_programming_j: f64,
    pub energy_conversion_j: f64,
    pub energy_total_j: f64,
    pub pulses: u64,
    /// Energy breakdown per sample (J), summed in `energy_total_j`: op-amps' quiescent
    /// power × sample time, DAC and ADC conversions, crossbar dissipation (from the
    /// waveforms) and programming pulses (`energy_programming_j`); `energy_sources_j` is
    /// reported apart (it already contains the crossbars' dissipation).
    #[serde(default)]
    pub energy_static_j: f64,
    #[serde(default)]
    pub energy_dac_j: f64,
    #[serde(default)]
    pub energy_adc_j: f64,
    #[serde(default)]
    pub energy_crossbar_j: f64,
    pub seconds: f64,
    /// Wall time per sample: circuit co-simulation, and the ideal model's DFC update.
    pub circuit_s_per_sample: f64,
    pub ideal_s_per_sample: f64,
    /// Condition 2 (paper §6.1) of the circuit's weights at the epoch's end, mean over the
    /// first ≤ 32 training samples.
    #[serde(default)]
    pub condition_2: f64,
    /// Feedback phase: mean angle between the circuit's and the ideal model's rule-(13)
    /// minibatch gradients (same weights, same noise; none without a feedback phase), sleep
    /// samples run, and wall time per sleep sample of circuit and ideal model.
    #[serde(default)]
    pub fb_angle_deg: Option<f64>,
    #[serde(default)]
    pub fb_samples: usize,
    #[serde(default)]
    pub fb_circuit_s_per_sample: f64,
    #[serde(default)]
    pub fb_ideal_s_per_sample: f64,
    /// Mean angle between the weight change the devices made (read back after programming)
    /// and the ideal model's SGD step for the same minibatch (same weights, lr, clipping).
    #[serde(default)]
    pub programmed_angle_deg: f64,
    /// Mean ‖programmed weight change‖ / ‖ideal SGD step‖ per minibatch: the devices'
    /// effective learning-rate gain (1 = ideal).
    #[serde(default)]
    pub programmed_step_ratio: f64,
    /// Mean component of the programmed change along the ideal SGD step, in units of that
    /// step (ratio × cos angle; 1 = ideal): the learning-rate gain along the ideal direction.
    #[serde(default)]
    pub programmed_step_along: f64,
}

pub const METRICS_HEADER: &str = "epoch,train_loss,test_loss,test_error,update_angle_deg,\
steady_state_error,settling_time_tau,settling_time_s,energy_sources_j,energy_programming_j,\
energy_conversion_j,energy_total_j,pulses,seconds,circuit_s_per_sample,ideal_s_per_sample,\
energy_static_j,energy_dac_j,energy_adc_j,energy_crossbar_j,\
condition_2,fb_angle_deg,fb_samples,fb_circuit_s_per_sample,fb_ideal_s_per_sample,\
programmed_angle_deg,programmed_step_ratio,programmed_step_along";

impl EpochMetrics {
    pub fn csv_row(&self) -> String {
        let f = |x: f64| format!("{x:.10e}");
        [
            self.epoch.to_string(),
            f(self.train_loss),
            f(self.test_loss),
            self.test_error.map_or(String::new(), f),
            f(self.update_angle_deg),
            f(self.steady_state_error),
            f(self.settling_time_tau),
            f(self.settling_time_s),
            f(self.energy_sources_j),
            f(self.energy_programming_j),
            f(self.energy_conversion_j),
            f(self.energy_total_j),
            self.pulses.to_string(),
            f(self.seconds),
            f(self.circuit_s_per_sample),
            f(self.ideal_s_per_sample),
            f(self.energy_static_j),
            f(self.energy_dac_j),
            f(self.energy_adc_j),
            f(self.energy_crossbar_j),
            f(self.condition_2),
            self.fb_angle_deg.map_or(String::new(), f),
            self.fb_samples.to_string(),
            f(self.fb_circuit_s_per_sample),
            f(self.fb_ideal_s_per_sample),
            f(self.programmed_angle_deg),
            f(self.programmed_step_ratio),
            f(self.programmed_step_along),
        ]
        .join(",")
    }
}

/// The data of a run: the reference student-teacher task for the toy 15-…-5 network
/// (teacher 15-1000⁴-5, as `dfcsim ideal`), a smaller teacher (two hidden layers of 32)
/// otherwise. Inputs uniform in [−1, 1].
pub fn student_teacher_data(
    sizes: &[usize],
    seed: u64,
    samples: usize,
    test: usize,
) -> crate::ideal::data::Splits {
    let (n_in, n_out) = (sizes[0], *sizes.last().unwrap());
    if n_in == 15 && n_out == 5 && samples <= 5000 && test <= 1000 {
        crate::ideal::data::student_teacher(seed)
    } else {
        crate::ideal::data::student_teacher_sized(seed, n_in, &[32, 32], n_out, [samples, 0, test])
    }
}

/// A conductance checkpoint: every plastic crossbar's conductances and device weights,
/// stored as f64 bit patterns so that a resumed run continues bit-identically.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub epoch: usize,
    pub seed: u64,
    pub crossbars: Vec<CrossbarState>,
    /// Metrics rows of the epochs done so far.
    pub metrics: Vec<EpochMetrics>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossbarState {
    pub name: String,
    /// Conductances (S) as f64 bits, row-major.
    pub gp_bits: Vec<u64>,
    pub gn_bits: Vec<u64>,
    /// Devices' persistent weights as f64 bits.
    pub dev_plus_bits: Vec<u64>,
    pub dev_minus_bits: Vec<u64>,
    /// Devices' whole mutable state ([`DeviceArray::state_bits`]: weights, write-noise
    /// offsets, programming times, clock); empty in checkpoints of older versions.
    #[serde(default)]
    pub dev_plus_state: Vec<u64>,
    #[serde(default)]
    pub dev_minus_state: Vec<u64>,
}

impl CrossbarState {
    fn of(cb: &Crossbar, d: &CrossbarDevices) -> CrossbarState {
        CrossbarState {
            name: cb.name.clone(),
            gp_bits: bits(cb.gp.iter().copied()),
            gn_bits: bits(cb.gn.iter().copied()),
            dev_plus_bits: bits((0..d.plus.len()).map(|k| d.plus.persistent_weight(k))),
            dev_minus_bits: bits((0..d.minus.len()).map(|k| d.minus.persistent_weight(k))),
            dev_plus_state: d.plus.state_bits(),
            dev_minus_state: d.minus.state_bits(),
        }
    }

    /// Puts this state back into the crossbar and its devices (if plastic).
    fn restore(
        &self,
        cb: &mut Crossbar,
        dev: Option<&mut CrossbarDevices>,
        restore_rng: &mut ChaCha8Rng,
    ) -> Result<(), CosimError> {
        let n = cb.gp.len();
        if [&self.gp_bits, &self.gn_bits].iter().any(|v| v.len() != n) {
            return Err(CosimError::Other(format!(
                "checkpoint crossbar {}: {} entries, the netlist has {n}",
                self.name,
                self.gp_bits.len()
            )));
        }
        cb.gp = self.gp_bits.iter().map(|&b| f64::from_bits(b)).collect();
        cb.gn = self.gn_bits.iter().map(|&b| f64::from_bits(b)).collect();
        let Some(dev) = dev else {
            return Ok(());
        };
        let bad = |m: String| CosimError::Other(format!("checkpoint crossbar {}: {m}", self.name));
        if !self.dev_plus_state.is_empty() || !self.dev_minus_state.is_empty() {
            dev.plus
                .restore_state_bits(&self.dev_plus_state)
                .map_err(bad)?;
            dev.minus
                .restore_state_bits(&self.dev_minus_state)
                .map_err(bad)?;
            return Ok(());
        }
        // Older checkpoints: persistent weights only (write noise drawn anew).
        for (k, &b) in self.dev_plus_bits.iter().enumerate().take(n) {
            dev.plus.set_weight(k, f64::from_bits(b), restore_rng);
        }
        for (k, &b) in self.dev_minus_bits.iter().enumerate().take(n) {
            dev.minus.set_weight(k, f64::from_bits(b), restore_rng);
        }
        Ok(())
    }
}

fn bits(v: impl Iterator<Item = f64>) -> Vec<u64> {
    v.map(f64::to_bits).collect()
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> CosimError {
    CosimError::Other(format!("{}: {e}", path.display()))
}

/// Path of epoch `e`'s checkpoint in `dir`.
pub fn checkpoint_path(dir: &Path, epoch: usize) -> std::path::PathBuf {
    dir.join("checkpoints")
        .join(format!("epoch_{epoch:04}.json"))
}

/// The newest checkpoint in `dir`, if any.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, CosimError> {
    let cdir = dir.join("checkpoints");
    let Ok(rd) = std::fs::read_dir(&cdir) else {
        return Ok(None);
    };
    let mut best: Option<(usize, std::path::PathBuf)> = None;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(n) = name
            .strip_prefix("epoch_")
            .and_then(|s| s.strip_suffix(".json"))
            .and_then(|s| s.parse::<usize>().ok())
            && best.as_ref().is_none_or(|(b, _)| n > *b)
        {
            best = Some((n, e.path()));
        }
    }
    let Some((_, path)) = best else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| io_err(&path, e))
}

/// Outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainRun {
    pub rows: Vec<EpochMetrics>,
    pub first_epoch: usize,
    pub samples: usize,
    pub test_samples: usize,
    /// Test loss of the weights training started from: the netlist's weights as the
    /// devices hold them after programming (clipping, device-to-device bounds, write noise),
    /// or the resumed checkpoint's.
    pub initial_test_loss: f64,
}

/// Trains the circuit's plastic crossbars for `opts.epochs` epochs (continuing after
/// `resume`'s epoch if given), calling `on_epoch` with each new row and its checkpoint.
///
/// Each epoch: (when Q is plastic) the feedback-only pre-training epochs (first epoch
/// only) and the card's feedback epochs, then one forward epoch. The samples of a
/// minibatch run in parallel (rayon), each on a fresh simulator built from the current
/// conductances, and their updates are summed in sample order: the result does not depend
/// on the thread count.
///
/// Bit-identical resume: every RNG is derived from (seed, epoch[, phase]) at the epoch's
/// start — the device-to-device draws from the seed alone — so the state carried between
/// epochs is the conductances and the devices' mutable state (persistent weights,
/// write-noise offsets, programming times, clock), all stored bit-exactly in the checkpoint.
pub fn train(
    dc: &mut DfcCircuit,
    opts: &TrainOptions,
    resume: Option<Checkpoint>,
    on_epoch: impl FnMut(&EpochMetrics, &Checkpoint) -> Result<(), CosimError>,
) -> Result<TrainRun, CosimError> {
    let splits = student_teacher_data(&dc.sizes, opts.seed, opts.samples, opts.test_samples);
    train_on(dc, opts, &splits, resume, on_epoch)
}

/// [`train`] on given data (the first `opts.samples` training and `opts.test_samples` test
/// samples of `splits`), so that several runs can share one data set.
pub fn train_on(
    dc: &mut DfcCircuit,
    opts: &TrainOptions,
    splits: &crate::ideal::data::Splits,
    resume: Option<Checkpoint>,
    mut on_epoch: impl FnMut(&EpochMetrics, &Checkpoint) -> Result<(), CosimError>,
) -> Result<TrainRun, CosimError> {
    let n_train = opts.samples.min(splits.train.len());
    let n_test = opts.test_samples.min(splits.test.len());
    if n_train == 0 {
        return Err(CosimError::Other("no training samples".into()));
    }
    let test = crate::ideal::data::Dataset {
        x: Mat::from_rows(
            &(0..n_test)
                .map(|k| splits.test.x.row(k).to_vec())
                .collect::<Vec<_>>(),
        ),
        y: Mat::from_rows(
            &(0..n_test)
                .map(|k| splits.test.y.row(k).to_vec())
                .collect::<Vec<_>>(),
        ),
    };
    let plastic: Vec<bool> = (1..=dc.layers())
        .map(|i| dc.learn.plastic.is_empty() || dc.learn.plastic.contains(&format!("w{i}")))
        .collect();
    let plastic_q: Vec<bool> = (1..=dc.layers())
        .map(|i| dc.learn.sleep.is_some() && dc.learn.plastic.contains(&format!("q{i}")))
        .collect();
    let mut d2d = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xD2D0_5EED);
    let mut devices: Vec<Option<CrossbarDevices>> =
        dc.w.iter()
            .zip(&plastic)
            .map(|(cb, &p)| {
                p.then(|| CrossbarDevices::new(&device_params_for(&opts.device, cb), cb, &mut d2d))
            })
            .collect();
    let mut devices_q: Vec<Option<CrossbarDevices>> =
        dc.q.iter()
            .zip(&plastic_q)
            .map(|(cb, &p)| {
                p.then(|| CrossbarDevices::new(&device_params_for(&opts.device, cb), cb, &mut d2d))
            })
            .collect();
    let mut rows = Vec::new();
    let mut first_epoch = 1;
    if let Some(ck) = resume {
        if ck.seed != opts.seed {
            return Err(CosimError::Other(format!(
                "checkpoint of seed {} cannot resume a run of seed {}",
                ck.seed, opts.seed
            )));
        }
        let mut restore_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x4E57_0BE5);
        for st in &ck.crossbars {
            let (cb, dev) = if let Some(i) = dc.w.iter().position(|c| c.name == st.name) {
                (&mut dc.w[i], devices[i].as_mut())
            } else if let Some(i) = dc.q.iter().position(|c| c.name == st.name) {
                (&mut dc.q[i], devices_q[i].as_mut())
            } else {
                return Err(CosimError::Other(format!(
                    "checkpoint crossbar {} not in the netlist",
                    st.name
                )));
            };
            st.restore(cb, dev, &mut restore_rng)?;
        }
        first_epoch = ck.epoch + 1;
        rows = ck.metrics;
    } else {
        // The circuit starts from what the devices (W and plastic Q) hold after programming
        // the netlist's weights (clipped into their bounds, write noise), not from the
        // netlist's values.
        let mut read_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x1417_AD0B);
        let bars = dc.w.iter_mut().chain(dc.q.iter_mut());
        for (cb, dev) in bars.zip(devices.iter().chain(&devices_q)) {
            if let Some(dev) = dev {
                dev.plus.read_conductances(&mut read_rng, &mut cb.gp);
                dev.minus.read_conductances(&mut read_rng, &mut cb.gn);
                for g in cb.gp.iter_mut().chain(cb.gn.iter_mut()) {
                    *g = g.max(G_FLOOR);
                }
            }
        }
    }
    let initial_test_loss = crate::ideal::train::evaluate(&dc.network(), &test, dc.learn.loss).0;
    let batch = opts.batch.max(1);
    let pulse_energy = opts.device.pulse_energy;
    let conversions_per_sample = (dc.sizes[0] + 2 * dc.sizes[dc.layers()]) as f64;
    let c2_samples: Vec<&[f64]> = (0..n_train.min(32))
        .map(|s| splits.train.x.row(s))
        .collect();
    for epoch in first_epoch..=opts.epochs {
        let t_epoch = Instant::now();
        let mut prog_rng = ChaCha8Rng::seed_from_u64(
            opts.seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(epoch as u64),
        );
        // Feedback ("sleep") phase.
        let mut fb = SleepStats::default();
        if let Some(spec) = dc.learn.sleep.clone()
            && plastic_q.iter().any(|&p| p)
        {
            let mut q_rng = ChaCha8Rng::seed_from_u64(
                opts.seed ^ 0x51EE_0F0B ^ 0xD6E8_FEB8_6659_FD93u64.wrapping_mul(epoch as u64),
            );
            let mut lrs = Vec::new();
            if epoch == 1 {
                lrs.extend(std::iter::repeat_n(spec.lr_init, spec.epochs_init));
            }
            lrs.extend(std::iter::repeat_n(spec.lr, spec.epochs_per_epoch));
            for (run, &lr) in lrs.iter().enumerate() {
                let ctx = SleepEpoch {
                    spec: &spec,
                    set: &splits.train,
                    n: n_train,
                    seed: opts.seed,
                    epoch,
                    run,
                    lr,
                };
                sleep_epoch(dc, &ctx, &mut devices_q, &mut q_rng, &mut fb)?;
            }
        }
        // Forward ("wake") phase.
        let (mut loss_sum, mut angle_sum, mut angle_n) = (0.0, 0.0, 0usize);
        let (mut sse_sum, mut settle_sum, mut energy_sum) = (0.0, 0.0, 0.0);
        let (mut crossbar_sum, mut adc_sum) = (0.0, 0u64);
        let (mut pulses, mut t_circuit, mut t_ideal) = (fb.pulses, 0.0, 0.0);
        let (mut prog_angle_sum, mut prog_ratio_sum, mut prog_n) = (0.0, 0.0, 0usize);
        let mut prog_along_sum = 0.0;
        let order: Vec<usize> = (0..n_train).collect();
        for chunk in order.chunks(batch) {
            let net = dc.network();
            let dcr: &DfcCircuit = dc;
            let outs = par_samples(chunk, |_, s| {
                let (x, y) = (splits.train.x.row(s), splits.train.y.row(s));
                let t0 = Instant::now();
                let mut sim =
                    dcr.simulator_with_noise(hardware_noise_seed(opts.seed, epoch, 0, s))?;
                let mut plast = Plasticity::new(&dcr.sizes, &dcr.acts, dcr.learn.rule);
                let mut out = run_sample(dcr, &mut sim, &mut plast, x, y, chunk.len(), s)?;
                let tc = seconds_since(t0);
                if !opts.waveform_samples.contains(&s) {
                    out.waveforms = Default::default();
                }
                let t1 = Instant::now();
                let cmp = compare_with_ideal(&net, &dcr.learn, x, y, chunk.len(), &out.grad);
                Ok((out, cmp.angle_deg, cmp.ideal, tc, seconds_since(t1)))
            })?;
            let mut sum: Option<ParamGrads> = None;
            let mut ideal_sum: Option<ParamGrads> = None;
            for ((out, angle, ideal, tc, ti), &s) in outs.into_iter().zip(chunk) {
                if let Some(wdir) = opts
                    .waveform_dir
                    .as_ref()
                    .filter(|_| opts.waveform_samples.contains(&s))
                {
                    let path = wdir.join(format!("epoch_{epoch:04}_sample_{s}.csv"));
                    crate::output::csv::write(&path, &out.waveforms)
                        .map_err(|e| io_err(&path, e))?;
                }
                t_circuit += tc;
                t_ideal += ti;
                if angle.is_finite() {
                    angle_sum += angle;
                    angle_n += 1;
                }
                match ideal_sum.as_mut() {
                    None => ideal_sum = Some(ideal),
                    Some(a) => a.add_assign(&ideal),
                }
                loss_sum += out.loss;
                sse_sum += out.steady_state_error;
                settle_sum += out.settling_time;
                energy_sum += out.source_energy_j;
                crossbar_sum += out.crossbar_energy_j;
                adc_sum += out.adc_conversions;
                match sum.as_mut() {
                    None => sum = Some(out.grad),
                    Some(a) => a.add_assign(&out.grad),
                }
            }
            let t0 = Instant::now();
            pulses += apply_update(
                dc,
                &mut devices,
                sum.expect("non-empty chunk"),
                &mut prog_rng,
            );
            if let Some(ideal) = ideal_sum {
                let (angle, ratio) = programmed_vs_ideal(dc, &net, ideal, &plastic);
                if angle.is_finite() && ratio.is_finite() {
                    prog_angle_sum += angle;
                    prog_ratio_sum += ratio;
                    prog_along_sum += ratio * angle.to_radians().cos();
                    prog_n += 1;
                }
            }
            t_circuit += seconds_since(t0);
        }
        let n = n_train as f64;
        let net = dc.network();
        let (test_loss, test_error) = crate::ideal::train::evaluate(&net, &test, dc.learn.loss);
        let e_prog = pulses as f64 * pulse_energy / n;
        let per = &dc.learn.periphery;
        let e_static = per.static_power_w * (dc.learn.t_ff_s + dc.learn.t_ctl_s);
        let e_dac = (dc.sizes[0] + dc.sizes[dc.layers()]) as f64 * per.dac_energy_j;
        let e_adc = adc_sum as f64 / n * per.adc_energy_j;
        let e_crossbar = crossbar_sum / n;
        let e_conv = conversions_per_sample * opts.conversion_energy_j + e_dac + e_adc;
        let fb_samples = fb.samples.max(1) as f64;
        let row = EpochMetrics {
            epoch,
            train_loss: loss_sum / n,
            test_loss,
            test_error,
            update_angle_deg: if angle_n > 0 {
                angle_sum / angle_n as f64
            } else {
                f64::NAN
            },
            steady_state_error: sse_sum / n,
            settling_time_tau: settle_sum / n,
            settling_time_s: settle_sum / n * dc.learn.tau_u,
            energy_sources_j: (energy_sum + fb.energy_j) / n,
            energy_programming_j: e_prog,
            energy_conversion_j: e_conv,
            // The sleep phase's source energy (its dissipation), per training sample.
            energy_total_j: e_static + e_crossbar + e_prog + e_conv + fb.energy_j / n,
            pulses,
            seconds: seconds_since(t_epoch),
            circuit_s_per_sample: t_circuit / n,
            ideal_s_per_sample: t_ideal / n,
            energy_static_j: e_static,
            energy_dac_j: e_dac,
            energy_adc_j: e_adc,
            energy_crossbar_j: e_crossbar,
            condition_2: sleep::condition_2(&net, &c2_samples),
            fb_angle_deg: (fb.angle_n > 0).then(|| fb.angle_sum / fb.angle_n as f64),
            fb_samples: fb.samples,
            fb_circuit_s_per_sample: fb.t_circuit / fb_samples,
            fb_ideal_s_per_sample: fb.t_ideal / fb_samples,
            programmed_angle_deg: mean_or_nan(prog_angle_sum, prog_n),
            programmed_step_ratio: mean_or_nan(prog_ratio_sum, prog_n),
            programmed_step_along: mean_or_nan(prog_along_sum, prog_n),
        };
        rows.push(row.clone());
        let mut crossbars = Vec::new();
        for (cb, d) in dc.w.iter().zip(&devices).chain(dc.q.iter().zip(&devices_q)) {
            if let Some(d) = d {
                crossbars.push(CrossbarState::of(cb, d));
            }
        }
        let ck = Checkpoint {
            epoch,
            seed: opts.seed,
            crossbars,
            metrics: rows.clone(),
        };
        on_epoch(&row, &ck)?;
        if !row.train_loss.is_finite() {
            break;
        }
    }
    Ok(TrainRun {
        rows,
        first_epoch,
        samples: n_train,
        test_samples: n_test,
        initial_test_loss,
    })
}

/// Runs `f(position, sample)` for every sample of a minibatch in parallel (rayon) and
/// returns the results in minibatch order.
pub fn par_samples<T: Send>(
    chunk: &[usize],
    f: impl Fn(usize, usize) -> Result<T, CosimError> + Sync + Send,
) -> Result<Vec<T>, CosimError> {
    use rayon::prelude::*;
    chunk
        .par_iter()
        .enumerate()
        .map(|(pos, &s)| f(pos, s))
        .collect()
}

/// Figures of the feedback phases of one epoch.
#[derive(Debug, Clone, Default)]
struct SleepStats {
    samples: usize,
    pulses: u64,
    energy_j: f64,
    angle_sum: f64,
    angle_n: usize,
    t_circuit: f64,
    t_ideal: f64,
}

/// One feedback epoch's settings.
struct SleepEpoch<'a> {
    spec: &'a SleepSpec,
    set: &'a crate::ideal::data::Dataset,
    n: usize,
    seed: u64,
    epoch: usize,
    /// Index of this feedback epoch within the training epoch.
    run: usize,
    lr: f64,
}

/// Noise counter of a feedback minibatch: unique per (epoch, feedback epoch, minibatch),
/// so a resumed run draws the same noise.
pub fn sleep_counter(epoch: usize, run: usize, chunk: usize) -> u64 {
    ((epoch as u64) << 40) | ((run as u64) << 24) | chunk as u64
}

/// One feedback-only epoch over the first `n` samples: per minibatch, the samples' sleep
/// transients in parallel, rule (13) summed in sample order, compared with the ideal
/// model's gradient of the same weights and noise, then the Q step (joint clip, SGD with
/// weight decay) programmed into the plastic Q crossbars' devices.
fn sleep_epoch(
    dc: &mut DfcCircuit,
    ctx: &SleepEpoch<'_>,
    devices_q: &mut [Option<CrossbarDevices>],
    rng: &mut ChaCha8Rng,
    stats: &mut SleepStats,
) -> Result<(), CosimError> {
    let spec = ctx.spec;
    let order: Vec<usize> = (0..ctx.n).collect();
    let mut scratch = (Vec::new(), Vec::new());
    for (c, chunk) in order.chunks(spec.batch).enumerate() {
        let counter = sleep_counter(ctx.epoch, ctx.run, c);
        let net = dc.network();
        let dcr: &DfcCircuit = dc;
        let outs = par_samples(chunk, |pos, s| {
            let t0 = Instant::now();
            let hw_seed = hardware_noise_seed(ctx.seed, ctx.epoch, 1 + ctx.run, s);
            let mut sim = dcr.simulator_with_noise(hw_seed)?;
            let o = sleep::run_sleep_sample(
                dcr,
                spec,
                &mut sim,
                ctx.set.x.row(s),
                ctx.seed,
                counter,
                pos,
                chunk.len(),
                s,
            )?;
            Ok((o, seconds_since(t0)))
        })?;
        let mut grad: Vec<Mat> = net
            .layers
            .iter()
            .map(|l| Mat::zeros(l.q.rows, l.q.cols))
            .collect();
        for (o, t) in outs {
            for (g, d) in grad.iter_mut().zip(&o.grad_q) {
                g.data.iter_mut().zip(&d.data).for_each(|(a, b)| *a += b);
            }
            stats.t_circuit += t;
            stats.energy_j += o.source_energy_j;
            stats.samples += 1;
        }
        let t1 = Instant::now();
        let xs: Vec<&[f64]> = chunk.iter().map(|&s| ctx.set.x.row(s)).collect();
        let ideal = sleep::ideal_sleep_gradient(&net, dc, spec, &xs, ctx.seed, counter);
        stats.t_ideal += seconds_since(t1);
        let angle = sleep::angle_q_deg(&grad, &ideal);
        if angle.is_finite() {
            stats.angle_sum += angle;
            stats.angle_n += 1;
        }
        let step = sleep::q_step(&net, grad, ctx.lr, spec);
        let n_l = dc.sizes[dc.layers()];
        for (i, dev) in devices_q.iter_mut().enumerate() {
            let Some(dev) = dev.as_mut() else {
                continue;
            };
            let cb = &mut dc.q[i];
            // crossbar [row m = u line][col k = neuron]; ΔQ_i is n_i × n_L.
            let mut dw = vec![0.0; cb.rows * cb.cols];
            for k in 0..cb.cols {
                for m in 0..n_l {
                    dw[m * cb.cols + k] = step[i].data[k * n_l + m];
                }
            }
            stats.pulses += dev.program(cb, dc.r_f, &dw, rng, &mut scratch);
        }
    }
    Ok(())
}

/// Adds a 0 A current source `inzfb{i}_{k}` from every feedback column wire `c{i}fb_k` to
/// ground: in the feedback phase it carries the noise, which the apical ammeter then senses
/// (v^fb = Q u + noise). Returns the element indices per layer.
fn add_noise_sources(
    circuit: &mut Circuit,
    path: &str,
    sizes: &[usize],
) -> Result<Vec<Vec<usize>>, CosimError> {
    use crate::r#gen::nodes;
    let bad = |msg: String| CosimError::Netlist {
        path: path.into(),
        msg,
    };
    let span = circuit
        .elements
        .first()
        .map(|e| e.span.clone())
        .ok_or_else(|| bad("empty netlist".into()))?;
    let mut out = Vec::new();
    for i in 1..sizes.len() {
        let mut layer = Vec::new();
        for k in 0..sizes[i] {
            let wire = nodes::col_fb(i, k);
            let p = circuit
                .find_node(&wire)
                .ok_or_else(|| bad(format!("feedback column `{wire}` not found")))?;
            circuit.elements.push(crate::circuit::Element {
                name: format!("inzfb{i}_{k}"),
                kind: ElementKind::CurrentSource {
                    p,
                    n: NodeId::GROUND,
                    wave: Waveform::Dc(0.0),
                },
                span: span.clone(),
            });
            layer.push(circuit.elements.len() - 1);
        }
        out.push(layer);
    }
    Ok(out)
}

/// (branch column, p column, n column) in the waveform rows of every voltage-type source
/// (V, E, H, B with V=); ground = None.
fn source_columns(c: &Circuit, sim: &Simulator) -> Vec<(usize, Option<usize>, Option<usize>)> {
    let lay = sim.layout();
    let node_col = |n: NodeId| (!n.is_ground()).then(|| lay.node(n) + 1);
    let mut sources = Vec::new();
    for (k, el) in c.elements.iter().enumerate() {
        let pn = match &el.kind {
            ElementKind::VoltageSource { p, n, .. }
            | ElementKind::Vcvs { p, n, .. }
            | ElementKind::Ccvs { p, n, .. }
            | ElementKind::BehavioralVoltage { p, n, .. } => Some((*p, *n)),
            _ => None,
        };
        if let (Some((p, n)), Some(b)) = (pn, lay.branch_of[k]) {
            sources.push((b + 1, node_col(p), node_col(n)));
        }
    }
    sources
}

/// ∫ Σ_sources v·i dt over a transient (J): net energy delivered by every voltage-type
/// source (trapezoidal rule on the accepted points).
pub fn source_energy(dc: &DfcCircuit, sim: &Simulator, wf: &crate::waveform::Waveforms) -> f64 {
    let sources = source_columns(&dc.circuit, sim);
    let mut energy = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for r in 0..wf.rows() {
        let row = wf.row(r);
        let power: f64 = sources
            .iter()
            .map(|&(b, pc, nc)| {
                let v = pc.map_or(0.0, |c| row[c]) - nc.map_or(0.0, |c| row[c]);
                -v * row[b]
            })
            .sum();
        if let Some((t0, p0)) = prev {
            energy += 0.5 * (row[0] - t0) * (p0 + power);
        }
        prev = Some((row[0], power));
    }
    energy
}

fn mean_or_nan(sum: f64, n: usize) -> f64 {
    if n > 0 { sum / n as f64 } else { f64::NAN }
}

/// (angle in degrees, norm ratio) between the weight change the devices made (the circuit's
/// weights now minus `before`) and the ideal model's SGD step for the minibatch gradient
/// `ideal` (same lr, λ and clipping), over the plastic layers' W and b.
fn programmed_vs_ideal(
    dc: &DfcCircuit,
    before: &Network,
    ideal: ParamGrads,
    plastic: &[bool],
) -> (f64, f64) {
    let mut wanted = sgd_step(ideal, dc.learn.lr, dc.learn.lambda, true, dc.learn.clip);
    let after = dc.network();
    let mut done = ParamGrads::zeros_like(before);
    for (i, (a, b)) in after.layers.iter().zip(&before.layers).enumerate() {
        if !plastic[i] {
            wanted.w[i].data.fill(0.0);
            wanted.b[i].fill(0.0);
            continue;
        }
        for (d, (x, y)) in done.w[i]
            .data
            .iter_mut()
            .zip(a.w.data.iter().zip(&b.w.data))
        {
            *d = x - y;
        }
        for (d, (x, y)) in done.b[i].iter_mut().zip(a.b.iter().zip(&b.b)) {
            *d = x - y;
        }
    }
    let norm = |g: &ParamGrads| g.flatten().iter().map(|x| x * x).sum::<f64>().sqrt();
    (angle_deg(&done, &wanted), norm(&done) / norm(&wanted))
}

/// The flat crossbar `name` (`w` or `q`) of layer `i`: its resistors `r{name}{i}{p|n}_{j}_{k}`.
/// A cell the generator left open (G = 0: no resistor) gets a resistor of [`G_FLOOR`]
/// added between the same nodes, so that learning can grow it.
fn flat_crossbar(
    circuit: &mut Circuit,
    path: &str,
    name: &str,
    i: usize,
    sizes: &[usize],
) -> Result<Crossbar, CosimError> {
    use crate::r#gen::nodes;
    let layers = sizes.len() - 1;
    let (rows, cols) = if name == "w" {
        (sizes[i - 1] + 1, sizes[i])
    } else {
        (sizes[layers], sizes[i])
    };
    let bad = |msg: String| CosimError::Netlist {
        path: path.into(),
        msg,
    };
    let mut cb = Crossbar {
        name: format!("{}{i}", name.to_ascii_uppercase()),
        rows,
        cols,
        elem_p: Vec::with_capacity(rows * cols),
        elem_n: Vec::with_capacity(rows * cols),
        array: None,
        gp: Vec::with_capacity(rows * cols),
        gn: Vec::with_capacity(rows * cols),
    };
    // (positive line, negative line) of row j, and the column wire of k.
    let lines = |j: usize| -> (String, String) {
        if name == "q" {
            (nodes::u(j), nodes::un(j))
        } else if j + 1 == rows {
            ("one".into(), "onen".into())
        } else {
            (nodes::r(i - 1, j), nodes::rn(i - 1, j))
        }
    };
    let column = |k: usize| {
        if name == "q" {
            nodes::col_fb(i, k)
        } else {
            nodes::col_ff(i, k)
        }
    };
    let span = circuit
        .elements
        .first()
        .map(|e| e.span.clone())
        .ok_or_else(|| bad("empty netlist".into()))?;
    for j in 0..rows {
        for k in 0..cols {
            for pol in ['p', 'n'] {
                let ename = format!("r{name}{i}{pol}_{j}_{k}");
                let (e, g) = match circuit.find_element(&ename) {
                    Some(e) => match &circuit.elements[e].kind {
                        ElementKind::Resistor { ohms, .. } => (e, 1.0 / ohms),
                        _ => return Err(bad(format!("{ename}: not a resistor"))),
                    },
                    None => {
                        let (pos, neg) = lines(j);
                        // G⁺ hangs on the negative line, G⁻ on the positive one.
                        let line = if pol == 'p' { neg } else { pos };
                        let node = |n: &str| {
                            circuit.find_node(n).ok_or_else(|| {
                                bad(format!("node `{n}` of open cell {ename} not found"))
                            })
                        };
                        let (p, n) = (node(&line)?, node(&column(k))?);
                        circuit.elements.push(crate::circuit::Element {
                            name: ename,
                            kind: ElementKind::Resistor {
                                p,
                                n,
                                ohms: 1.0 / G_FLOOR,
                            },
                            span: span.clone(),
                        });
                        (circuit.elements.len() - 1, 0.0)
                    }
                };
                if pol == 'p' {
                    cb.elem_p.push(e);
                    cb.gp.push(g);
                } else {
                    cb.elem_n.push(e);
                    cb.gn.push(g);
                }
            }
        }
    }
    Ok(cb)
}

#[cfg(test)]
mod tests {
    use super::settling;

    /// ‖e(t)‖ = δ·e^(−t): the 2 % band is left at t* = −ln(0.02 + e^(−T)); the interpolated
    /// crossing is close to it on fine and on coarse time grids, and a transient that starts
    /// inside the band settles at once.
    #[test]
    fn settling_time_interpolates_the_band_crossing() {
        let (delta, t_end) = (0.3, 10.0f64);
        let exact = -(0.02 + (-t_end).exp()).ln();
        for (h, tol) in [(0.01, 1e-4), (0.25, 0.01), (1.0, 0.05)] {
            let n = (t_end / h) as usize;
            let e: Vec<(f64, f64)> = (0..=n)
                .map(|k| {
                    let t = k as f64 * h;
                    (t, delta * (-t).exp())
                })
                .collect();
            let (sse, t_s) = settling(&e, delta);
            assert!((sse - (-t_end).exp()).abs() < 1e-12);
            assert!(
                (t_s - exact).abs() < tol,
                "h = {h}: settling {t_s} vs {exact}"
            );
            // Linear interpolation of a convex decay crosses late, never early.
            assert!(t_s >= exact - 1e-12);
        }
        let flat = [(0.0, 0.1), (1.0, 0.1), (2.0, 0.1)];
        assert_eq!(settling(&flat, 1.0), (0.1, 0.0));
        // An error that rises out of the band and comes back (overshoot) settles after it.
        let bump = [(0.0, 0.0), (1.0, 0.5), (2.0, 0.0), (3.0, 0.0)];
        let (_, t_s) = settling(&bump, 1.0);
        assert!((t_s - (1.0 + (0.5 - 0.02) / 0.5)).abs() < 1e-12, "{t_s}");
    }
}
