//! CSV: header `time,v(node),…,i(vsrc),…` (exactly the signal names), one row per time
//! point, every value in the shortest form that reads back to the same bits.
//!
//! The reader takes any CSV with a header line: dfcsim's own, other tools' tables and
//! training `metrics.csv` files (empty cells read as NaN).

use std::path::Path;

use super::{OutputError, unit_from_name};
use crate::waveform::{Signal, Waveforms};

/// Bytes gathered before one `write` call: few syscalls, bounded memory.
pub(crate) const CHUNK: usize = 1 << 16;

/// Writes `w` to `path` as CSV.
pub fn write(path: &Path, w: &Waveforms) -> Result<(), OutputError> {
    let mut file = super::create_file(path).map_err(|e| OutputError::io(path, e))?;
    write_to(&mut file, w).map_err(|e| OutputError::io(path, e))
}

/// Tables with at least this many values are formatted by two threads.
const PARALLEL_MIN_VALUES: usize = 50_000;

/// Streams the CSV of `w` in chunks of about [`CHUNK`] bytes. Large tables are formatted
/// by two threads (number formatting is most of the cost): a helper formats the second
/// half of the rows into memory while this thread streams the first half.
pub fn write_to(out: &mut impl std::io::Write, w: &Waveforms) -> std::io::Result<()> {
    let width = w.width();
    let rows = w.rows();
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + 64 + width * 25);
    push_header(&mut chunk, &w.signals);
    let mut stream = |c: &mut Vec<u8>| {
        out.write_all(c)?;
        c.clear();
        Ok(())
    };
    if rows * width < PARALLEL_MIN_VALUES {
        push_rows(&mut chunk, w, 0..rows, &mut stream)?;
        return stream(&mut chunk);
    }
    let half = rows / 2;
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new().spawn_scoped(scope, || {
            let mut tail = Vec::with_capacity((rows - half) * width * 16);
            let _ = push_rows(&mut tail, w, half..rows, &mut |_| Ok(()));
            tail
        });
        match helper {
            Ok(handle) => {
                push_rows(&mut chunk, w, 0..half, &mut stream)?;
                let mut tail = handle
                    .join()
                    .map_err(|_| std::io::Error::other("CSV formatting thread panicked"))?;
                stream(&mut chunk)?;
                stream(&mut tail)
            }
            // No thread to be had: format everything here.
            Err(_) => {
                push_rows(&mut chunk, w, 0..rows, &mut stream)?;
                stream(&mut chunk)
            }
        }
    })
}

/// Appends the header line: the signal names.
pub(crate) fn push_header(chunk: &mut Vec<u8>, signals: &[Signal]) {
    let mut header = String::new();
    for (j, sig) in signals.iter().enumerate() {
        if j > 0 {
            header.push(',');
        }
        push_field(&mut header, &sig.name);
    }
    chunk.extend_from_slice(header.as_bytes());
    chunk.push(b'\n');
}

/// Appends the CSV lines of `rows` to `chunk`, handing it to `flush` whenever it holds
/// [`CHUNK`] bytes or more.
fn push_rows(
    chunk: &mut Vec<u8>,
    w: &Waveforms,
    rows: std::ops::Range<usize>,
    flush: &mut impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let width = w.width();
    push_data_rows(
        chunk,
        &w.data[rows.start * width..rows.end * width],
        width,
        flush,
    )
}

/// Appends the CSV lines of `data` (whole rows of `width` values, row-major) to `chunk`,
/// handing it to `flush` whenever it holds [`CHUNK`] bytes or more.
pub(crate) fn push_data_rows(
    chunk: &mut Vec<u8>,
    data: &[f64],
    width: usize,
    flush: &mut impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if width == 0 {
        return Ok(());
    }
    for row in data.chunks_exact(width) {
        for (j, &v) in row.iter().enumerate() {
            if j > 0 {
                chunk.push(b',');
            }
            push_number(chunk, v);
        }
        chunk.push(b'\n');
        if chunk.len() >= CHUNK {
            flush(chunk)?;
        }
    }
    Ok(())
}

/// The CSV text of `w`.
pub fn to_string(w: &Waveforms) -> String {
    let mut bytes = Vec::new();
    write_to(&mut bytes, w).expect("writing to a Vec cannot fail");
    String::from_utf8(bytes).expect("CSV text is UTF-8")
}

