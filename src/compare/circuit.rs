//! The one adapter between `compare` and the circuit co-simulation (`dfcsim train`):
//! generate (or read) the DFC netlist for a configuration, train it on the comparison's
//! data and schedule, and translate its per-epoch metrics and example waveforms.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

use super::{
    Common, CompareError, Configuration, ExampleWaveforms, Kind, RunResult, RunRow, io_err,
};
use crate::circuit::{Model, ParamValue};
use crate::r#gen::emit::nodes;
use crate::r#gen::{self as dfcgen, GenConfig, Hardware, Phi, network};
use crate::ideal::data::Splits;
use crate::learn::cosim::{self, DfcCircuit, TrainOptions};
use crate::learn::device::DeviceParams;
use crate::learn::plasticity::Plasticity;
use crate::span::Span;
use crate::waveform::Waveforms;

/// Trains the circuit of configuration `cfg` (preset, sweep point) with the comparison's
/// seed, samples, test samples, batch and epochs through `learn::cosim::train` (which
/// draws the same student-teacher data as [`super::comparison_data`]), calls `on_epoch`
/// after every epoch, and records test sample 0's transient after training. The netlist
/// is written into `dir`.
pub fn train_circuit(
    c: &Common,
    cfg: &Configuration,
    data: &Splits,
    dir: &Path,
    on_epoch: &mut dyn FnMut(&RunRow),
) -> Result<RunResult, CompareError> {
    let setup = circuit_setup(c, cfg, &c.models_dir, dir)?;
    let run_err = |e: cosim::CosimError| CompareError::Run {
        name: cfg.name.clone(),
        message: e.to_string(),
    };
    let mut dc = DfcCircuit::load(&setup.netlist).map_err(run_err)?;
    // 0.05 τ_u: within 0.01° of the fine-step update on the toy circuits (cosim's tests).
    let tau_u = dc.learn.tau_u;
    dc.set_max_step(0.05 * tau_u).map_err(run_err)?;
    let opts = TrainOptions {
        epochs: c.epochs,
        seed: c.seed,
        samples: c.samples,
        test_samples: c.test_samples,
        batch: c.batch.max(1),
        device: setup.device,
        conversion_energy_j: 0.0,
        waveform_samples: Vec::new(),
        waveform_dir: None,
    };
    let mut rows = Vec::new();
    cosim::train(&mut dc, &opts, None, |m, _| {
        let row = RunRow {
            epoch: m.epoch,
            train_loss: m.train_loss,
            test_loss: m.test_loss,
            test_error: m.test_error,
            update_angle_deg: m.update_angle_deg,
            steady_state_error: Some(m.steady_state_error),
            settling_time_s: Some(m.settling_time_s),
            energy_per_sample_j: Some(m.energy_total_j),
        };
        on_epoch(&row);
        rows.push(row);
        Ok(())
    })
    .map_err(run_err)?;
    let example = if data.test.is_empty() {
        None
    } else {
        let mut sim = dc.simulator().map_err(run_err)?;
        let mut plast = Plasticity::new(&dc.sizes, &dc.acts, dc.learn.rule);
        let out = cosim::run_sample(
            &dc,
            &mut sim,
            &mut plast,
            data.test.x.row(0),
            data.test.y.row(0),
            1,
            0,
        )
        .map_err(run_err)?;
        Some(example_from_waveforms(&out.waveforms, &c.sizes)?)
    };
    Ok(RunResult {
        config: cfg.clone(),
        rows,
        example,
        diverged: None,
    })
}

