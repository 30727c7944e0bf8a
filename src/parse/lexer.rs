//! Splits a logical line into tokens. Words end at white space and at `( ) [ ] = ,`;
//! `{…}` and `'…'` are expression tokens (braces may nest), `"…"` is a string.
//! One pass over the bytes: linear in the line length.

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
    // Every delimiter is ASCII and no byte of a multi-byte UTF-8 character is: the scans
    // below go byte by byte and decode a character only where a non-ASCII byte starts one.
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(8);
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if c.is_whitespace() {
            i += c.len_utf8();
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
            out.push(Token {
                kind,
                text: &text[i..i + 1],
                off: i,
            });
            i += 1;
            continue;
        }
        match c {
            '{' => {
                let start = i + 1;
                let mut depth = 1usize;
                let mut end = None;
                for (j, &b) in bytes.iter().enumerate().skip(start) {
                    match b {
                        b'{' => depth += 1,
                        b'}' => {
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
                i = end + 1;
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
                let start = i + 1;
                let Some(len) = bytes[start..].iter().position(|&b| b == c as u8) else {
                    return Err(NetlistError::new(
                        ErrorKind::Syntax,
                        line.span_at(i),
                        &text[i..],
                        format!("unbalanced quote {c}"),
                        format!("close the quoted text with {c}"),
                    ));
                };
                let end = start + len;
                out.push(Token {
                    kind: if c == '"' {
                        TokKind::Str
                    } else {
                        TokKind::Expr
                    },
                    text: &text[start..end],
                    off: start,
                });
                i = end + 1;
            }
            _ => {
                let start = i;
                let mut end = start + c.len_utf8();
                while let Some(&b) = bytes.get(end) {
                    if b.is_ascii() {
                        if is_delim(b as char) || b == b'\'' {
                            break;
                        }
                        end += 1;
                    } else {
                        let d = text[end..].chars().next().unwrap_or(' ');
                        if d.is_whitespace() {
                            break;
                        }
                        end += d.len_utf8();
                    }
                }
                out.push(Token {
                    kind: TokKind::Word,
                    text: &text[start..end],
                    off: start,
                });
                i = end;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::source::Seg;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// The character-by-character tokenizer the byte scanner replaced.
    fn reference_tokenize(line: &LogicalLine) -> Result<Vec<Token<'_>>> {
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

    fn line(text: &str) -> LogicalLine {
        LogicalLine {
            text: text.to_string(),
            first: Seg {
                off: 0,
                line: 3,
                col: 1,
            },
            continuations: Vec::new(),
            file: Arc::new(PathBuf::from("t.cir")),
        }
    }

    /// Every line of up to four pieces: ASCII and Unicode white space, every delimiter,
    /// quotes, braces, multi-byte letters.
    #[test]
    fn byte_scanner_equals_character_tokenizer() {
        let pieces = [
            " ", "\t", "\u{a0}", "\u{3000}", "\u{b}", "µ", "r1", "1.5k", "{", "}", "'", "\"", "(",
            ")", "=", ",", "[", "é'",
        ];
        let n = pieces.len();
        for code in 0..n.pow(4) {
            let mut text = String::new();
            let mut k = code;
            for _ in 0..4 {
                text.push_str(pieces[k % n]);
                k /= n;
            }
            let l = line(&text);
            assert_eq!(tokenize(&l), reference_tokenize(&l), "{text:?}");
        }
    }
}
