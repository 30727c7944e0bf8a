//! Logical lines to cards (`ast::Item`), subcircuit definitions nested.

use super::ast::*;
use super::error::{ErrorKind, NetlistError, Result};
use super::expr::{parse_expr, parse_expr_prefix};
use super::lexer::{TokKind, Token, tokenize};
use super::number::{looks_numeric, parse_value_token};
use super::source::LogicalLine;
use crate::expr::Expr;

const ELEMENT_HINT: &str = "dfcsim knows R C L V I E F G H B X A elements";

/// Turn expanded logical lines into a netlist.
pub fn parse_lines(title: String, lines: &[LogicalLine]) -> Result<Netlist> {
    let mut netlist = Netlist {
        title,
        ..Default::default()
    };
    // Room for every card up front: items are large, growing by doubling copies them.
    netlist.items.reserve(lines.len());
    // Open `.subckt` definitions, innermost last.
    let mut open: Vec<SubcktDef> = Vec::new();
    for line in lines {
        let toks = tokenize(line)?;
        if toks.is_empty() {
            continue;
        }
        let mut c = Cursor {
            line,
            toks: &toks,
            pos: 0,
        };
        let item = if toks[0].text.starts_with('.') {
            let first = toks[0].lower();
            match first.as_str() {
                ".subckt" => {
                    open.push(c.subckt_header()?);
                    None
                }
                ".ends" => {
                    let Some(def) = open.pop() else {
                        return Err(c.err_tok(
                            0,
                            ErrorKind::UnbalancedSubckt,
                            "`.ends` without a matching `.subckt`",
                            "remove this line or add the `.subckt NAME nodes…` it closes",
                        ));
                    };
                    if let Some(t) = toks.get(1)
                        && t.is_word()
                        && t.lower() != def.name.text
                    {
                        return Err(c.err_tok(
                            1,
                            ErrorKind::UnbalancedSubckt,
                            format!(
                                "`.ends {}` closes `.subckt {}` (nested definitions close \
                                 innermost first)",
                                t.lower(),
                                def.name.text
                            ),
                            format!("write `.ends {}` here", def.name.text),
                        ));
                    }
                    Some(Item::Subckt(def))
                }
                _ => c.dot_card(&first, &mut netlist, open.last())?,
            }
        } else {
            Some(Item::Element(c.element()?))
        };
        if let Some(item) = item {
            match open.last_mut() {
                Some(def) => def.items.push(item),
                None => netlist.items.push(item),
            }
        }
    }
    if let Some(def) = open.pop() {
        return Err(NetlistError::new(
            ErrorKind::UnbalancedSubckt,
            def.span.clone(),
            format!(".subckt {}", def.name.text),
            format!("`.subckt {}` has no matching `.ends`", def.name.text),
            format!("close the definition with `.ends {}`", def.name.text),
        ));
    }
    Ok(netlist)
}

