//! ngspice rawfiles, as ngspice 39 writes them with `ngspice -b -r FILE` (binary) or with
//! `SPICE_ASCIIRAWFILE=1` / `set filetype=ascii` (ascii).
//!
//! One file holds one or more plots, one after another, each:
//! ```text
//! Title: rc test circuit
//! Date: Thu Nov 26 15:02:35  2026
//! Plotname: Transient Analysis
//! Flags: real
//! No. Variables: 3
//! No. Points: 63      
//! Variables:
//! \t0\ttime\ttime
//! \t1\tv(out)\tvoltage
//! \t2\ti(v1)\tcurrent
//! Binary:
//! <No. Points × No. Variables little-endian f64, row-major>
//! ```
//! or, ascii, `Values:` followed per point by `INDEX\t\tVALUE0` and one `\tVALUEj` line per
//! further variable. ngspice prints ascii values with `%.15e`; dfcsim prints `%.16e` (same
//! layout, one more digit) so that ascii files read back to the same bits. The reader also
//! takes the layout of ngspice's interactive `write` command (` INDEX\tVALUE0`, a blank line
//! after each point) and ignores header lines it does not know (`Command:`, `Option:`, …).
//! Only real plots are supported (AC's complex plots are reported as unsupported).

use std::io::Write;
use std::path::Path;

use super::OutputError;
use super::csv::CHUNK;
use crate::waveform::{Signal, Unit, Waveforms};

/// Writes all `plots` to one rawfile, binary unless `ascii`.
pub fn write(path: &Path, plots: &[Waveforms], ascii: bool) -> Result<(), OutputError> {
    let mut file = super::create_file(path).map_err(|e| OutputError::io(path, e))?;
    write_to(&mut file, plots, ascii, &date_string()).map_err(|e| OutputError::io(path, e))
}

/// The rawfile bytes of `plots` with the given `Date:` text.
pub fn to_bytes(plots: &[Waveforms], ascii: bool, date: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_to(&mut out, plots, ascii, date).expect("writing to a Vec cannot fail");
    out
}

/// Streams the rawfile of `plots` (with the given `Date:` text) in chunks of about
/// [`CHUNK`] bytes.
pub fn write_to(
    out: &mut impl Write,
    plots: &[Waveforms],
    ascii: bool,
    date: &str,
) -> std::io::Result<()> {
    let widest = plots.iter().map(|w| w.width()).max().unwrap_or(0);
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + widest * 26 + 64);
    for w in plots {
        push_header(&mut chunk, w, w.rows(), ascii, date);
        let mut flush = |c: &mut Vec<u8>| {
            out.write_all(c)?;
            c.clear();
            Ok(())
        };
        push_values(
            &mut chunk,
            w.width(),
            0,
            &w.data[..w.rows() * w.width()],
            ascii,
            &mut flush,
        )?;
    }
    out.write_all(&chunk)
}

/// Text before the point count in a plot's header; the count is written left-aligned in
/// [`POINTS_FIELD`] characters so that a streamed file can fill it in afterwards.
pub(crate) fn header_before_points(w: &Waveforms, date: &str) -> String {
    format!(
        "Title: {}\nDate: {date}\nPlotname: {}\nFlags: real\nNo. Variables: {}\nNo. Points: ",
        one_line(&w.title),
        one_line(&w.plot_name),
        w.width(),
    )
}

/// Width of the `No. Points:` value as ngspice writes it (`%-8d`).
pub(crate) const POINTS_FIELD: usize = 8;

/// The `No. Points:` value: `rows` left-aligned in [`POINTS_FIELD`] characters (more when
/// it has more digits).
pub(crate) fn points_text(rows: usize) -> String {
    format!("{rows:<POINTS_FIELD$}")
}

/// Appends a plot's header (up to and including `Binary:` / `Values:`) for `rows` points.
pub(crate) fn push_header(
    chunk: &mut Vec<u8>,
    w: &Waveforms,
    rows: usize,
    ascii: bool,
    date: &str,
) {
    chunk.extend_from_slice(header_before_points(w, date).as_bytes());
    chunk.extend_from_slice(points_text(rows).as_bytes());
    chunk.extend_from_slice(b"\nVariables:\n");
    for (i, s) in w.signals.iter().enumerate() {
        chunk.extend_from_slice(format!("\t{i}\t{}\t{}\n", s.name, type_name(s.unit)).as_bytes());
    }
    chunk.extend_from_slice(if ascii { b"Values:\n" } else { b"Binary:\n" });
}

