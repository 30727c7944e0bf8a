//! The one adapter between `compare` and the circuit co-simulation (`dfcsim train`):
//! generate (or read) the DFC netlist for a configuration, train it on the comparison's
//! data and schedule, and translate its per-epoch metrics and example waveforms.

use super::{Common, CompareError, Configuration, RunResult, RunRow};
use crate::ideal::data::Splits;

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
