//! Number formatting for axes (SI prefixes, tick labels) and glob matching of signal names.

/// SI prefix for a power of ten that is a multiple of 3 (−15…12).
pub fn si_prefix(exp3: i32) -> &'static str {
    match exp3 {
        -15 => "f",
        -12 => "p",
        -9 => "n",
        -6 => "µ",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        _ => "",
    }
}

/// The multiple-of-3 exponent for an axis whose largest magnitude is `max_abs`: values
/// from 0.5 to 500 of the prefixed unit, so that 0.95 V reads `0 … 1 V` rather than
/// `0 … 1000 mV` (and 0.3 V reads 300 mV).
pub fn engineering_exponent(max_abs: f64) -> i32 {
    if !(max_abs.is_finite() && max_abs > 0.0) {
        return 0;
    }
    // A tiny nudge so that 499.9999999 (rounding noise) still counts as 500.
    let e = (2.0 * max_abs * (1.0 + 1e-9)).log10().floor() as i32;
    (e.div_euclid(3) * 3).clamp(-15, 12)
}

/// Tick label for `v` when ticks are about `step` apart: as few decimals as the step needs,
/// no trailing zeros, no `-0`.
pub fn tick_label(v: f64, step: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let step = step.abs();
    // Far outside the SI prefixes' reach (1e288 …): exponent form.
    if v.abs() >= 1e7 || (step > 0.0 && step < 1e-7) {
        return compact(v);
    }
    let decimals = if step > 0.0 && step.is_finite() {
        ((-step.log10()).ceil() as i32 + 1).clamp(0, 9) as usize
    } else {
        3
    };
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    trim_zeros(format!("{v:.decimals$}"))
}

/// Compact label for a value of any magnitude (log-axis ticks, bar values): three
/// significant digits, exponent form outside [1e-3, 1e4).
pub fn compact(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
        trim_zeros(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{e}", trim_zeros(m.to_string()))
    }
}

fn trim_zeros(mut s: String) -> String {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" { "0".into() } else { s }
}

/// Case-insensitive glob match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Iterative matcher with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Whether a `--signals` pattern selects signal `name`. A pattern without parentheses also
/// matches the node or source inside `v(…)`/`i(…)`, so `u*` selects `v(u1)` and `out`
/// selects `v(out)`.
pub fn signal_matches(pattern: &str, name: &str) -> bool {
    if glob_match(pattern, name) {
        return true;
    }
    if pattern.contains('(') {
        return false;
    }
    let inner = name
        .find('(')
        .and_then(|open| name.strip_suffix(')').map(|n| &n[open + 1..]));
    inner.is_some_and(|inner| glob_match(pattern, inner))
}

/// Splits a comma-separated pattern list; commas inside parentheses stay (e.g. `v(a,b)`).
pub fn split_patterns(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a time or value with an optional SPICE/SI suffix: `2u`, `1.5ms`, `3µs`, `10n`,
/// `1meg`, `2e-6`.
pub fn parse_si(text: &str) -> Option<f64> {
    let t = text.trim().to_lowercase();
    // The longest leading run that is a number; the rest is the suffix.
    let split = t
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .rev()
        .find(|&i| t[..i].parse::<f64>().is_ok())?;
    let (num, suffix) = t.split_at(split);
    let value: f64 = num.parse().ok()?;
    let scale = if suffix.starts_with("meg") {
        1e6
    } else if suffix.starts_with("mil") {
        25.4e-6
    } else {
        match suffix.chars().next() {
            None => 1.0,
            Some('f') => 1e-15,
            Some('p') => 1e-12,
            Some('n') => 1e-9,
            Some('u') | Some('µ') | Some('μ') => 1e-6,
            Some('m') => 1e-3,
            Some('k') => 1e3,
            Some('g') => 1e9,
            Some('t') => 1e12,
            Some('s') => 1.0,
            Some(_) => return None,
        }
    };
    Some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_and_prefixes() {
        assert_eq!(engineering_exponent(3e-6), -6);
        assert_eq!(engineering_exponent(499.0), 0);
        assert_eq!(engineering_exponent(500.0), 3);
        assert_eq!(engineering_exponent(0.95), 0);
        assert_eq!(engineering_exponent(0.3), -3);
        assert_eq!(engineering_exponent(0.4e-3), -6);
        assert_eq!(engineering_exponent(1e-3), -3);
        assert_eq!(engineering_exponent(0.0), 0);
        assert_eq!(si_prefix(-6), "µ");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(tick_label(0.25, 0.25), "0.25");
        assert_eq!(tick_label(-1e-17, 0.5), "0");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
        assert_eq!(tick_label(2e288, 1e288), "2e288");
        assert_eq!(tick_label(3e-9, 1e-9), "3e-9");
        assert_eq!(compact(1e-5), "1e-5");
        assert_eq!(compact(0.0316), "0.0316");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(12345.0), "1.23e4");
    }

    #[test]
    fn globs() {
        assert!(glob_match("v(n1_*)", "v(n1_3)"));
        assert!(glob_match("V(N1_*)", "v(n1_3)"));
        assert!(!glob_match("v(n1_*)", "v(n2_3)"));
        assert!(glob_match("i(v?)", "i(v1)"));
        assert!(!glob_match("i(v?)", "i(v12)"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(signal_matches("u*", "v(u1)"));
        assert!(signal_matches("out", "v(out)"));
        assert!(!signal_matches("out", "v(out2)"));
        assert!(signal_matches("u*", "u_int"));
        assert_eq!(
            split_patterns("v(n1_*), u* ,,i(a,b)"),
            ["v(n1_*)", "u*", "i(a,b)"]
        );
    }

    #[test]
    fn si_values() {
        assert_eq!(parse_si("2u"), Some(2e-6));
        assert_eq!(parse_si("1.5ms"), Some(1.5e-3));
        assert_eq!(parse_si("3µs"), Some(3e-6));
        assert_eq!(parse_si("2e-6"), Some(2e-6));
        assert_eq!(parse_si("1meg"), Some(1e6));
        assert_eq!(parse_si("0"), Some(0.0));
        assert_eq!(parse_si("5s"), Some(5.0));
        assert_eq!(parse_si("abc"), None);
        assert_eq!(parse_si("1x"), None);
    }
}
