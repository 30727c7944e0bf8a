//! Command-line subcommands; each file holds its clap `Args` and its `main`.
pub mod compare;
pub mod device;
pub mod r#gen;
pub mod ideal;
pub mod plot;
pub mod run;
pub mod train;

use std::path::{Path, PathBuf};

/// Where the hardware presets (`PRESET.lib`) are read from: `--models-dir` when given, else
/// `./netlists/models` when it exists (a checkout), else the presets shipped in the source
/// tree dfcsim was built from, so that `gen` and `compare` find them from any directory.
pub fn models_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(dir) = arg {
        return dir.to_path_buf();
    }
    let local = PathBuf::from("netlists/models");
    if local.is_dir() {
        return local;
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/models");
    if shipped.is_dir() { shipped } else { local }
}
