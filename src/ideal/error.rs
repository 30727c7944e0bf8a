//! Typed errors of the ideal model (user input: configuration, data and weight files).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IdealError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {msg}")]
    Parse {
        path: PathBuf,
        line: usize,
        col: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Data { path: PathBuf, msg: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("training diverged at epoch {epoch}: {what} is not finite")]
    Diverged { epoch: usize, what: String },
}

impl IdealError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IdealError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn data(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        IdealError::Data {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
