//! `dfcsim gen`: writes the netlist of the Deep Feedback Control learning circuit for one
//! data sample, in array form (XSPICE-style `A` devices, weights in CSV files) or flat form
//! (plain R/C/E/B/V/H/I elements that ngspice 39 runs unchanged).
//!
//! # Mapping between the dimensionless model and the circuit (SI units)
//! | model | circuit |
//! |---|---|
//! | activation a (v, v^ff, v^fb, r, u, e, x) | voltage a · V_s (`vs`, default 0.2 V per unit) |
//! | weight w (W_i, b_i, Q_i) | differential conductance pair, w = R_f (G⁺ − G⁻), G in [G_min, G_max] S |
//! | time t (τ_u = 1) | t · τ_u seconds (default τ_u = 10 µs) |
//! | τ_v / τ_u (`time_constant_ratio`) | R_f C_f / τ_u (default 0.2 → τ_v = 2 µs) |
//! | k_p | R_ctl / R_prop of the proportional summer |
//! | α (reference-code convention: the leak acts on the total u) | R_ctl / R_leak of the integrator, whose leak resistor is fed by −u |
//!
//! A weight w is written as G⁺ = G_min + max(w, 0)/R_f, G⁻ = G_min + max(−w, 0)/R_f, so the
//! largest representable |w| is R_f (G_max − G_min) (100 kΩ · 25 µS = 2.5 with the shipped
//! `netlists/models/*.lib` ranges [0, 25 µS]; the built-in fallback when no `ideal.lib` exists
//! is [1 µS, 50 µS]). A zero conductance is an open cell (no resistor in the flat form).
//!
//! # The circuit (one sample), node names in [`nodes`]
//! - Input DACs: `r0_j` = x_j V_s and the complementary line `r0n_j` = −x_j V_s; bias lines
//!   `one` = +V_s, `onen` = −V_s.
//! - Forward crossbar W_i (rows: the n_{i−1} input lines and the bias line; columns: the n_i
//!   neurons): G⁺ between the *negative* line and the column wire `c{i}ff_k`, G⁻ between the
//!   positive line and the wire. The wire sits at the neuron's virtual ground, so its current
//!   is −V_s v^ff_k / R_f (negative, because the integrator inverts).
//! - Feedback crossbar Q_i: the same, rows driven by the controller lines `u_m`/`un_m`, columns
//!   `c{i}fb_k`.
//! - Neuron (three compartments): both wires enter the op-amp summing node `s{i}_k` through
//!   0 V ammeters (`vsff…`, `vsfb…`); H sources turn the currents into the basal and apical
//!   voltages `vff{i}_k` = V_s v^ff, `vfb{i}_k` = V_s v^fb. The central compartment is the
//!   inverting leaky integrator (R_f ∥ C_f from `v{i}_k` to `s{i}_k`):
//!   τ_v dV(v)/dt = −V(v) + V_s (v^ff + v^fb), i.e. eq. (1). A noise current source
//!   (placeholder, 0 A) is attached to every summing node.
//! - Transfer stage: `r{i}_k` = V_s φ(V(v)/V_s) (B source; φ = tanh, or a unity buffer for a
//!   linear output layer) and `r{i}n_k` = −V(r{i}_k).
//! - PI controller per output unit m: difference amplifier `e_m` = V(rstar_m) − V(r{L}_m);
//!   enable gate (analog multiplier with the 0/1 V enable line `en`) `eg_m` = en·e,
//!   `egn_m` = −en·e; inverting leaky integrator (input R_ctl from `eg_m`, leak R_leak = R_ctl/α
//!   from `un_m`, C_int = τ_u/R_ctl) with output `uintn_m` = −V_s u_int; inverting summer
//!   `u_m` = −(V(uintn) + k_p V(egn)) = V_s (u_int + k_p e); inverter `un_m` = −V(u_m).
//! - Target DAC `rstar_m` = r_L* V_s (set per sample by the co-simulation), enable source `en`
//!   (0 during the feed-forward settle phase, 1 during the controlled phase).
//!
//! # Array devices (what the engine must implement), ports in this order
//! All currents are SI, all `.model` parameters are in SI units; op-amp parameters
//! (`a0`, `gbw`, `vos`, `vmin`, `vmax`) mean the same everywhere (see [`hardware::Opamp`]).
//!
//! **`dac`** `A… [out_0 … out_{n−1}] [outn_0 … outn_{n−1}] M` (second vector only when
//! `differential=1`): ideal voltage sources to ground, out_k = vs·value_k, outn_k = −vs·value_k,
//! values (dimensionless) from `file` (CSV, one row of n values; the co-simulation overwrites
//! them per sample). Parameters: `n`, `vs`, `file`, `differential`, `bits` (0 = exact).
//!
//! **`crossbar`** `A… [inp_0 … inp_{R−1}] [inn_0 … inn_{R−1}] [col_0 … col_{C−1}] M`:
//! for every row j and column k a resistor 1/G⁺_jk between `inn_j` and `col_k` and a resistor
//! 1/G⁻_jk between `inp_j` and `col_k` (so the current into col_k is
//! Σ_j G⁺_jk (V(inn_j) − V(col_k)) + G⁻_jk (V(inp_j) − V(col_k))). Parameters: `rows` R,
//! `cols` C, `gpfile`/`gnfile` (CSV, R rows × C columns, siemens; row j = input line j),
//! `bias_row` (1: the last row is the bias line), `r_f` (the neurons' feedback resistor, so
//! w_kj = r_f (G⁺_jk − G⁻_jk)), `vs`, `gmin`, `gmax`, `device` (conductance model name),
//! `plastic` (1 if the `.learn` card may reprogram it), `matrix` (W1, Q2, …).
//!
//! **`neuron_layer`** `A… [cff_k] [cfb_k] [v_k] [vff_k] [vfb_k] [r_k] [rn_k] M` (each a vector
//! of n): per neuron k an op-amp (params below) whose inverting input is the summing node s_k;
//! `cff_k` and `cfb_k` are tied to s_k through 0 V ammeters (currents I_ff, I_fb flowing into
//! s_k); R_f ∥ C_f between `v_k` and s_k; a noise current (σ, default 0) drawn out of s_k.
//! With an ideal op-amp: r_f c_f dV(v_k)/dt = −V(v_k) − r_f (I_ff + I_fb); V(vff_k) = −r_f I_ff,
//! V(vfb_k) = −r_f I_fb; V(r_k) = vs φ(V(v_k)/vs); V(rn_k) = −V(r_k). Parameters: `n`, `r_f`,
//! `c_f`, `vs`, `phi` (tanh | linear), `noise_sigma` (dimensionless σ of eq. 1's noise),
//! op-amp params, and the tanh stages' mismatch `tanh_gain=[…]`, `tanh_offset=[…]` (volts,
//! one per neuron, drawn by `dfcsim gen` from the seed and the preset's `periphery` card):
//! V(r_k) = g_k vs tanh((V(v_k) − o_k)/vs); the flat form writes the same numbers into `Br`.
//!
//! The `.learn` card also carries the periphery the co-simulation applies
//! ([`periphery::LearnPeriphery`]): `dac_bits`/`dac_range` (input and target levels),
//! `adc_bits`/`adc_range` (levels of every value the plasticity module reads), and the
//! energy figures `p_static` (W), `e_dac`, `e_adc` (J per conversion).
//!
//! **`pi_controller`** `A… [rstar_m] [rl_m] en [e_m] [uintn_m] [u_m] [un_m] M` (vectors of n,
//! `en` scalar): V(e) = V(rstar) − V(rl); g = V(en)·V(e) (en in volts, 0…1);
//! r_ctl c_int dV(uintn)/dt = −g + V(u)·(r_ctl/r_leak) (so τ_u du_int/dt = e − α u);
//! V(u) = −V(uintn) + k_p g; V(un) = −V(u). Parameters: `n`, `vs`, `k_p`, `alpha`, `tau_u`,
//! `r_ctl`, `c_int`, `r_leak` (absent when α = 0), `r_prop` (= r_ctl/k_p), op-amp params.
//!
//! The flat form ([`GenConfig::flat`]) writes exactly these equations as R/C/E/B/V/H/I
//! elements, so an engine device and its flat expansion must agree to solver tolerance.

