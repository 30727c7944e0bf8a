//! Physical lines to logical lines: comments stripped, `+` continuations joined,
//! `.control` blocks skipped, `.include` and `.lib` expanded. Every logical line keeps a
//! map from its byte offsets back to (line, column) of the file it came from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ErrorKind, NetlistError, Result};
use crate::span::Span;

/// Include files nested deeper than this are reported (a cycle is reported earlier).
const MAX_INCLUDE_DEPTH: usize = 64;

/// One file's text (kept for error messages).
#[derive(Debug)]
pub struct SourceFile {
    pub path: Arc<PathBuf>,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: &Path, text: &str) -> Self {
        SourceFile {
            path: Arc::new(path.to_path_buf()),
            text: text.to_string(),
        }
    }

    /// Physical lines, without their `\r\n` / `\n` ends.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }
}

/// All files read so far, to fetch the source line of an error.
#[derive(Debug, Default)]
pub struct Sources {
    pub files: Vec<Arc<SourceFile>>,
}

impl Sources {
    /// Fill in the error's source line from the file it points into.
    pub fn annotate(&self, mut err: NetlistError) -> NetlistError {
        if err.line_text.is_empty()
            && let Some(file) = self.files.iter().find(|f| f.path == err.span.file)
            && err.span.line >= 1
            && let Some(line) = file.lines().nth(err.span.line as usize - 1)
        {
            err.line_text = line.to_string();
        }
        err
    }
}

/// Start of a piece of a logical line: byte offset in `text`, and where it was written.
#[derive(Debug, Clone, Copy)]
pub struct Seg {
    pub off: usize,
    pub line: u32,
    pub col: u32,
}

/// One card: a physical line plus its `+` continuations, comments removed.
#[derive(Debug, Clone)]
pub struct LogicalLine {
    pub text: String,
    /// Where `text` starts (offset 0).
    pub first: Seg,
    /// Where each `+` continuation starts, in order (empty for most cards: no allocation).
    pub continuations: Vec<Seg>,
    pub file: Arc<PathBuf>,
}

impl LogicalLine {
    /// Source location of byte offset `off` of `text`.
    pub fn span_at(&self, off: usize) -> Span {
        let off = off.min(self.text.len());
        let seg = self
            .continuations
            .iter()
            .rev()
            .find(|s| s.off <= off)
            .copied()
            .unwrap_or(self.first);
        let chars = self
            .text
            .get(seg.off..off)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Span {
            file: self.file.clone(),
            line: seg.line,
            col: seg.col + chars as u32,
        }
    }

    /// First whitespace-separated word, as written.
    pub fn first_word(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or("")
    }

    /// Words after the first one (whitespace separated, quotes stripped).
    fn args(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut iter = word_offsets(&self.text).into_iter();
        iter.next();
        for (w, off) in iter {
            let w = w.trim_matches(|c| c == '"' || c == '\'');
            out.push((w.to_string(), off));
        }
        out
    }
}

/// White-space separated words with their offsets; a word may be quoted ("a b" or 'a b')
/// and then keeps its spaces (quotes included, the caller strips them).
fn word_offsets(text: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (start, quote) {
            (Some(_), Some(q)) => {
                if c == q {
                    quote = None;
                }
            }
            (Some(s), None) => {
                if c.is_whitespace() {
                    out.push((&text[s..i], s));
                    start = None;
                }
            }
            (None, _) => {
                if !c.is_whitespace() {
                    start = Some(i);
                    if c == '"' || c == '\'' {
                        quote = Some(c);
                    }
                }
            }
        }
    }
    if let Some(s) = start {
        out.push((&text[s..], s));
    }
    out
}

/// Remove inline comments: `;` anywhere, `$` and `//` at the start or after white space.
fn strip_inline_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut prev_space = true;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b';' => return &line[..i],
            // ngspice: `$` after white space starts a comment (`1k $note` and `1k $ note`).
            b'$' if prev_space => return &line[..i],
            b'/' if prev_space && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        prev_space = b.is_ascii_whitespace();
    }
    line
}

