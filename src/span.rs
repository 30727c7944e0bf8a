//! Source locations: every user-facing error names file, line and column.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a piece of netlist text came from (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}