pub mod emit;
pub mod hardware;
pub mod network;
pub mod noise;
pub mod ode;
pub mod periphery;

use thiserror::Error;

pub use emit::{Generated, generate, nodes};
pub use hardware::{Hardware, Opamp};
pub use network::{DfcNetwork, Matrix, Phi, Sample};
pub use periphery::{LearnPeriphery, Periphery, Quantiser};

#[derive(Debug, Error)]
pub enum GenError {
    #[error("bad architecture {0}")]
    Arch(String),
    #[error("hardware preset: {0}")]
    Preset(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("--init {path}: {msg}")]
    Init { path: String, msg: String },
    #[error(
        "{matrix}: |weight| {value:.4} exceeds the conductance range R_f·(G_max − G_min) = {max:.4}; \
         raise R_f (--rf) or use a preset with a wider G range"
    )]
    WeightRange {
        matrix: String,
        value: f64,
        max: f64,
    },
    #[error("bad parameter: {0}")]
    Param(String),
}

/// Physical scales (SI) of the circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct Scales {
    /// Volts per unit activation.
    pub vs_volts: f64,
    /// τ_u in seconds: the unit of dimensionless time.
    pub tau_u_seconds: f64,
    /// τ_v / τ_u.
    pub time_constant_ratio: f64,
    /// Neuron feedback resistor R_f in ohms (weight scale: w = R_f ΔG).
    pub r_f_ohms: f64,
    /// Controller input resistor R_ctl in ohms (integrator, summer, difference amplifier).
    pub r_ctl_ohms: f64,
}

