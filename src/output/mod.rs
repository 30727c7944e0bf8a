//! Output formats: CSV, ngspice rawfile (binary and ascii, write and read), JSON summary.
//!
//! `write_all` is what `dfcsim run` calls after an analysis; `read_waveforms` is what
//! `dfcsim plot` calls on any dfcsim or ngspice output.

pub mod csv;
pub mod raw;
pub mod stream;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::waveform::{Unit, Waveforms};

pub use summary::write_summary;

/// Errors of reading and writing output files; each names the file (and line where known).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed file; `line` is 1-based (0 when not line-oriented, e.g. binary data).
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    #[error("{path}: cannot serialise summary: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl OutputError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        OutputError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        OutputError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Writes `DIR/STEM.csv` and `DIR/STEM.raw` for the plots of one run (e.g. `.op` then `.tran`).
///
/// The CSV holds the transient plot (the first plot whose first signal is time); when there
/// is none it holds the first plot (e.g. the single `.op` row). The rawfile holds every plot,
/// binary unless `ascii`. Creates `dir` if needed. Returns the paths written.
pub fn write_all(
    dir: &Path,
    stem: &str,
    plots: &[Waveforms],
    ascii: bool,
) -> Result<Vec<PathBuf>, OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError::io(dir, e))?;
    let mut written = Vec::new();
    if let Some(main) = main_plot(plots) {
        let csv_path = dir.join(format!("{stem}.csv"));
        csv::write(&csv_path, main)?;
        written.push(csv_path);
    }
    let raw_path = dir.join(format!("{stem}.raw"));
    raw::write(&raw_path, plots, ascii)?;
    written.push(raw_path);
    Ok(written)
}

/// Creates `path` for writing, empty. An existing regular file is removed first instead
/// of truncated: on ext4, truncating a file that was just written forces its data to disk
/// (`auto_da_alloc`) and waits for it, which costs more than the whole write.
/// A read-only file or one with other hard links is truncated as before (so writing it
/// fails, or every name sees the new contents).
pub(crate) fn create_file(path: &Path) -> std::io::Result<std::fs::File> {
    if std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && !m.permissions().readonly() && single_link(&m))
    {
        // Fails e.g. in a read-only directory: then the file is truncated as usual.
        let _ = std::fs::remove_file(path);
    }
    std::fs::File::create(path)
}

#[cfg(unix)]
fn single_link(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() == 1
}

#[cfg(not(unix))]
fn single_link(_: &std::fs::Metadata) -> bool {
    false
}

/// The plot a single-table output (CSV, a picture) shows: the first time-based plot (the
/// transient, even when it stopped before its first point), else the first plot.
pub fn main_plot(plots: &[Waveforms]) -> Option<&Waveforms> {
    plots
        .iter()
        .find(|w| w.signals.first().is_some_and(|s| s.unit == Unit::Time))
        .or_else(|| plots.first())
}

/// Reads every plot of a `.raw` (ngspice rawfile, binary or ascii) or `.csv` file.
pub fn read_waveforms(path: &Path) -> Result<Vec<Waveforms>, OutputError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("raw") => raw::read(path),
        Some("csv") => Ok(vec![csv::read(path)?]),
        _ => {
            // Sniff: rawfiles start with a `Title:` line.
            let bytes = std::fs::read(path).map_err(|e| OutputError::io(path, e))?;
            if bytes.starts_with(b"Title:") {
                raw::parse(path, &bytes)
            } else {
                Ok(vec![csv::parse(path, &String::from_utf8_lossy(&bytes))?])
            }
        }
    }
}

/// Unit of a signal guessed from its ngspice-style name: `time`, `v(…)`, `i(…)`, and
/// ngspice's other current spellings (`vsrc#branch`, `@dev[i]`).
pub fn unit_from_name(name: &str) -> Unit {
    let n = name.trim().to_ascii_lowercase();
    if n == "time" {
        Unit::Time
    } else if n.starts_with("v(") {
        Unit::Voltage
    } else if n.starts_with("i(") || n.ends_with("#branch") || n.ends_with("[i]") {
        Unit::Current
    } else {
        Unit::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_file_replaces_files_and_writes_through_symlinks() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("dfcsim-create-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.csv");
        std::fs::write(&path, "old contents, longer than the new ones").unwrap();
        create_file(&path).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        // A symlink is kept: its target is rewritten.
        #[cfg(unix)]
        {
            let link = dir.join("link.csv");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            create_file(&link).unwrap().write_all(b"via link").unwrap();
            assert!(
                std::fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "via link");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
