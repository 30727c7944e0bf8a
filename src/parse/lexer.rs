//! Splits a logical line into tokens. Words end at white space and at `( ) [ ] = ,`;
//! `{…}` and `'…'` are expression tokens (braces may nest), `"…"` is a string.
//! One pass over the characters: linear in the line length.

use super::error::{ErrorKind, NetlistError, Result};
use super::source::LogicalLine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Word,
    /// `{expr}` or `'expr'`; `text` is the inside, `off` points at the inside.
    Expr,
    /// `"text"`; `text` is the inside.
    Str,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Equals,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub kind: TokKind,
    /// As written (case preserved), borrowed from the line.
    pub text: &'a str,
    /// Byte offset into the logical line.
    pub off: usize,
}

impl Token<'_> {
    pub fn lower(&self) -> String {
        self.text.to_ascii_lowercase()
    }
    pub fn is_word(&self) -> bool {
        self.kind == TokKind::Word
    }
    pub fn is(&self, kind: TokKind) -> bool {
        self.kind == kind
    }
    /// Word equal to `w` ignoring case.
    pub fn is_kw(&self, w: &str) -> bool {
        self.kind == TokKind::Word && self.text.eq_ignore_ascii_case(w)
    }
}

fn is_delim(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '=' | ',' | '{' | '}' | '"')
}

pub fn tokenize(line: &LogicalLine) -> Result<Vec<Token<'_>>> {
    let text = line.text.as_str();
    let mut out = Vec::with_capacity(8);
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let single = match c {
            '(' => Some(TokKind::LParen),
            ')' => Some(TokKind::RParen),
            '[' => Some(TokKind::LBracket),
            ']' => Some(TokKind::RBracket),
            '=' => Some(TokKind::Equals),
            ',' => Some(TokKind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            chars.next();
            out.push(Token {
                kind,
                text: &text[i..i + 1],
                off: i,
            });
            continue;
        }
        match c {
            '{' => {
                chars.next();
                let mut depth = 1usize;
                let start = i + 1;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    match d {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return Err(NetlistError::new(
                        ErrorKind::Syntax,
                        line.span_at(i),
                        &text[i..],
                        "unbalanced '{': expression not closed",
                        "close the expression with '}'",
                    ));
                };
                out.push(Token {
                    kind: TokKind::Expr,
                    text: &text[start..end],
                    off: start,
                });
            }
            '}' => {
                return Err(NetlistError::new(
                    ErrorKind::Syntax,
                    line.span_at(i),
                    "}",
                    "unbalanced '}'",
                    "expressions are written `{…}`",
                ));
            }
            '\'' | '"' => {
                chars.next();
                let start = i + 1;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    if d == c {
                        end = Some(j);
                        break;
                    }
                }
                let Some(end) = end else {
                    return Err(NetlistError::new(
                        ErrorKind::Syntax,
                        line.span_at(i),
                        &text[i..],
                        format!("unbalanced quote {c}"),
                        format!("close the quoted text with {c}"),
                    ));
                };
                out.push(Token {
                    kind: if c == '"' {
                        TokKind::Str
                    } else {
                        TokKind::Expr
                    },
                    text: &text[start..end],
                    off: start,
                });
            }
            _ => {
                let start = i;
                let mut end = text.len();
                while let Some(&(j, d)) = chars.peek() {
                    if is_delim(d) || (d == '\'' && j > start) {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Token {
                    kind: TokKind::Word,
                    text: &text[start..end],
                    off: start,
                });
            }
        }
    }
    Ok(out)
}