/// Logical lines of one file. `has_title` skips the first physical line (the title).
pub fn logical_lines(file: &SourceFile, has_title: bool) -> Vec<LogicalLine> {
    // At most one logical line per physical line: no copies while growing (capacity not
    // used costs no memory).
    let physical = file.text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut out: Vec<LogicalLine> = Vec::with_capacity(physical);
    let mut in_control = false;
    for (idx, raw) in file.lines().enumerate() {
        if has_title && idx == 0 {
            continue;
        }
        let line_no = idx as u32 + 1;
        let trimmed = raw.trim_start();
        if trimmed.starts_with('*') || trimmed.is_empty() {
            continue;
        }
        // Only dot cards are looked at here (`.control`, `.endc`, `.end`).
        let word = if trimmed.starts_with('.') {
            trimmed.split_whitespace().next().unwrap_or("")
        } else {
            ""
        };
        if in_control {
            if word.eq_ignore_ascii_case(".endc") {
                in_control = false;
            }
            continue;
        }
        if word.eq_ignore_ascii_case(".control") {
            in_control = true;
            continue;
        }
        let body = strip_inline_comment(raw);
        if body.trim().is_empty() {
            continue;
        }
        let lead = body.len() - body.trim_start().len();
        if let Some(rest) = body.trim_start().strip_prefix('+')
            && let Some(last) = out.last_mut()
        {
            last.text.push(' ');
            let col = (body[..lead].chars().count() + 2) as u32;
            last.continuations.push(Seg {
                off: last.text.len(),
                line: line_no,
                col,
            });
            last.text.push_str(rest);
            continue;
        }
        if word.eq_ignore_ascii_case(".end") {
            break;
        }
        out.push(LogicalLine {
            text: body.to_string(),
            first: Seg {
                off: 0,
                line: line_no,
                col: 1,
            },
            continuations: Vec::new(),
            file: file.path.clone(),
        });
    }
    out
}