/// Shortest round-trip formatting, as `{}` writes it inside [1e-4, 1e6) and as `{:e}` writes
/// it outside (so 1e-12 is not written as twelve zeros). The digits come from zmij, several
/// times faster than `fmt`, whose cost dominated writing large waveforms; the notation is
/// rewritten on the stack (no allocation, no `fmt`).
pub fn push_number(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(format!("{v}").as_bytes());
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let a = v.abs();
    if v == 0.0 || (1e-4..1e6).contains(&a) {
        // `123.0` → `123`, as `{}` writes integers.
        out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
        return;
    }
    // zmij writes `1.234e-7`, `1e+33` (shortest digits, first one non-zero: only the `+`
    // differs from `{:e}`) or, for decimal exponents -5..=15, fixed notation
    // (`0.00001234`, `12340000000.0`).
    if let Some(k) = text.iter().position(|&c| c == b'e') {
        out.extend_from_slice(&text[..=k]);
        let exp = &text[k + 1..];
        out.extend_from_slice(exp.strip_prefix(b"+").unwrap_or(exp));
        return;
    }
    // Fixed notation: split into sign, significant digits and the decimal exponent of the
    // first digit.
    let (neg, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mantissa = body;
    // At most 17 significant digits plus the zeros of fixed notation (< 32 in all).
    let mut digits = [0u8; 32];
    let mut nd = 0;
    let mut int_len = mantissa.len();
    for (k, &c) in mantissa.iter().enumerate() {
        if c == b'.' {
            int_len = k;
        } else if nd < digits.len() {
            digits[nd] = c;
            nd += 1;
        }
    }
    let lead = digits[..nd].iter().take_while(|&&c| c == b'0').count();
    let mut end = nd;
    while end > lead + 1 && digits[end - 1] == b'0' {
        end -= 1;
    }
    let sig = &digits[lead..end];
    let exponent = int_len as i32 - 1 - lead as i32;
    if neg {
        out.push(b'-');
    }
    out.push(sig[0]);
    if sig.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&sig[1..]);
    }
    out.push(b'e');
    push_int(out, exponent);
}

/// Decimal integer, `-` for negatives, no `+`.
fn push_int(out: &mut Vec<u8>, v: i32) {
    if v < 0 {
        out.push(b'-');
    }
    let mut a = v.unsigned_abs();
    let mut tmp = [0u8; 10];
    let mut k = tmp.len();
    loop {
        k -= 1;
        tmp[k] = b'0' + (a % 10) as u8;
        a /= 10;
        if a == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[k..]);
}

/// Quotes a header field only when it needs it (RFC 4180).
fn push_field(s: &mut String, name: &str) {
    if name.contains([',', '"', '\n', '\r']) {
        s.push('"');
        s.push_str(&name.replace('"', "\"\""));
        s.push('"');
    } else {
        s.push_str(name);
    }
}

/// Reads a CSV file (see [`parse`]).
pub fn read(path: &Path) -> Result<Waveforms, OutputError> {
    let text = std::fs::read_to_string(path).map_err(|e| OutputError::io(path, e))?;
    parse(path, &text)
}

/// Parses CSV text with a header line. Signal units come from the names (`time`, `v(…)`,
/// `i(…)`); the plot name is `Transient Analysis` when the first column is `time`,
/// `Operating Point` for a single row without time, else `Table`; the title is the file stem.
/// Empty cells read as NaN; any other non-number is an error naming line and column.
pub fn parse(path: &Path, text: &str) -> Result<Waveforms, OutputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| OutputError::parse(path, 1, "empty CSV file (no header line)"))?;
    let names = split_fields(header);
    let signals: Vec<Signal> = names
        .iter()
        .map(|n| Signal {
            name: n.clone(),
            unit: unit_from_name(n),
        })
        .collect();
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut w = Waveforms::new(&title, "", signals);
    let mut row = Vec::with_capacity(names.len());
    let mut quoted_fields: Vec<String>;
    for (index, line) in lines {
        let line_no = index + 1;
        row.clear();
        // Data lines are plain numbers: split without allocating unless there are quotes.
        let fields: Box<dyn Iterator<Item = &str>> = if line.contains('"') {
            quoted_fields = split_fields(line);
            Box::new(quoted_fields.iter().map(String::as_str))
        } else {
            Box::new(line.split(','))
        };
        let mut count = 0;
        for (col, f) in fields.enumerate() {
            count += 1;
            if col >= names.len() {
                continue;
            }
            let f = f.trim();
            let v = if f.is_empty() {
                f64::NAN
            } else {
                f.parse::<f64>().map_err(|_| {
                    OutputError::parse(
                        path,
                        line_no,
                        format!(
                            "column {} (`{}`): `{f}` is not a number",
                            col + 1,
                            names[col]
                        ),
                    )
                })?
            };
            row.push(v);
        }
        if count != names.len() {
            return Err(OutputError::parse(
                path,
                line_no,
                format!("{count} fields where the header has {}", names.len()),
            ));
        }
        w.push_row(&row);
    }
    let first_is_time = w.signals.first().is_some_and(|s| s.name == "time");
    w.plot_name = if first_is_time {
        "Transient Analysis"
    } else if w.rows() == 1 {
        "Operating Point"
    } else {
        "Table"
    }
    .to_string();
    Ok(w)
}

