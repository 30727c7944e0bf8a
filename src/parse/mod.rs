//! Netlist text to AST (nom), with spans for every card and token.
//!
//! `source` joins physical lines into logical lines (comments, `+` continuations,
//! `.include`/`.lib`), `lexer` splits a line into tokens, `number` and `expr` parse values
//! (nom), `cards` builds the `ast`.

pub mod ast;
pub mod cards;
pub mod error;
pub mod expr;
pub mod lexer;
pub mod number;
pub mod source;

use std::path::Path;

pub use error::{ErrorKind, NetlistError};
pub use source::Sources;

/// Parse netlist text (includes resolved relative to `path`) into an AST. Also returns the
/// sources read, to print error lines.
pub fn parse_str(text: &str, path: &Path) -> (Result<ast::Netlist, NetlistError>, Sources) {
    let mut reader = source::Reader::new();
    let result = reader
        .read_main(text, path)
        .and_then(|(title, lines)| cards::parse_lines(title, &lines));
    let sources = std::mem::take(&mut reader.sources);
    let result = result.map_err(|e| sources.annotate(e));
    (result, sources)
}