/// Reads netlist files and expands `.include` / `.lib`.
pub struct Reader {
    pub sources: Sources,
    /// (canonical path, section) of the files being included, outermost first.
    stack: Vec<(PathBuf, Option<String>)>,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            sources: Sources::default(),
            stack: Vec::new(),
        }
    }

    /// Main file: title line, then expanded logical lines.
    pub fn read_main(&mut self, text: &str, path: &Path) -> Result<(String, Vec<LogicalLine>)> {
        let file = Arc::new(SourceFile::new(path, text));
        self.sources.files.push(file.clone());
        let title = file.lines().next().unwrap_or_default().to_string();
        let key = canonical(path);
        self.stack.push((key, None));
        let lines = logical_lines(&file, true);
        let out = self.expand(lines);
        self.stack.pop();
        Ok((title.trim().to_string(), out?))
    }

    fn expand(&mut self, lines: Vec<LogicalLine>) -> Result<Vec<LogicalLine>> {
        // Most netlists include nothing: their lines are handed back as they are.
        let file_card = |l: &LogicalLine| {
            matches!(
                dot_word(l).as_str(),
                ".include" | ".inc" | ".incl" | ".lib" | ".endl"
            )
        };
        if !lines.iter().any(file_card) {
            return Ok(lines);
        }
        let mut out = Vec::with_capacity(lines.len());
        let mut skipping_section: Option<Span> = None;
        for line in lines {
            let word = dot_word(&line);
            if skipping_section.is_some() {
                if word == ".endl" {
                    skipping_section = None;
                }
                continue;
            }
            match word.as_str() {
                ".include" | ".inc" | ".incl" => {
                    let args = line.args();
                    let Some((name, off)) = args.first() else {
                        return Err(NetlistError::new(
                            ErrorKind::Syntax,
                            line.span_at(0),
                            word,
                            ".include needs a file name",
                            "write `.include \"file.lib\"` (relative to this file)",
                        ));
                    };
                    let span = line.span_at(*off);
                    let lines = self.include(&line, name, None, span)?;
                    out.extend(lines);
                }
                ".lib" => {
                    let args = line.args();
                    match args.len() {
                        0 => {
                            return Err(NetlistError::new(
                                ErrorKind::Syntax,
                                line.span_at(0),
                                word,
                                ".lib needs a file name and a section, or a section name",
                                "write `.lib \"models.lib\" section` to use a section, or \
                                 `.lib section` … `.endl` to define one",
                            ));
                        }
                        1 => skipping_section = Some(line.span_at(0)),
                        _ => {
                            let (name, off) = &args[0];
                            let section = args[1].0.to_ascii_lowercase();
                            let span = line.span_at(*off);
                            let lines = self.include(&line, name, Some(section), span)?;
                            out.extend(lines);
                        }
                    }
                }
                ".endl" => {}
                _ => out.push(line),
            }
        }
        if let Some(span) = skipping_section {
            return Err(NetlistError::new(
                ErrorKind::Syntax,
                span,
                ".lib",
                "library section without `.endl`",
                "close the section with `.endl`",
            ));
        }
        Ok(out)
    }

    fn include(
        &mut self,
        at: &LogicalLine,
        name: &str,
        section: Option<String>,
        span: Span,
    ) -> Result<Vec<LogicalLine>> {
        let base = at.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = base.join(name);
        let key = (canonical(&path), section.clone());
        if self.stack.contains(&key) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .map(|(p, _)| p.display().to_string())
                .chain(std::iter::once(key.0.display().to_string()))
                .collect();
            return Err(NetlistError::new(
                ErrorKind::IncludeCycle,
                span,
                name,
                format!("include cycle: {}", chain.join(" -> ")),
                "a file must not include itself, directly or through other files",
            ));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(NetlistError::new(
                ErrorKind::TooLarge,
                span,
                name,
                "includes nested too deeply",
                format!("at most {MAX_INCLUDE_DEPTH} levels of .include/.lib are allowed"),
            ));
        }
        let text = read_text(&path).map_err(|e| {
            NetlistError::new(
                ErrorKind::MissingInclude,
                span.clone(),
                name,
                format!("cannot read included file '{}': {e}", path.display()),
                "paths are relative to the file that contains the .include/.lib card",
            )
        })?;
        let file = Arc::new(SourceFile::new(&path, &text));
        self.sources.files.push(file.clone());
        let mut lines = logical_lines(&file, false);
        if let Some(sec) = &section {
            lines = extract_section(lines, sec).ok_or_else(|| {
                NetlistError::new(
                    ErrorKind::UndefinedModel,
                    span.clone(),
                    sec.clone(),
                    format!("library section '{sec}' not found in '{}'", path.display()),
                    "the library file must contain `.lib SECTION` … `.endl`",
                )
            })?;
        }
        self.stack.push(key);
        let out = self.expand(lines);
        self.stack.pop();
        out
    }
}

/// The first word lower-cased if it is a dot card, else empty (no allocation for the
/// element cards that make up most of a netlist).
fn dot_word(line: &LogicalLine) -> String {
    let word = line.first_word();
    if word.starts_with('.') {
        word.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// Lines between `.lib section` and its `.endl`.
fn extract_section(lines: Vec<LogicalLine>, section: &str) -> Option<Vec<LogicalLine>> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut found = false;
    for line in lines {
        let word = dot_word(&line);
        if !inside {
            if word == ".lib" {
                let args = line.args();
                if args.len() == 1 && args[0].0.eq_ignore_ascii_case(section) {
                    inside = true;
                    found = true;
                }
            }
        } else if word == ".endl" {
            inside = false;
        } else {
            out.push(line);
        }
    }
    found.then_some(out)
}

/// A netlist file as text. Bytes that are not UTF-8 (a Latin-1 `µ` in a comment, say)
/// become U+FFFD instead of failing the whole file.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
