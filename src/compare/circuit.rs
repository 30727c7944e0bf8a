//! The one adapter between `compare` and the circuit co-simulation (`dfcsim train`):
//! generate (or read) the DFC netlist for a configuration, train it on the comparison's
//! data and schedule, and translate its per-epoch metrics and example waveforms.

use super::{Common, CompareError, Configuration, ExampleWaveforms, RunResult, RunRow};
use crate::r#gen::emit::nodes;
use crate::ideal::data::Splits;
use crate::waveform::Waveforms;

/// Trains the circuit of configuration `cfg` (preset, sweep point) with the comparison's
/// seed, samples, test samples, batch and epochs; calls `on_epoch` after every epoch.
///
/// The circuit co-simulation's training loop (`learn::cosim::train`) is not in this
/// build yet, so every circuit configuration fails with a message saying so; the
/// ideal-model configurations, the report and the plots do not depend on it.
pub fn train_circuit(
    _c: &Common,
    cfg: &Configuration,
    _data: &Splits,
    _on_epoch: &mut dyn FnMut(&RunRow),
) -> Result<RunResult, CompareError> {
    Err(CompareError::Run {
        name: cfg.name.clone(),
        message: "the circuit co-simulation (`dfcsim train`) is not available in this build".into(),
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