/// Appends the points of `data` (whole rows of `width` values, row-major; the first is
/// point number `first_point` of its plot), handing `chunk` to `flush` whenever it holds
/// [`CHUNK`] bytes or more.
pub(crate) fn push_values(
    chunk: &mut Vec<u8>,
    width: usize,
    first_point: usize,
    data: &[f64],
    ascii: bool,
    flush: &mut impl FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if width == 0 {
        return Ok(());
    }
    if ascii {
        let mut line = String::with_capacity(width * 26 + 16);
        for (k, row) in data.chunks_exact(width).enumerate() {
            line.clear();
            for (j, &v) in row.iter().enumerate() {
                if j == 0 {
                    line.push_str(&(first_point + k).to_string());
                    line.push_str("\t\t");
                } else {
                    line.push('\t');
                }
                push_c_exp(&mut line, v);
                line.push('\n');
            }
            chunk.extend_from_slice(line.as_bytes());
            if chunk.len() >= CHUNK {
                flush(chunk)?;
            }
        }
    } else {
        // Row-major f64 samples, little-endian: the stored table in order.
        for v in data {
            chunk.extend_from_slice(&v.to_le_bytes());
            if chunk.len() >= CHUNK {
                flush(chunk)?;
            }
        }
    }
    Ok(())
}

/// ngspice's type names (`ft_typenames`); `notype` for dimensionless signals.
fn type_name(u: Unit) -> &'static str {
    match u {
        Unit::Time => "time",
        Unit::Voltage => "voltage",
        Unit::Current => "current",
        Unit::None => "notype",
    }
}

fn unit_of_type(t: &str) -> Unit {
    match t.to_ascii_lowercase().as_str() {
        "time" => Unit::Time,
        "voltage" => Unit::Voltage,
        "current" => Unit::Current,
        _ => Unit::None,
    }
}

/// Header values must stay on one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// C's `%.16e`: 17 significant digits, exponent with sign and at least two digits.
fn push_c_exp(s: &mut String, v: f64) {
    if !v.is_finite() {
        s.push_str(if v.is_nan() {
            "nan"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        });
        return;
    }
    let r = format!("{v:.16e}");
    let (mantissa, exp) = r.split_once('e').expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    s.push_str(mantissa);
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(&a.to_string());
}

/// `Date:` text as ngspice writes it (asctime with two spaces before the year), in UTC;
/// honours `SOURCE_DATE_EPOCH` for reproducible files.
pub fn date_string() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    asctime_utc(secs)
}

/// `Thu Nov 26 15:02:35  2026` for a Unix time.
pub fn asctime_utc(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02}  {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        year
    )
}

/// Reads every plot of a rawfile, binary or ascii.
pub fn read(path: &Path) -> Result<Vec<Waveforms>, OutputError> {
    let bytes = std::fs::read(path).map_err(|e| OutputError::io(path, e))?;
    parse(path, &bytes)
}

/// Parses rawfile bytes; `path` only names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Waveforms>, OutputError> {
    let mut r = Reader {
        path,
        bytes,
        pos: 0,
    };
    let mut plots = Vec::new();
    loop {
        r.skip_whitespace();
        if r.pos >= bytes.len() {
            break;
        }
        plots.push(r.plot()?);
    }
    if plots.is_empty() {
        return Err(OutputError::parse(path, 1, "empty rawfile"));
    }
    Ok(plots)
}

struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn line_no(&self) -> usize {
        1 + self.bytes[..self.pos.min(self.bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn err(&self, message: impl Into<String>) -> OutputError {
        OutputError::parse(self.path, self.line_no(), message)
    }

    fn skip_whitespace(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    /// Next text line without its `\n` / `\r\n`, or None at end of file.
    fn line(&mut self) -> Option<String> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.pos += (end + 1).min(rest.len());
        let text = String::from_utf8_lossy(&rest[..end]);
        Some(text.trim_end_matches('\r').to_string())
    }

    /// Next whitespace-separated token of an ascii `Values:` section.
    fn token(&mut self) -> Option<&str> {
        self.skip_whitespace();
        let start = self.pos;
        while self.pos < self.bytes.len() && !self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        (self.pos > start)
            .then(|| std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or("\u{fffd}"))
    }

    fn plot(&mut self) -> Result<Waveforms, OutputError> {
        let mut w = Waveforms::default();
        let mut n_vars: Option<usize> = None;
        let mut n_points: Option<usize> = None;
        loop {
            let line_start = self.pos;
            let Some(line) = self.line() else {
                self.pos = line_start;
                return Err(self.err("rawfile ends before its `Binary:` or `Values:` line"));
            };
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                self.pos = line_start;
                return Err(self.err(format!(
                    "expected a `Key: value` header line, found `{line}`"
                )));
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "title" => w.title = value.to_string(),
                "plotname" => w.plot_name = value.to_string(),
                "flags" => {
                    let flags = value.to_ascii_lowercase();
                    if flags.split_whitespace().any(|f| f == "complex") {
                        return Err(OutputError::Unsupported {
                            path: self.path.to_path_buf(),
                            message: format!(
                                "plot `{}` is complex (AC analysis); only real plots are supported",
                                w.plot_name
                            ),
                        });
                    }
                }
                "no. variables" => n_vars = Some(self.count(value, "No. Variables", line_start)?),
                "no. points" => n_points = Some(self.count(value, "No. Points", line_start)?),
                "variables" => {
                    let n = n_vars.ok_or_else(|| {
                        self.pos = line_start;
                        self.err("`Variables:` comes before `No. Variables:`")
                    })?;
                    // Old writers put the first variable on the `Variables:` line itself.
                    let mut pending = (!value.is_empty()).then(|| value.to_string());
                    while w.signals.len() < n {
                        let var_start = self.pos;
                        let text = match pending.take() {
                            Some(t) => t,
                            None => self.line().ok_or_else(|| {
                                self.err(format!(
                                    "rawfile ends after {} of {n} variables",
                                    w.signals.len()
                                ))
                            })?,
                        };
                        let fields: Vec<&str> = text.split_whitespace().collect();
                        if fields.len() < 3 {
                            self.pos = var_start;
                            return Err(
                                self.err(format!("variable line `{text}` needs `index name type`"))
                            );
                        }
                        w.signals.push(Signal {
                            name: fields[1].to_string(),
                            unit: unit_of_type(fields[2]),
                        });
                    }
                }
                "binary" => {
                    let (n, p) = self.counts(n_vars, n_points, w.signals.len(), line_start)?;
                    let len = n * p * 8;
                    let data = self.bytes.get(self.pos..self.pos + len).ok_or_else(|| {
                        self.err(format!(
                            "binary data of plot `{}` is truncated: {p} points × {n} variables need {len} bytes, {} remain",
                            w.plot_name,
                            self.bytes.len() - self.pos
                        ))
                    })?;
                    w.data = data
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
                        .collect();
                    self.pos += len;
                    return Ok(w);
                }
                "values" => {
                    let (n, p) = self.counts(n_vars, n_points, w.signals.len(), line_start)?;
                    w.data.reserve(n * p);
                    for point in 0..p {
                        let before = self.pos;
                        let index = self.token().map(str::to_string);
                        if index.as_deref().and_then(|t| t.parse::<usize>().ok()) != Some(point) {
                            self.pos = before;
                            self.skip_whitespace();
                            return Err(self.err(format!(
                                "expected point index {point} of {p} in plot `{}`, found `{}`",
                                w.plot_name,
                                index.unwrap_or_default()
                            )));
                        }
                        for j in 0..n {
                            let before = self.pos;
                            let v = self.token().and_then(|t| t.parse::<f64>().ok());
                            let v = v.ok_or_else(|| {
                                self.pos = before;
                                let tok = self.token().unwrap_or("").to_string();
                                self.pos = before;
                                self.skip_whitespace();
                                self.err(format!(
                                    "point {point}, variable {j} (`{}`): `{tok}` is not a number",
                                    w.signals[j].name
                                ))
                            })?;
                            w.data.push(v);
                        }
                    }
                    return Ok(w);
                }
                _ => {} // Date:, Command:, Option:, Dimensions: … carry nothing we need.
            }
        }
    }

    fn count(&mut self, value: &str, what: &str, line_start: usize) -> Result<usize, OutputError> {
        value.parse::<usize>().map_err(|_| {
            self.pos = line_start;
            self.err(format!("`{what}: {value}` is not a count"))
        })
    }

    fn counts(
        &mut self,
        n_vars: Option<usize>,
        n_points: Option<usize>,
        read_vars: usize,
        line_start: usize,
    ) -> Result<(usize, usize), OutputError> {
        match (n_vars, n_points) {
            (Some(n), Some(p)) if n == read_vars => Ok((n, p)),
            (Some(n), Some(_)) => {
                self.pos = line_start;
                Err(self.err(format!(
                    "{read_vars} variables listed, `No. Variables: {n}`"
                )))
            }
            _ => {
                self.pos = line_start;
                Err(self.err("data starts before `No. Variables:` and `No. Points:`"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_exponent_format() {
        let mut s = String::new();
        push_c_exp(&mut s, 3.0e-10);
        assert_eq!(s, "3.0000000000000000e-10");
        s.clear();
        push_c_exp(&mut s, -1234.5);
        assert_eq!(s, "-1.2345000000000000e+03");
        s.clear();
        push_c_exp(&mut s, 0.0);
        assert_eq!(s, "0.0000000000000000e+00");
        s.clear();
        push_c_exp(&mut s, 1e300);
        assert_eq!(s, "1.0000000000000001e+300");
    }

    #[test]
    fn asctime_matches_ngspice() {
        // 2026-11-26 15:02:35 UTC, a Thursday (ngspice printed `Thu Nov 26 15:02:35  2026`).
        assert_eq!(asctime_utc(1_795_705_355), "Thu Nov 26 15:02:35  2026");
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00  1970");
        assert_eq!(asctime_utc(951_782_400), "Tue Feb 29 00:00:00  2000");
    }
}