/// The example-sample waveforms of a circuit transient (SI: seconds, volts), read from the
/// generated circuit's node names: output `r{L}_k`, target `rstar_k`, control `u_k`, and
/// the soma `v1_0`, basal `vff1_0` and apical `vfb1_0` compartments of hidden neuron 0 of
/// layer 1. `sizes` are the layer sizes, input to output.
pub fn example_from_waveforms(
    w: &Waveforms,
    sizes: &[usize],
) -> Result<ExampleWaveforms, CompareError> {
    let column = |node: String| -> Result<Vec<f64>, CompareError> {
        let name = format!("v({node})");
        w.index_of(&name).map(|j| w.column(j)).ok_or_else(|| {
            CompareError::Spec(format!("waveforms `{}` have no signal `{name}`", w.title))
        })
    };
    let t = w.index_of("time").map(|j| w.column(j)).ok_or_else(|| {
        CompareError::Spec(format!("waveforms `{}` are not a transient", w.title))
    })?;
    let layers = sizes.len().saturating_sub(1);
    if layers < 2 {
        return Err(CompareError::Spec(format!(
            "architecture {sizes:?} has no hidden layer"
        )));
    }
    let n_out = sizes[layers];
    Ok(ExampleWaveforms {
        time_unit: "s".into(),
        voltage_unit: "V".into(),
        t,
        target: (0..n_out)
            .map(|k| column(nodes::rstar(k)))
            .collect::<Result<_, _>>()?,
        output: (0..n_out)
            .map(|k| column(nodes::r(layers, k)))
            .collect::<Result<_, _>>()?,
        u: (0..n_out)
            .map(|k| column(nodes::u(k)))
            .collect::<Result<_, _>>()?,
        hidden: [
            column(nodes::v(1, 0))?,
            column(nodes::vff(1, 0))?,
            column(nodes::vfb(1, 0))?,
        ],
    })
}

/// What the training loop needs for a circuit configuration: the flat DFC netlist and the
/// plastic synapses' device model, with the sweep point applied.
#[derive(Debug, Clone)]
pub struct CircuitSetup {
    pub netlist: PathBuf,
    pub device: DeviceParams,
}

/// Writes the configuration's flat DFC netlist into `dir` (or takes the user's netlist),
/// and reads its preset's synapse device model from `models_dir/PRESET.lib`. A swept
/// parameter `a0` or `gbw` sets the op-amps; any other name is a device-model parameter
/// (`dw_min`, `read_noise_std`, `max_pulses`, …).
pub fn circuit_setup(
    c: &Common,
    cfg: &Configuration,
    models_dir: &Path,
    dir: &Path,
) -> Result<CircuitSetup, CompareError> {
    let Kind::Circuit { preset } = &cfg.kind else {
        return Err(CompareError::Spec(format!(
            "{} is not a circuit configuration",
            cfg.name
        )));
    };
    let run_err = |m: String| CompareError::Run {
        name: cfg.name.clone(),
        message: m,
    };
    let mut hw = Hardware::load(preset, models_dir).map_err(|e| run_err(e.to_string()))?;
    let mut device_model = match &hw.lib {
        Some(lib) => {
            let cards = crate::elaborate::load_models(lib).map_err(|e| run_err(e.to_string()))?;
            let wanted = hw.device_model.clone().unwrap_or_else(|| "synapse".into());
            cards
                .into_iter()
                .find(|m| m.name.eq_ignore_ascii_case(&wanted))
        }
        None => None,
    }
    .unwrap_or_else(|| Model {
        name: "synapse".into(),
        kind: "ideal".into(),
        params: Default::default(),
        span: Span {
            file: Arc::new(PathBuf::from("<compare>")),
            line: 1,
            col: 1,
        },
    });
    match &cfg.sweep {
        Some((p, v)) if p.eq_ignore_ascii_case("a0") => hw.opamp.a0 = *v,
        Some((p, v)) if p.eq_ignore_ascii_case("gbw") => hw.opamp.gbw_hz = Some(*v),
        Some((p, v)) => {
            device_model
                .params
                .insert(p.to_ascii_lowercase(), ParamValue::Num(*v));
        }
        None => {}
    }
    let device = DeviceParams::from_model(&device_model).map_err(|e| run_err(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let netlist = match &c.netlist {
        Some(user) => user.clone(),
        None => {
            let path = dir.join("net.cir");
            let phis = dfcgen::layer_phis(&c.sizes, Phi::Linear);
            let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
            let gen_err = |e: dfcgen::GenError| run_err(e.to_string());
            let net = dfcgen::DfcNetwork::xavier(&c.sizes, phis, &mut rng).map_err(gen_err)?;
            let mut gc = GenConfig::new("net");
            let sample =
                network::student_teacher_sample(&net, c.seed, gc.dfc.lambda).map_err(gen_err)?;
            if let Some(lib) = &hw.lib {
                hw.lib = Some(dfcgen::hardware::relative_path(dir, lib));
            }
            gc.hardware = hw;
            gc.flat = true;
            gc.seed = c.seed;
            gc.command = format!("dfcsim compare ({})", cfg.name);
            dfcgen::generate(&net, &sample, &gc)
                .and_then(|g| g.write(&path))
                .map_err(gen_err)?;
            path
        }
    };
    Ok(CircuitSetup { netlist, device })
}