struct Cursor<'a> {
    line: &'a LogicalLine,
    toks: &'a [Token<'a>],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn span_tok(&self, idx: usize) -> crate::span::Span {
        match self.toks.get(idx) {
            Some(t) => self.line.span_at(t.off),
            None => self.line.span_at(self.line.text.trim_end().len()),
        }
    }

    fn err_tok(
        &self,
        idx: usize,
        kind: ErrorKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> NetlistError {
        let text = self
            .toks
            .get(idx)
            .map(|t| t.text.to_string())
            .unwrap_or_default();
        NetlistError::new(kind, self.span_tok(idx), text, message, hint)
    }

    fn peek(&self) -> Option<&'a Token<'a>> {
        self.toks.get(self.pos)
    }

    fn peek_kind(&self, k: usize) -> Option<TokKind> {
        self.toks.get(self.pos + k).map(|t| t.kind)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn skip_commas(&mut self) {
        while self.peek().is_some_and(|t| t.is(TokKind::Comma)) {
            self.pos += 1;
        }
    }

    /// Next token is a word followed by `=` (a keyword argument).
    fn at_keyword(&self) -> bool {
        self.peek().is_some_and(|t| t.is_word()) && self.peek_kind(1) == Some(TokKind::Equals)
    }

    fn name_of(&self, idx: usize) -> Name {
        Name {
            text: self.toks[idx].lower(),
            span: self.span_tok(idx),
        }
    }

    /// A node name: a word that is not a keyword argument.
    fn node(&mut self, element: &str, what: &str) -> Result<Name> {
        self.skip_commas();
        match self.peek() {
            Some(t) if t.is_word() && !self.at_keyword() => {
                let n = self.name_of(self.pos);
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.err_tok(
                self.pos,
                ErrorKind::MissingNode,
                format!("{element}: missing {what}"),
                "check the number of nodes of this element",
            )),
        }
    }

    /// Value from the token at `idx`.
    fn value_at(&self, idx: usize) -> Result<Value> {
        let t = &self.toks[idx];
        let span = self.span_tok(idx);
        match t.kind {
            TokKind::Expr => {
                let expr = parse_expr(t.text).map_err(|e| {
                    NetlistError::new(
                        e.kind,
                        self.line.span_at(t.off + e.offset),
                        t.text.to_string(),
                        e.message,
                        e.hint,
                    )
                })?;
                Ok(Value {
                    expr,
                    text: t.text.to_string(),
                    span,
                })
            }
            TokKind::Word if looks_numeric(t.text) => match parse_value_token(t.text) {
                Some(v) => Ok(Value {
                    expr: Expr::Const(v),
                    text: t.text.to_string(),
                    span,
                }),
                None => Err(NetlistError::new(
                    ErrorKind::BadNumber,
                    span,
                    t.text.to_string(),
                    format!("bad number '{}'", t.text),
                    "numbers look like 1.5, 2e-3, 10k, 4.7u, 1meg (suffixes f p n u m k meg g t)",
                )),
            },
            TokKind::Word => {
                let expr = parse_expr(t.text).map_err(|_| {
                    NetlistError::new(
                        ErrorKind::BadNumber,
                        span.clone(),
                        t.text.to_string(),
                        format!("expected a number or parameter, found '{}'", t.text),
                        "write a number (10k), a parameter name or an expression in braces {…}",
                    )
                })?;
                Ok(Value {
                    expr,
                    text: t.text.to_string(),
                    span,
                })
            }
            _ => Err(self.err_tok(
                idx,
                ErrorKind::Syntax,
                format!("expected a value, found '{}'", t.text),
                "write a number (10k), a parameter name or an expression in braces {…}",
            )),
        }
    }

    /// A required value.
    fn value(&mut self, element: &str, what: &str) -> Result<Value> {
        self.skip_commas();
        match self.peek() {
            Some(t) if matches!(t.kind, TokKind::Word | TokKind::Expr) && !self.at_keyword() => {
                let v = self.value_at(self.pos)?;
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{element}: missing {what}"),
                "add the value (a number, parameter or {expression})",
            )),
        }
    }

    /// `key = value` pairs until the end of the line, values kept as written.
    fn keyword_args(&mut self, context: &str) -> Result<Vec<(Name, ModelValue)>> {
        let mut out = Vec::new();
        loop {
            self.skip_commas();
            if self.at_end() {
                return Ok(out);
            }
            let t = &self.toks[self.pos];
            if !t.is_word() {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!("{context}: expected `name=value`, found '{}'", t.text),
                    "write parameters as name=value",
                ));
            }
            let name = self.name_of(self.pos);
            self.pos += 1;
            if self.peek_kind(0) != Some(TokKind::Equals) {
                // A flag without value (e.g. `.options interp`).
                out.push((name, ModelValue::Str(String::new())));
                continue;
            }
            self.pos += 1;
            let v = self.model_value(context)?;
            out.push((name, v));
        }
    }

    fn model_value(&mut self, context: &str) -> Result<ModelValue> {
        match self.peek().map(|t| t.kind) {
            Some(TokKind::LBracket) => {
                self.pos += 1;
                let mut vals = Vec::new();
                loop {
                    self.skip_commas();
                    match self.peek().map(|t| t.kind) {
                        Some(TokKind::RBracket) => {
                            self.pos += 1;
                            return Ok(ModelValue::Vec(vals));
                        }
                        Some(TokKind::Word | TokKind::Expr) => {
                            vals.push(self.value_at(self.pos)?);
                            self.pos += 1;
                        }
                        _ => {
                            return Err(self.err_tok(
                                self.pos,
                                ErrorKind::Syntax,
                                format!("{context}: unclosed vector '['"),
                                "vectors are written [v1 v2 …]",
                            ));
                        }
                    }
                }
            }
            Some(TokKind::Expr) => {
                let v = self.value_at(self.pos)?;
                self.pos += 1;
                Ok(ModelValue::Expr(v))
            }
            Some(TokKind::Str) => {
                let s = self.toks[self.pos].text.to_string();
                self.pos += 1;
                Ok(ModelValue::Str(s))
            }
            Some(TokKind::Word) => {
                let t = &self.toks[self.pos];
                let v = if looks_numeric(t.text) {
                    ModelValue::Expr(self.value_at(self.pos)?)
                } else {
                    ModelValue::Str(t.lower())
                };
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{context}: missing value after '='"),
                "write name=value",
            )),
        }
    }

    fn expect_end(&self, context: &str) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!(
                    "{context}: unexpected '{}' at end of card",
                    self.toks[self.pos].text
                ),
                "remove the extra text",
            ))
        }
    }

    fn element(&mut self) -> Result<ElementCard> {
        let first = &self.toks[0];
        if !first.is_word() {
            return Err(self.err_tok(
                0,
                ErrorKind::UnknownElement,
                format!("a card cannot start with '{}'", first.text),
                ELEMENT_HINT,
            ));
        }
        let name = self.name_of(0);
        self.pos = 1;
        let letter = name.text.chars().next().unwrap_or(' ');
        let label = name.text.clone();
        let body = match letter {
            'r' | 'c' | 'l' => self.two_terminal(letter, &label)?,
            'v' | 'i' => self.source(letter == 'i', &label)?,
            'e' | 'g' => self.vc_source(letter == 'g', &label)?,
            'f' | 'h' => {
                let p = self.node(&label, "positive node")?;
                let n = self.node(&label, "negative node")?;
                if self.peek().is_some_and(|t| t.is_kw("poly")) {
                    return Err(self.err_tok(
                        self.pos,
                        ErrorKind::Unsupported,
                        "POLY controlled sources are not supported",
                        "use a B source: B1 n+ n- I={expression of i(vx)}",
                    ));
                }
                let control = self.node(&label, "controlling voltage source")?;
                let gain = self.value(&label, "gain")?;
                self.expect_end(&label)?;
                ElementBody::LinearCc {
                    current: letter == 'f',
                    p,
                    n,
                    control,
                    gain,
                }
            }
            'b' => {
                let p = self.node(&label, "positive node")?;
                let n = self.node(&label, "negative node")?;
                let current = match self.peek() {
                    Some(t) if t.is_kw("v") => false,
                    Some(t) if t.is_kw("i") => true,
                    _ => {
                        return Err(self.err_tok(
                            self.pos,
                            ErrorKind::Syntax,
                            format!("{label}: expected V=expression or I=expression"),
                            "write B1 out 0 V={2*v(in)} or B1 out 0 I=v(in)/1k",
                        ));
                    }
                };
                self.pos += 1;
                let expr = self.rest_expression(&label)?;
                ElementBody::Behavioral {
                    current,
                    p,
                    n,
                    expr,
                }
            }
            'x' => self.instance(&label)?,
            'a' => self.array(&label)?,
            _ => {
                return Err(self.err_tok(
                    0,
                    ErrorKind::UnknownElement,
                    format!("unknown element type '{}'", self.toks[0].text),
                    format!(
                        "{ELEMENT_HINT}; the first letter of the name gives the type \
                         (semiconductor devices and K, T, S, W are not supported)"
                    ),
                ));
            }
        };
        Ok(ElementCard { name, body })
    }

    /// After `V`/`I`/`VALUE`/`VOL`/`CUR`: `=` then an expression, in braces or as the rest of
    /// the line.
    fn rest_expression(&mut self, label: &str) -> Result<Value> {
        if self.peek_kind(0) != Some(TokKind::Equals) {
            return Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{label}: expected '=' before the expression"),
                "write V={expression} or I={expression}",
            ));
        }
        let eq = &self.toks[self.pos];
        self.pos += 1;
        if self.peek_kind(0) == Some(TokKind::Expr) && self.pos + 1 == self.toks.len() {
            let v = self.value_at(self.pos)?;
            self.pos += 1;
            return Ok(v);
        }
        let start = eq.off + 1;
        let text = &self.line.text[start..];
        let expr = parse_expr(text).map_err(|e| {
            NetlistError::new(
                e.kind,
                self.line.span_at(start + e.offset),
                text.trim().to_string(),
                e.message,
                e.hint,
            )
        })?;
        self.pos = self.toks.len();
        let lead = text.len() - text.trim_start().len();
        Ok(Value {
            expr,
            text: text.trim().to_string(),
            span: self.line.span_at(start + lead),
        })
    }

    fn two_terminal(&mut self, letter: char, label: &str) -> Result<ElementBody> {
        let p = self.node(label, "positive node")?;
        let n = self.node(label, "negative node")?;
        let mut value = None;
        let mut ic = None;
        let mut m = None;
        let main_key = match letter {
            'r' => ["r", "resistance"],
            'c' => ["c", "capacitance"],
            _ => ["l", "inductance"],
        };
        loop {
            self.skip_commas();
            let Some(t) = self.peek() else { break };
            if self.at_keyword() {
                let key = t.lower();
                let key_idx = self.pos;
                self.pos += 2;
                let v = self.value(label, &key)?;
                match key.as_str() {
                    k if main_key.contains(&k) => value = Some(v),
                    "ic" if letter != 'r' => ic = Some(v),
                    "m" => m = Some(v),
                    "tc" | "tc1" | "tc2" | "temp" | "dtemp" | "ac" | "noisy" | "scale" => {}
                    _ => {
                        return Err(self.err_tok(
                            key_idx,
                            ErrorKind::Syntax,
                            format!("{label}: unknown parameter '{key}'"),
                            match letter {
                                'r' => "resistors take a value and optionally m=",
                                _ => "capacitors and inductors take a value, ic= and m=",
                            },
                        ));
                    }
                }
            } else if value.is_none() && matches!(t.kind, TokKind::Word | TokKind::Expr) {
                value = Some(self.value_at(self.pos)?);
                self.pos += 1;
            } else {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!("{label}: unexpected '{}'", t.text),
                    "write NAME n+ n- value [ic=v] (models are not supported for R/C/L)",
                ));
            }
        }
        let Some(value) = value else {
            // `R1 a 10k`: the value was read as the second node.
            if looks_numeric(&n.text) && !n.text.chars().all(|c| c.is_ascii_digit()) {
                return Err(NetlistError::new(
                    ErrorKind::MissingNode,
                    n.span.clone(),
                    n.text.clone(),
                    format!("{label}: missing node ('{}' looks like the value)", n.text),
                    "write NAME n+ n- value, e.g. R1 a b 10k",
                ));
            }
            return Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{label}: missing value"),
                "write NAME n+ n- value, e.g. R1 a b 10k",
            ));
        };
        Ok(match letter {
            'r' => ElementBody::Resistor { p, n, value, m },
            'c' => ElementBody::Capacitor { p, n, value, ic, m },
            _ => ElementBody::Inductor { p, n, value, ic, m },
        })
    }

    /// Arguments of PULSE/PWL/SIN: inside parentheses anything that is a value; without
    /// parentheses the numbers and `{…}` that follow.
    fn fn_args(&mut self, label: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        if self.peek_kind(0) == Some(TokKind::LParen) {
            let open = self.pos;
            self.pos += 1;
            loop {
                self.skip_commas();
                match self.peek().map(|t| t.kind) {
                    Some(TokKind::RParen) => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some(TokKind::Word | TokKind::Expr) => {
                        out.push(self.value_at(self.pos)?);
                        self.pos += 1;
                    }
                    Some(_) => {
                        return Err(self.err_tok(
                            self.pos,
                            ErrorKind::Syntax,
                            format!("{label}: unexpected '{}'", self.toks[self.pos].text),
                            "source functions are written PULSE(v1 v2 td tr tf pw per)",
                        ));
                    }
                    None => {
                        return Err(self.err_tok(
                            open,
                            ErrorKind::Syntax,
                            format!("{label}: unclosed '('"),
                            "close the argument list with ')'",
                        ));
                    }
                }
            }
        }
        loop {
            self.skip_commas();
            match self.peek() {
                Some(t)
                    if (t.is(TokKind::Expr) || (t.is_word() && looks_numeric(t.text)))
                        && !self.at_keyword() =>
                {
                    out.push(self.value_at(self.pos)?);
                    self.pos += 1;
                }
                _ => return Ok(out),
            }
        }
    }

    fn source(&mut self, current: bool, label: &str) -> Result<ElementBody> {
        let p = self.node(label, "positive node")?;
        let n = self.node(label, "negative node")?;
        let mut dc = None;
        let mut func = None;
        loop {
            self.skip_commas();
            let Some(t) = self.peek() else { break };
            let word = t.lower();
            let idx = self.pos;
            match (t.kind, word.as_str()) {
                (TokKind::Word, "dc") => {
                    self.pos += 1;
                    if self.peek_kind(0) == Some(TokKind::Equals) {
                        self.pos += 1;
                    }
                    dc = Some(self.value(label, "DC value")?);
                }
                (TokKind::Word, "ac") => {
                    // AC magnitude and phase: accepted and ignored (no AC analysis).
                    self.pos += 1;
                    if self.peek_kind(0) == Some(TokKind::Equals) {
                        self.pos += 1;
                    }
                    for _ in 0..2 {
                        match self.peek() {
                            Some(t) if t.is(TokKind::Expr) || looks_numeric(t.text) => {
                                self.pos += 1
                            }
                            _ => break,
                        }
                    }
                }
                (TokKind::Word, "pulse" | "sin" | "pwl" | "trnoise") => {
                    if func.is_some() {
                        return Err(self.err_tok(
                            idx,
                            ErrorKind::Syntax,
                            format!("{label}: more than one transient function"),
                            "give one of PULSE, PWL, SIN, TRNOISE",
                        ));
                    }
                    self.pos += 1;
                    let args = self.fn_args(label)?;
                    func = Some(match word.as_str() {
                        "pulse" => SourceFn::Pulse(args),
                        "sin" => SourceFn::Sin(args),
                        "trnoise" => SourceFn::TrNoise(args),
                        _ => {
                            let mut td = None;
                            while self.at_keyword() {
                                let key = self.toks[self.pos].lower();
                                let key_idx = self.pos;
                                self.pos += 2;
                                let v = self.value(label, &key)?;
                                match key.as_str() {
                                    "td" => td = Some(v),
                                    _ => {
                                        return Err(self.err_tok(
                                            key_idx,
                                            ErrorKind::Unsupported,
                                            format!("{label}: PWL option '{key}' not supported"),
                                            "only td= is supported after PWL(…); write the \
                                             repetitions out",
                                        ));
                                    }
                                }
                            }
                            SourceFn::Pwl { points: args, td }
                        }
                    });
                }
                (
                    TokKind::Word,
                    "exp" | "sffm" | "am" | "trrandom" | "pat" | "distof1" | "distof2",
                ) => {
                    return Err(self.err_tok(
                        idx,
                        ErrorKind::Unsupported,
                        format!("{label}: source function '{word}' is not supported"),
                        "supported: DC, PULSE, PWL, SIN, TRNOISE (AC is accepted and ignored)",
                    ));
                }
                (TokKind::Word | TokKind::Expr, _) if dc.is_none() && !self.at_keyword() => {
                    dc = Some(self.value_at(self.pos)?);
                    self.pos += 1;
                }
                _ => {
                    return Err(self.err_tok(
                        idx,
                        ErrorKind::Syntax,
                        format!("{label}: unexpected '{}'", t.text),
                        "write V1 n+ n- [DC] value [PULSE(…)|PWL(…)|SIN(…)|TRNOISE(…)]",
                    ));
                }
            }
        }
        Ok(ElementBody::Source {
            current,
            p,
            n,
            dc,
            func,
        })
    }

    fn vc_source(&mut self, current: bool, label: &str) -> Result<ElementBody> {
        let p = self.node(label, "positive node")?;
        let n = self.node(label, "negative node")?;
        if let Some(t) = self.peek() {
            let w = t.lower();
            let behavioral = matches!(w.as_str(), "value")
                || (!current && w == "vol")
                || (current && w == "cur");
            if t.is_word() && behavioral && self.peek_kind(1) == Some(TokKind::Equals) {
                self.pos += 1;
                let expr = self.rest_expression(label)?;
                return Ok(ElementBody::Behavioral {
                    current,
                    p,
                    n,
                    expr,
                });
            }
            if t.is_word() && matches!(w.as_str(), "poly" | "table" | "laplace" | "freq") {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Unsupported,
                    format!("{label}: {} sources are not supported", w.to_uppercase()),
                    "use a linear gain or a B source with an expression",
                ));
            }
        }
        // Controlling nodes may be written as a pair in parentheses: `E1 o 0 (a, b) 2`.
        let paren = self.peek_kind(0) == Some(TokKind::LParen);
        if paren {
            self.pos += 1;
        }
        let cp = self.node(label, "positive controlling node")?;
        let cn = self.node(label, "negative controlling node")?;
        if paren {
            self.skip_commas();
            if self.peek_kind(0) != Some(TokKind::RParen) {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!("{label}: expected ')' after the controlling nodes"),
                    "write E1 out 0 (in+, in-) gain",
                ));
            }
            self.pos += 1;
        }
        let gain = self.value(label, if current { "transconductance" } else { "gain" })?;
        self.expect_end(label)?;
        Ok(ElementBody::LinearVc {
            current,
            p,
            n,
            cp,
            cn,
            gain,
        })
    }

    fn instance(&mut self, label: &str) -> Result<ElementBody> {
        let mut words = Vec::new();
        while let Some(t) = self.peek() {
            if !t.is_word() || self.at_keyword() || t.is_kw("params:") {
                break;
            }
            words.push(self.name_of(self.pos));
            self.pos += 1;
        }
        if self.peek().is_some_and(|t| t.is_kw("params:")) {
            self.pos += 1;
        }
        let Some(subckt) = words.pop() else {
            return Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{label}: missing subcircuit name"),
                "write X1 node1 node2 … SUBCKT_NAME [k=v …]",
            ));
        };
        let mut params = Vec::new();
        loop {
            self.skip_commas();
            if self.at_end() {
                break;
            }
            if !self.at_keyword() {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!("{label}: unexpected '{}'", self.toks[self.pos].text),
                    "instance parameters are written name=value after the subcircuit name",
                ));
            }
            let name = self.name_of(self.pos);
            self.pos += 2;
            let v = self.value(label, &name.text)?;
            params.push((name, v));
        }
        Ok(ElementBody::Instance {
            nodes: words,
            subckt,
            params,
        })
    }

    fn array(&mut self, label: &str) -> Result<ElementBody> {
        let mut ports = Vec::new();
        let mut last_word: Option<Name> = None;
        while let Some(t) = self.peek() {
            match t.kind {
                TokKind::Word if t.text.starts_with('%') => {
                    // XSPICE port type modifier (%v, %i, %d, …): the model decides.
                    self.pos += 1;
                }
                TokKind::Word => {
                    if let Some(w) = last_word.take() {
                        ports.push(Port::Scalar(w));
                    }
                    let mut n = self.name_of(self.pos);
                    n.text = n.text.trim_start_matches('~').to_string();
                    last_word = Some(n);
                    self.pos += 1;
                }
                TokKind::LBracket => {
                    if let Some(w) = last_word.take() {
                        ports.push(Port::Scalar(w));
                    }
                    let open = self.pos;
                    self.pos += 1;
                    let mut nodes = Vec::new();
                    loop {
                        self.skip_commas();
                        match self.peek() {
                            Some(t) if t.is(TokKind::RBracket) => {
                                self.pos += 1;
                                break;
                            }
                            Some(t) if t.is_word() => {
                                if !t.text.starts_with('%') {
                                    let mut n = self.name_of(self.pos);
                                    n.text = n.text.trim_start_matches('~').to_string();
                                    nodes.push(n);
                                }
                                self.pos += 1;
                            }
                            _ => {
                                return Err(self.err_tok(
                                    open,
                                    ErrorKind::Syntax,
                                    format!("{label}: unclosed vector port '['"),
                                    "vector ports are written [n1 n2 …]",
                                ));
                            }
                        }
                    }
                    ports.push(Port::Vector(nodes));
                }
                _ => {
                    return Err(self.err_tok(
                        self.pos,
                        ErrorKind::Syntax,
                        format!("{label}: unexpected '{}'", t.text),
                        "write A1 [in1 in2] out MODEL",
                    ));
                }
            }
        }
        let Some(model) = last_word else {
            return Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                format!("{label}: missing model name"),
                "the last word of an A device is its .model name",
            ));
        };
        Ok(ElementBody::Array { ports, model })
    }

    fn subckt_header(&mut self) -> Result<SubcktDef> {
        self.pos = 1;
        let span = self.span_tok(0);
        let name = match self.peek() {
            Some(t) if t.is_word() && !self.at_keyword() => {
                let n = self.name_of(self.pos);
                self.pos += 1;
                n
            }
            _ => {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    ".subckt needs a name",
                    "write .subckt NAME node1 node2 … [params: k=v …]",
                ));
            }
        };
        let mut ports = Vec::new();
        while let Some(t) = self.peek() {
            if !t.is_word() || self.at_keyword() || t.is_kw("params:") {
                break;
            }
            ports.push(self.name_of(self.pos));
            self.pos += 1;
        }
        if self.peek().is_some_and(|t| t.is_kw("params:")) {
            self.pos += 1;
        }
        let mut params = Vec::new();
        loop {
            self.skip_commas();
            if self.at_end() {
                break;
            }
            if !self.at_keyword() {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!(
                        ".subckt {}: unexpected '{}'",
                        name.text, self.toks[self.pos].text
                    ),
                    "write .subckt NAME node1 node2 … [params: k=v …]",
                ));
            }
            let pname = self.name_of(self.pos);
            self.pos += 2;
            let v = self.value(".subckt", &pname.text)?;
            params.push((pname, v));
        }
        Ok(SubcktDef {
            name,
            ports,
            params,
            items: Vec::new(),
            span,
        })
    }

    fn dot_card(
        &mut self,
        card: &str,
        netlist: &mut Netlist,
        open_subckt: Option<&SubcktDef>,
    ) -> Result<Option<Item>> {
        self.pos = 1;
        let span = self.span_tok(0);
        let top_only = |c: &Self| -> Result<()> {
            if let Some(def) = open_subckt {
                // Most likely a forgotten `.ends`: point at the definition.
                Err(NetlistError::new(
                    ErrorKind::UnbalancedSubckt,
                    def.span.clone(),
                    format!(".subckt {}", def.name.text),
                    format!(
                        "`.subckt {}` has no matching `.ends` before `{card}` (line {})",
                        def.name.text,
                        c.span_tok(0).line
                    ),
                    format!(
                        "close the definition with `.ends {}`; {card} is not allowed inside a \
                         subcircuit",
                        def.name.text
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let item = match card {
            ".param" | ".params" => Item::Param(self.param_card()?),
            ".model" => Item::Model(self.model_card()?),
            ".ic" => Item::Ic(self.ic_card()?),
            ".options" | ".option" | ".opt" | ".opts" => {
                top_only(self)?;
                let args = self.keyword_args(card)?;
                Item::Options(
                    args.into_iter()
                        .map(|(n, v)| {
                            let v = match v {
                                ModelValue::Str(s) if s.is_empty() => None,
                                other => Some(other),
                            };
                            (n, v)
                        })
                        .collect(),
                )
            }
            ".op" => {
                top_only(self)?;
                Item::Op(span)
            }
            ".tran" => {
                top_only(self)?;
                self.tran_card(span)?
            }
            ".save" => {
                top_only(self)?;
                Item::Save(self.save_card()?)
            }
            ".global" => {
                let mut nodes = Vec::new();
                while !self.at_end() {
                    nodes.push(self.node(".global", "node")?);
                }
                Item::Global(nodes)
            }
            ".learn" => {
                top_only(self)?;
                let args = self.keyword_args(card)?;
                Item::Control {
                    name: "learn".into(),
                    args,
                    span,
                }
            }
            ".print" | ".plot" | ".probe" | ".width" | ".temp" | ".nodeset" | ".title" => {
                return Ok(None);
            }
            ".meas" | ".measure" | ".four" | ".fourier" => {
                netlist.warnings.push(Warning {
                    span,
                    message: format!("{card} is ignored (dfcsim does not compute measurements)"),
                });
                return Ok(None);
            }
            ".ac" | ".dc" | ".noise" | ".tf" | ".sens" | ".pz" | ".disto" | ".sp" | ".pss" => {
                return Err(self.err_tok(
                    0,
                    ErrorKind::Unsupported,
                    format!("analysis {card} is not supported"),
                    "dfcsim runs .op and .tran; remove this card",
                ));
            }
            ".func" | ".if" | ".elseif" | ".else" | ".endif" | ".step" | ".csparam" => {
                return Err(self.err_tok(
                    0,
                    ErrorKind::Unsupported,
                    format!("{card} is not supported"),
                    "use .param expressions instead",
                ));
            }
            _ => {
                return Err(self.err_tok(
                    0,
                    ErrorKind::UnknownCard,
                    format!("unknown control card '{}'", self.toks[0].text),
                    "known cards: .param .subckt .ends .include .lib .model .ic .options .op \
                     .tran .save .learn .global .end",
                ));
            }
        };
        Ok(Some(item))
    }

    /// `.param a = expr [,] b = expr …`, expressions unbraced (they may contain spaces),
    /// in braces or in single quotes.
    fn param_card(&mut self) -> Result<Vec<(Name, Value)>> {
        let text = &self.line.text;
        let mut pos = self.toks.first().map(|t| t.off + t.text.len()).unwrap_or(0);
        let mut out = Vec::new();
        let skip_ws = |p: usize| -> usize {
            p + text[p..].len()
                - text[p..]
                    .trim_start_matches(|c: char| c.is_whitespace() || c == ',')
                    .len()
        };
        loop {
            pos = skip_ws(pos);
            if pos >= text.len() {
                break;
            }
            let rest = &text[pos..];
            let name_len = rest
                .char_indices()
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let name_ok =
                name_len > 0 && rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
            let name = Name {
                text: rest[..name_len].to_ascii_lowercase(),
                span: self.line.span_at(pos),
            };
            let after = skip_ws(pos + name_len);
            if !name_ok || !text[after..].starts_with('=') {
                let bad: String = rest.split_whitespace().next().unwrap_or("").to_string();
                let hint = if text[after..].starts_with('(') {
                    "parameter functions (.param f(x)=…) are not supported"
                } else {
                    "write .param name = value [name2 = value2 …]"
                };
                return Err(NetlistError::new(
                    ErrorKind::Syntax,
                    self.line.span_at(pos),
                    bad,
                    ".param: expected name = value",
                    hint,
                ));
            }
            let vstart = skip_ws(after + 1);
            let vtext = &text[vstart..];
            // `{…}` is part of the expression grammar; quotes delimit the whole value.
            let delimited = match vtext.chars().next() {
                Some('\'') => Some('\''),
                _ => None,
            };
            let (expr, consumed, inner_start, inner) = if let Some(close) = delimited {
                let end = if close == '}' {
                    let mut depth = 0usize;
                    let mut end = None;
                    for (i, c) in vtext.char_indices() {
                        if c == '{' {
                            depth += 1;
                        } else if c == '}' {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                    }
                    end
                } else {
                    vtext[1..].find('\'').map(|i| i + 1)
                };
                let end = end.ok_or_else(|| {
                    NetlistError::new(
                        ErrorKind::Syntax,
                        self.line.span_at(vstart),
                        vtext.to_string(),
                        "unclosed expression",
                        "close the expression",
                    )
                })?;
                let inner = &vtext[1..end];
                let e = parse_expr(inner).map_err(|e| {
                    NetlistError::new(
                        e.kind,
                        self.line.span_at(vstart + 1 + e.offset),
                        inner.to_string(),
                        e.message,
                        e.hint,
                    )
                })?;
                (e, end + 1, vstart + 1, inner)
            } else {
                let word = vtext.split_whitespace().next().unwrap_or("");
                let plain = word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
                if plain && looks_numeric(word) && parse_value_token(word).is_none() {
                    return Err(NetlistError::new(
                        ErrorKind::BadNumber,
                        self.line.span_at(vstart),
                        word.to_string(),
                        format!("bad number '{word}'"),
                        "numbers look like 1.5, 2e-3, 10k, 4.7u, 1meg (suffixes f p n u m k meg g t)",
                    ));
                }
                let (rest, e) = parse_expr_prefix(vtext).map_err(|e| {
                    let bad = vtext.split_whitespace().next().unwrap_or("").to_string();
                    let kind = if looks_numeric(&bad) && parse_value_token(&bad).is_none() {
                        ErrorKind::BadNumber
                    } else {
                        e.kind
                    };
                    NetlistError::new(
                        kind,
                        self.line.span_at(vstart + e.offset),
                        bad,
                        e.message,
                        e.hint,
                    )
                })?;
                let used = vtext.len() - rest.len();
                (e, used, vstart, vtext[..used].trim())
            };
            out.push((
                name,
                Value {
                    expr,
                    text: inner.to_string(),
                    span: self.line.span_at(inner_start),
                },
            ));
            pos = vstart + consumed;
            // The next thing must be a separator (or the end).
            let next = text[pos..].chars().next();
            if next.is_some_and(|c| !c.is_whitespace() && c != ',') {
                let bad: String = text[pos..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                return Err(NetlistError::new(
                    ErrorKind::Syntax,
                    self.line.span_at(pos),
                    bad.clone(),
                    format!(".param: unexpected '{bad}'"),
                    "write .param name = value [name2 = value2 …]",
                ));
            }
        }
        if out.is_empty() {
            return Err(self.err_tok(
                0,
                ErrorKind::Syntax,
                ".param without assignments",
                "write .param name = value",
            ));
        }
        Ok(out)
    }

    fn model_card(&mut self) -> Result<ModelCard> {
        let span = self.span_tok(0);
        let name = self.node(".model", "model name")?;
        let kind = match self.peek() {
            Some(t) if t.is_word() => {
                let k = t.lower();
                self.pos += 1;
                k
            }
            _ => {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    ".model: missing model type",
                    "write .model NAME TYPE(param=value …)",
                ));
            }
        };
        let mut params = Vec::new();
        let paren = self.peek_kind(0) == Some(TokKind::LParen);
        if paren {
            self.pos += 1;
        }
        loop {
            self.skip_commas();
            match self.peek() {
                None if paren => {
                    return Err(self.err_tok(
                        self.pos,
                        ErrorKind::Syntax,
                        ".model: unclosed '('",
                        "close the parameter list with ')'",
                    ));
                }
                None => break,
                Some(t) if paren && t.is(TokKind::RParen) => {
                    self.pos += 1;
                    self.expect_end(".model")?;
                    break;
                }
                Some(t) if t.is_word() => {
                    let pname = self.name_of(self.pos);
                    self.pos += 1;
                    if self.peek_kind(0) == Some(TokKind::Equals) {
                        self.pos += 1;
                        let v = self.model_value(".model")?;
                        params.push((pname, v));
                    } else {
                        params.push((
                            pname.clone(),
                            ModelValue::Expr(Value {
                                expr: Expr::Const(1.0),
                                text: pname.text,
                                span: pname.span,
                            }),
                        ));
                    }
                }
                Some(t) => {
                    return Err(self.err_tok(
                        self.pos,
                        ErrorKind::Syntax,
                        format!(".model: unexpected '{}'", t.text),
                        "write .model NAME TYPE(param=value …)",
                    ));
                }
            }
        }
        Ok(ModelCard {
            name,
            kind,
            params,
            span,
        })
    }

    fn ic_card(&mut self) -> Result<Vec<(Name, Value)>> {
        let mut out = Vec::new();
        loop {
            self.skip_commas();
            if self.at_end() {
                break;
            }
            let ok = self.peek().is_some_and(|t| t.is_kw("v"))
                && self.peek_kind(1) == Some(TokKind::LParen)
                && self.peek_kind(2) == Some(TokKind::Word)
                && self.peek_kind(3) == Some(TokKind::RParen)
                && self.peek_kind(4) == Some(TokKind::Equals);
            if !ok {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    ".ic: expected v(node)=value",
                    "write .ic v(out)=1.5 v(x1.a)=0",
                ));
            }
            let node = self.name_of(self.pos + 2);
            self.pos += 5;
            let v = self.value(".ic", "value")?;
            out.push((node, v));
        }
        Ok(out)
    }

    fn tran_card(&mut self, span: crate::span::Span) -> Result<Item> {
        let mut vals = Vec::new();
        let mut uic = false;
        loop {
            self.skip_commas();
            let Some(t) = self.peek() else { break };
            if t.is_kw("uic") {
                uic = true;
                self.pos += 1;
                continue;
            }
            if vals.len() == 4 || !matches!(t.kind, TokKind::Word | TokKind::Expr) {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!(".tran: unexpected '{}'", t.text),
                    "write .tran tstep tstop [tstart [tmax]] [uic]",
                ));
            }
            vals.push(self.value_at(self.pos)?);
            self.pos += 1;
        }
        if vals.len() < 2 {
            return Err(self.err_tok(
                self.pos,
                ErrorKind::Syntax,
                ".tran needs tstep and tstop",
                "write .tran tstep tstop [tstart [tmax]] [uic]",
            ));
        }
        let mut it = vals.into_iter();
        let tstep = it.next().expect("checked length");
        let tstop = it.next().expect("checked length");
        Ok(Item::Tran {
            tstep,
            tstop,
            tstart: it.next(),
            tmax: it.next(),
            uic,
            span,
        })
    }

    fn save_card(&mut self) -> Result<Vec<SaveItem>> {
        let mut out = Vec::new();
        loop {
            self.skip_commas();
            let Some(t) = self.peek() else { break };
            if !t.is_word() {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Syntax,
                    format!(".save: unexpected '{}'", t.text),
                    "write .save v(node) i(vsource) all",
                ));
            }
            let w = t.lower();
            if w == "all" {
                out.push(SaveItem::All(self.span_tok(self.pos)));
                self.pos += 1;
                continue;
            }
            if (w == "v" || w == "i") && self.peek_kind(1) == Some(TokKind::LParen) {
                let ok = self.peek_kind(2) == Some(TokKind::Word)
                    && self.peek_kind(3) == Some(TokKind::RParen);
                if !ok {
                    return Err(self.err_tok(
                        self.pos,
                        ErrorKind::Unsupported,
                        ".save: only v(node) and i(source) are supported",
                        "save v(a) and v(b) and subtract them afterwards",
                    ));
                }
                let name = self.name_of(self.pos + 2);
                out.push(if w == "v" {
                    SaveItem::Node(name)
                } else {
                    SaveItem::Current(name)
                });
                self.pos += 4;
                continue;
            }
            if w.starts_with('@') {
                return Err(self.err_tok(
                    self.pos,
                    ErrorKind::Unsupported,
                    ".save: device parameters (@dev[param]) are not supported",
                    "save v(node) or i(vsource)",
                ));
            }
            out.push(SaveItem::Node(self.name_of(self.pos)));
            self.pos += 1;
        }
        Ok(out)
    }
}
