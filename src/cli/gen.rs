//! `dfcsim gen`: write the DFC learning-circuit netlist (array or flat form).

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use crate::r#gen::{self as dfcgen, GenConfig, Hardware, Phi, network};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Layer sizes, input first, e.g. 15-10-10-5.
    #[arg(long)]
    pub arch: String,
    /// Hardware preset: reads MODELS_DIR/PRESET.lib (built-in `ideal` when absent).
    #[arg(long, default_value = "ideal")]
    pub hardware: String,
    /// Directory of the hardware presets' `PRESET.lib` files (default: ./netlists/models,
    /// else the presets of the source tree dfcsim was built from).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Task (sets the loss and the output nonlinearity): student-teacher.
    #[arg(long, default_value = "student-teacher")]
    pub task: String,
    /// Seed of the weights and the sample.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Expand every array device into plain elements (ngspice-compatible).
    #[arg(long)]
    pub flat: bool,
    /// Weights (and sample x, y, output_target) from a reference-format JSON file.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Sample index inside the --init file.
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// Proportional gain k_p.
    #[arg(long, default_value_t = 1.5)]
    pub kp: f64,
    /// Integrator leak α (acts on the total u, reference convention).
    #[arg(long, default_value_t = 0.0015)]
    pub alpha: f64,
    /// Target step λ.
    #[arg(long, default_value_t = 0.05)]
    pub lambda: f64,
    /// τ_v/τ_u.
    #[arg(long, default_value_t = 0.2)]
    pub ratio: f64,
    /// Controlled phase length in τ_u.
    #[arg(long, default_value_t = 5.0)]
    pub t_ctl: f64,
    /// Feed-forward settle phase length in τ_u.
    #[arg(long, default_value_t = 1.0)]
    pub t_ff: f64,
    /// Learning variant recorded in the .learn card: dfc (update integrated over the
    /// controlled phase) or dfc-ss (update from the final state).
    #[arg(long, default_value = "dfc")]
    pub variant: String,
    /// Make the feedback crossbars Q_i plastic (feedback phase on) instead of fixed.
    #[arg(long)]
    pub plastic_feedback: bool,
    /// Output-layer nonlinearity (default: the task's; student-teacher is linear).
    #[arg(long)]
    pub output_phi: Option<String>,
    /// Learning rate (reference convention, η = lr/λ).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Volts per unit activation.
    #[arg(long, default_value_t = 0.2)]
    pub vs: f64,
    /// τ_u in seconds.
    #[arg(long, default_value_t = 10e-6)]
    pub tau_u: f64,
    /// Neuron feedback resistor R_f in ohms.
    #[arg(long, default_value_t = 100e3)]
    pub rf: f64,
    /// Output netlist file; side files are written next to it.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn main(a: Args) -> Result<(), crate::CliError> {
    let arch = dfcgen::parse_arch(&a.arch)?;
    let mut output_phi = match a.task.as_str() {
        "student-teacher" => Phi::Linear,
        other => return Err(format!("unknown --task `{other}` (known: student-teacher)").into()),
    };
    match a.output_phi.as_deref() {
        None => {}
        Some("tanh") => output_phi = Phi::Tanh,
        Some("linear") => output_phi = Phi::Linear,
        Some(other) => {
            return Err(format!("unknown --output-phi `{other}` (known: tanh, linear)").into());
        }
    }
    if !matches!(a.variant.as_str(), "dfc" | "dfc-ss") {
        return Err(format!("unknown --variant `{}` (known: dfc, dfc-ss)", a.variant).into());
    }
    let phis = dfcgen::layer_phis(&arch, output_phi);
    let (net, sample) = match &a.init {
        Some(path) => {
            let (net, sample) =
                network::from_reference_json(path, &arch, phis, a.sample, a.lambda)?;
            let sample = match sample {
                Some(s) => s,
                None => network::student_teacher_sample(&net, a.seed, a.lambda)?,
            };
            (net, sample)
        }
        None => {
            let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
            let net = dfcgen::DfcNetwork::xavier(&arch, phis, &mut rng)?;
            let sample = network::student_teacher_sample(&net, a.seed, a.lambda)?;
            (net, sample)
        }
    };
    let stem = a
        .output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "net".into());
    let mut cfg = GenConfig::new(&stem);
    let models_dir = super::models_dir(a.models_dir.as_deref());
    cfg.hardware = Hardware::load(&a.hardware, &models_dir)?;
    if cfg.hardware.lib.is_none() {
        eprintln!(
            "note: {} not found: built-in ideal preset (G in [1 µS, 50 µS], A0 = 1e6)",
            models_dir.join("ideal.lib").display()
        );
    }
    if let Some(lib) = &cfg.hardware.lib {
        let out_dir = match a.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        cfg.hardware.lib = Some(dfcgen::hardware::relative_path(out_dir, lib));
    }
    cfg.flat = a.flat;
    cfg.seed = a.seed;
    cfg.command = std::iter::once("dfcsim".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    cfg.scales.vs_volts = a.vs;
    cfg.scales.tau_u_seconds = a.tau_u;
    cfg.scales.time_constant_ratio = a.ratio;
    cfg.scales.r_f_ohms = a.rf;
    cfg.dfc.task = a.task.clone();
    cfg.dfc.k_p = a.kp;
    cfg.dfc.alpha = a.alpha;
    cfg.dfc.lambda = a.lambda;
    cfg.dfc.t_ctl = a.t_ctl;
    cfg.dfc.t_ff = a.t_ff;
    cfg.dfc.lr = a.lr;
    cfg.dfc.variant = a.variant.clone();
    cfg.dfc.plastic_feedback = a.plastic_feedback;
    let out = dfcgen::generate(&net, &sample, &cfg)?;
    out.write(&a.output)?;
    eprintln!(
        "wrote {} ({} form, {} side files)",
        a.output.display(),
        if a.flat { "flat" } else { "array" },
        out.files.len()
    );
    Ok(())
}