/// Splits one CSV line into fields, honouring double quotes; names are trimmed.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    fields.push(cur.trim().to_string());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waveform::Unit;

    #[test]
    fn numbers_round_trip_and_stay_short() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1 + 0.2,
            1e-12,
            -3.3e-9,
            12345.678,
            1e6,
            f64::MIN_POSITIVE,
            f64::MAX,
            5e-324,
        ] {
            let mut out = Vec::new();
            push_number(&mut out, v);
            let s = String::from_utf8(out).unwrap();
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
            assert!(s.len() <= 24, "{s}");
        }
    }

    #[test]
    fn quoted_fields_and_empty_cells() {
        let w = parse(
            Path::new("m.csv"),
            "epoch,\"a,b\",test_error\n1,0.5,\n2,0.25,0.1\n",
        )
        .unwrap();
        assert_eq!(w.signals[1].name, "a,b");
        assert_eq!(w.rows(), 2);
        assert!(w.row(0)[2].is_nan());
        assert_eq!(w.row(1), &[2.0, 0.25, 0.1]);
        assert_eq!(w.plot_name, "Table");
        assert_eq!(w.signals[0].unit, Unit::None);
    }

    #[test]
    fn bad_cell_names_line_and_column() {
        let e = parse(Path::new("x.csv"), "time,v(a)\n0,1\n1,abc\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.csv:3"), "{msg}");
        assert!(msg.contains("column 2 (`v(a)`)"), "{msg}");
        let e = parse(Path::new("x.csv"), "time,v(a)\n0,1,2\n").unwrap_err();
        assert!(e.to_string().contains("3 fields"), "{e}");
        assert!(parse(Path::new("x.csv"), "").is_err());
    }
}

#[cfg(test)]
mod number_format_tests {
    use super::push_number;

    #[test]
    fn numbers_are_short_and_read_back_exactly() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = vec![
            0.0,
            -0.0,
            1e-12,
            123.0,
            0.1,
            -2.5e-7,
            6.02e23,
            f64::MAX,
            5e-324,
        ];
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(f64::from_bits(state));
            values.push((state >> 11) as f64 * 1e-9);
        }
        for v in values.into_iter().filter(|v| v.is_finite()) {
            let s = text(v);
            assert_eq!(s, reference(v), "{v:e}");
            // Reads back to the same bits, in the standard formatter's notation and no
            // longer (the last digit may differ where two shortest forms exist).
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
            let a = v.abs();
            let expected = if v == 0.0 || (1e-4..1e6).contains(&a) {
                format!("{v}")
            } else {
                format!("{v:e}")
            };
            assert_eq!(s.len(), expected.len(), "{s} vs {expected}");
            assert_eq!(s.contains('e'), expected.contains('e'), "{s} vs {expected}");
        }
        assert_eq!(text(1e-12), "1e-12");
        assert_eq!(text(-1.5e-300), "-1.5e-300");
        assert_eq!(text(1.25e21), "1.25e21");
        assert_eq!(text(1e6), "1e6");
        assert_eq!(text(123456.5), "123456.5");
        assert_eq!(text(-0.0), "-0");
        assert_eq!(text(f64::NAN), "NaN");
    }

    #[test]
    fn large_tables_formatted_by_two_threads_equal_the_serial_text() {
        use crate::waveform::{Signal, Unit, Waveforms};
        let signals = ["time", "v(a)", "i(v1)"]
            .iter()
            .map(|n| Signal {
                name: n.to_string(),
                unit: super::unit_from_name(n),
            })
            .collect();
        let mut w = Waveforms::new("t", "Transient Analysis", signals);
        let rows = super::PARALLEL_MIN_VALUES / 3 + 1001;
        for k in 0..rows {
            let t = k as f64 * 1e-7;
            w.push_row(&[t, (t * 1e5).sin(), -3e-6 * (t * 7e4).cos()]);
        }
        let mut serial = String::from("time,v(a),i(v1)\n");
        for k in 0..rows {
            let r = w.row(k);
            serial.push_str(&format!("{},{},{}\n", text(r[0]), text(r[1]), text(r[2])));
        }
        assert_eq!(super::to_string(&w), serial);
        assert_eq!(w.signals[2].unit, Unit::Current);
    }

    fn text(v: f64) -> String {
        let mut out = Vec::new();
        push_number(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    /// The previous, `fmt`-based rewriting of zmij's digits: the fast path must write the
    /// very same text.
    fn reference(v: f64) -> String {
        let mut buf = zmij::Buffer::new();
        let text = buf.format_finite(v);
        let a = v.abs();
        if v == 0.0 || (1e-4..1e6).contains(&a) {
            return text.strip_suffix(".0").unwrap_or(text).to_string();
        }
        let (neg, body) = match text.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, text),
        };
        let (mantissa, exp10) = match body.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap()),
            None => (body, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = format!("{int_part}{frac_part}");
        let lead = all.len() - all.trim_start_matches('0').len();
        let digits = all[lead..].trim_end_matches('0');
        let exponent = exp10 + int_part.len() as i32 - 1 - lead as i32;
        let sign = if neg { "-" } else { "" };
        let rest = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        format!("{sign}{}{rest}e{exponent}", &digits[..1])
    }
}