impl Default for Scales {
    fn default() -> Self {
        Scales {
            vs_volts: 0.2,
            tau_u_seconds: 10e-6,
            time_constant_ratio: 0.2,
            r_f_ohms: 100e3,
            r_ctl_ohms: 100e3,
        }
    }
}

impl Scales {
    pub fn tau_v_seconds(&self) -> f64 {
        self.time_constant_ratio * self.tau_u_seconds
    }
    pub fn c_f_farads(&self) -> f64 {
        self.tau_v_seconds() / self.r_f_ohms
    }
    pub fn c_int_farads(&self) -> f64 {
        self.tau_u_seconds / self.r_ctl_ohms
    }
}

/// DFC and learning parameters (dimensionless; times in τ_u).
#[derive(Debug, Clone, PartialEq)]
pub struct DfcParams {
    pub task: String,
    pub loss: String,
    pub k_p: f64,
    /// Leak of the integrator, acting on the total u (reference-code α).
    pub alpha: f64,
    pub lambda: f64,
    /// Feed-forward settle phase (controller off), in τ_u.
    pub t_ff: f64,
    /// Controlled phase, in τ_u.
    pub t_ctl: f64,
    /// Learning rate as in the reference (η = lr/λ), optimiser SGD.
    pub lr: f64,
    /// `dfc` (update integrated over the controlled phase) or `dfc-ss`.
    pub variant: String,
    /// Dimensionless noise σ of eq. (1) (0: sources are placeholders).
    pub noise_sigma: f64,
    /// Whether the feedback crossbars Q_i are plastic (feedback phase) or fixed.
    pub plastic_feedback: bool,
}

impl Default for DfcParams {
    /// The paper's / reference's toy student-teacher settings.
    fn default() -> Self {
        DfcParams {
            task: "student-teacher".into(),
            loss: "mse".into(),
            k_p: 1.5,
            alpha: 0.0015,
            lambda: 0.05,
            t_ff: 1.0,
            t_ctl: 5.0,
            lr: 0.05,
            variant: "dfc".into(),
            noise_sigma: 0.0,
            plastic_feedback: false,
        }
    }
}

/// Everything `generate` needs besides the network and the sample.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub hardware: Hardware,
    pub scales: Scales,
    pub dfc: DfcParams,
    /// Expand every array device into plain elements.
    pub flat: bool,
    /// Stem of the side files (`STEM_W1_gp.csv`, …), normally the netlist's file stem.
    pub stem: String,
    /// Seed the weights and sample were drawn from (recorded in the `.learn` card).
    pub seed: u64,
    /// The command line, recorded in the header.
    pub command: String,
}

impl GenConfig {
    pub fn new(stem: &str) -> Self {
        GenConfig {
            hardware: Hardware::ideal(),
            scales: Scales::default(),
            dfc: DfcParams::default(),
            flat: false,
            stem: stem.to_string(),
            seed: 42,
            command: String::new(),
        }
    }
}

/// Parses `15-10-10-5` into layer sizes.
pub fn parse_arch(s: &str) -> Result<Vec<usize>, GenError> {
    let sizes: Result<Vec<usize>, _> = s.split('-').map(|p| p.trim().parse::<usize>()).collect();
    match sizes {
        Ok(v) if v.len() >= 2 && !v.contains(&0) => Ok(v),
        _ => Err(GenError::Arch(format!(
            "`{s}`: expected layer sizes joined by '-', e.g. 15-10-10-5 (≥ 2 layers, each ≥ 1)"
        ))),
    }
}

/// φ per layer: tanh for hidden layers; the output layer's own (linear for student-teacher).
pub fn layer_phis(arch: &[usize], output: Phi) -> Vec<Phi> {
    let layers = arch.len() - 1;
    (0..layers)
        .map(|i| if i + 1 == layers { output } else { Phi::Tanh })
        .collect()
}
