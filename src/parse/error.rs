//! The one error type of parsing and elaboration: where (file:line:col), what text, why,
//! and a hint that says how to fix it.

use std::fmt;

use crate::span::Span;

/// What went wrong, so that callers and tests can match on the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// File could not be read.
    Io,
    /// Generic syntax error (bad card layout, unbalanced brackets, bad expression).
    Syntax,
    UnknownElement,
    MissingNode,
    BadNumber,
    UnbalancedSubckt,
    UndefinedParam,
    UndefinedModel,
    UndefinedSubckt,
    /// Reference to an element (F/H control, `i(v)`, `.save i(v)`) that does not exist.
    UndefinedElement,
    UnknownNode,
    IncludeCycle,
    MissingInclude,
    RecursiveSubckt,
    FloatingNode,
    VoltageLoop,
    DuplicateName,
    /// Known SPICE construct that dfcsim does not implement.
    Unsupported,
    UnknownCard,
    /// Semantically wrong value (negative time step, PWL times not increasing, …).
    BadValue,
    /// Limits that protect against runaway input (nesting, size).
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct NetlistError {
    pub kind: ErrorKind,
    pub span: Span,
    /// The offending text (a token or a name).
    pub text: String,
    pub message: String,
    pub hint: String,
    /// The physical source line the span points into (filled in by the loader).
    pub line_text: String,
}

impl NetlistError {
    pub fn new(
        kind: ErrorKind,
        span: Span,
        text: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        NetlistError {
            kind,
            span,
            text: text.into(),
            message: message.into(),
            hint: hint.into(),
            line_text: String::new(),
        }
    }
}

impl fmt::Display for NetlistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.span, self.message)?;
        let number = self.span.line.to_string();
        let pad = " ".repeat(number.len() + 4);
        if !self.line_text.is_empty() {
            write!(f, "\n   {} | {}", number, self.line_text.trim_end())?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n{pad}= hint: {}", self.hint)?;
        }
        Ok(())
    }
}

pub type Result<T> = std::result::Result<T, NetlistError>;
