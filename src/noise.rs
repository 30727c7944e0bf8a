//! Transient noise sources, ngspice's `TRNOISE(NA NT [NALPHA NAMP])` (white part).
//!
//! A source draws one Gaussian sample every `NT` seconds on the grid `t_k = k·NT` from
//! t = 0 and interpolates linearly in between, as ngspice does. The value at t = 0 is the DC
//! value alone (sample 0 is zero, ngspice also returns no noise at t = 0), so the operating
//! point is noise-free; samples k ≥ 1 are N(0, NA²) (volts or amperes).
//!
//! Seeding: sample k of the source with flat name `name` is a pure function of
//! (`.options seed`, name, k): a ChaCha8 generator seeded from the seed
//! (`seed_from_u64`), on the stream `fnv1a64(name)`, read from word `4·(k−1)` (two u64 per
//! sample, Box–Muller cosine branch). So the realisation does not depend on element order,
//! step sizes, the stop time or the thread count. Without `.options seed` the seed is
//! [`DEFAULT_SEED`] (ngspice would pick a random one; we stay reproducible).
//!
//! Step independence: the grid points are transient breakpoints (ngspice's trnoise sets the
//! next grid point as a breakpoint too), so every grid point is a time point and the source is
//! exactly linear across every step; the source value at a grid point is the stored sample,
//! bit for bit, whatever tmax or reltol.
//!
//! Spectrum: the sampled sequence is white with variance NA²; the interpolated waveform has
//! the one-sided PSD S(f) = 2·NA²·NT·sinc⁴(f·NT), i.e. S ≈ 2·NA²·NT well below 1/NT. To model a
//! white source of one-sided PSD S up to the bandwidth B = 1/(2·NT), use NA = √(S·B)
//! ([`na_for_psd`]).

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

use crate::circuit::{Circuit, ElementKind, Waveform};

/// Seed used when the netlist has no `.options seed=N`.
pub const DEFAULT_SEED: u64 = 1;

/// Samples precomputed per source (64 MiB of f64); beyond this samples are drawn on demand
/// (same bits, one ChaCha block each).
pub const MAX_CACHED_SAMPLES: usize = 1 << 23;

/// Boltzmann constant (J/K), for thermal noise.
pub const BOLTZMANN: f64 = 1.380_649e-23;

/// A white transient noise source: DC value plus interpolated Gaussian samples.
#[derive(Debug, Clone, PartialEq)]
pub struct TrNoise {
    /// Offset added to the noise (ngspice adds the DC value of a TRNOISE source).
    pub dc: f64,
    /// RMS amplitude of the samples (V or A).
    pub na: f64,
    /// Sample spacing (s), > 0.
    pub nt: f64,
    /// The run's seed (`.options seed`, or [`DEFAULT_SEED`]).
    pub seed: u64,
    /// ChaCha stream of this source: [`stream_of`] its flat name.
    pub stream: u64,
    /// Samples 0..len already scaled by `na` (sample 0 is 0).
    samples: Arc<[f64]>,
}

/// Stable 64-bit hash of a flat element name (FNV-1a), the source's ChaCha stream.
pub fn stream_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// NA giving a one-sided PSD `psd` (unit²/Hz) up to B = 1/(2·NT): NA = √(psd / (2·NT)).
pub fn na_for_psd(psd: f64, nt: f64) -> f64 {
    (psd / (2.0 * nt)).sqrt()
}

fn generator(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One standard normal from the next two u64 (Box–Muller, cosine branch).
fn unit_normal(rng: &mut ChaCha8Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    let a = rng.next_u64();
    let b = rng.next_u64();
    let u1 = ((a >> 11) as f64 + 1.0) * SCALE; // (0, 1]
    let u2 = (b >> 11) as f64 * SCALE; // [0, 1)
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Standard-normal sample k ≥ 1 of (seed, stream), by seeking: equal to the k-th sequential draw.
pub fn unit_sample(seed: u64, stream: u64, k: u64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let mut rng = generator(seed, stream);
    rng.set_word_pos(4 * u128::from(k - 1));
    unit_normal(&mut rng)
}

impl TrNoise {
    /// A source named `name` (flat, lower-case) with its samples for [0, tstop] precomputed.
    pub fn new(dc: f64, na: f64, nt: f64, seed: u64, name: &str, tstop: f64) -> TrNoise {
        Self::on_stream(dc, na, nt, seed, stream_of(name), tstop)
    }

    /// The same source with another seed (e.g. a fresh realisation per training sample:
    /// `seed = base ^ sample_index`), samples for [0, tstop] precomputed.
    pub fn with_seed(&self, seed: u64, tstop: f64) -> TrNoise {
        Self::on_stream(self.dc, self.na, self.nt, seed, self.stream, tstop)
    }

    fn on_stream(dc: f64, na: f64, nt: f64, seed: u64, stream: u64, tstop: f64) -> TrNoise {
        let needed = if tstop > 0.0 && nt > 0.0 {
            ((tstop / nt).ceil() as usize).saturating_add(2)
        } else {
            1
        };
        let len = needed.min(MAX_CACHED_SAMPLES);
        let mut rng = generator(seed, stream);
        let mut samples = Vec::with_capacity(len);
        samples.push(0.0);
        for _ in 1..len {
            samples.push(na * unit_normal(&mut rng));
        }
        TrNoise {
            dc,
            na,
            nt,
            seed,
            stream,
            samples: samples.into(),
        }
    }

    /// Noise sample k (scaled by NA; no DC).
    #[inline]
    pub fn sample(&self, k: u64) -> f64 {
        match self.samples.get(k as usize) {
            Some(&v) => v,
            None => self.na * unit_sample(self.seed, self.stream, k),
        }
    }

    /// Source value at time `t` (DC plus the interpolated noise).
    #[inline]
    pub fn value(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return self.dc;
        }
        let x = t / self.nt;
        // A time point on the grid (up to rounding of k·NT) gets the sample itself, bit for bit.
        let r = x.round();
        if (x - r).abs() <= 1e-9 * r.max(1.0) {
            return self.dc + self.sample(r as u64);
        }
        let n = x.floor();
        let k = n as u64;
        let (v1, v2) = (self.sample(k), self.sample(k + 1));
        self.dc + v1 + (v2 - v1) * (x - n)
    }

    /// Grid times k·NT in (0, tstop].
    pub fn breakpoints(&self, tstop: f64, out: &mut Vec<f64>) {
        let mut k = 1u64;
        loop {
            let t = k as f64 * self.nt;
            if t > tstop {
                break;
            }
            out.push(t);
            k += 1;
        }
    }

    /// The realisation on [0, tstop] as PWL points (t_k, DC + sample k), k = 0..=⌈tstop/NT⌉.
    pub fn pwl_points(&self, tstop: f64) -> Vec<(f64, f64)> {
        let last = (tstop / self.nt).ceil().max(1.0) as u64;
        (0..=last)
            .map(|k| (k as f64 * self.nt, self.dc + self.sample(k)))
            .collect()
    }
}

/// Why a netlist could not be exported with its noise as PWL.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `out_dir/<stem>.cir`: a copy of the netlist `netlist` in which every TRNOISE source
/// card is commented out and followed by an equivalent `PWL(...)` card carrying the
/// realisation on [0, tstop] (17 significant digits), so ngspice reproduces the waveform.
/// `.include`/`.lib` paths become absolute so the copy works from any directory.
/// Only top-level sources of the main file are supported (a source inside a subcircuit has
/// one realisation per instance, which a single card cannot express). Returns the path
/// written and the number of sources replaced.
pub fn export_pwl(
    netlist: &Path,
    circuit: &Circuit,
    tstop: f64,
    out_dir: &Path,
) -> Result<(PathBuf, usize), ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    let text = crate::parse::source::read_text(netlist).map_err(io(netlist))?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect();
    let main = std::fs::canonicalize(netlist).unwrap_or_else(|_| netlist.to_path_buf());
    let base = main.parent().map(Path::to_path_buf).unwrap_or_default();

    // (first line index, replacement card) per source, applied bottom-up.
    let mut edits: Vec<(usize, String)> = Vec::new();
    for el in &circuit.elements {
        let (letter, p, n, tr) = match &el.kind {
            ElementKind::VoltageSource {
                p,
                n,
                wave: Waveform::TrNoise(tr),
            } => ('v', *p, *n, tr),
            ElementKind::CurrentSource {
                p,
                n,
                wave: Waveform::TrNoise(tr),
            } => ('i', *p, *n, tr),
            _ => continue,
        };
        let file =
            std::fs::canonicalize(&*el.span.file).unwrap_or_else(|_| el.span.file.to_path_buf());
        if el.name.contains('.') || file != main {
            return Err(ExportError::Unsupported(format!(
                "{}: TRNOISE source '{}' is inside a subcircuit or an included file; \
                 --export-noise handles top-level sources of the main netlist only",
                el.span, el.name
            )));
        }
        debug_assert!(el.name.starts_with(letter));
        let mut card = format!(
            "{} {} {} PWL(",
            el.name,
            circuit.node_name(p),
            circuit.node_name(n)
        );
        for (i, (t, v)) in tr.pwl_points(tstop).iter().enumerate() {
            if i % 4 == 0 {
                card.push_str("\n+");
            }
            card.push_str(&format!(" {t:.16e} {v:.16e}"));
        }
        card.push_str(" )");
        edits.push((el.span.line as usize - 1, card));
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let count = edits.len();
    for (first, card) in edits {
        let mut last = first;
        while lines
            .get(last + 1)
            .is_some_and(|l| l.trim_start().starts_with('+'))
        {
            last += 1;
        }
        for l in &mut lines[first..=last] {
            *l = format!("* [export-noise] {l}");
        }
        lines.insert(last + 1, card);
    }
    for l in lines.iter_mut().skip(1) {
        absolutise_include(l, &base);
    }
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let stem = netlist
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "netlist".into());
    let path = out_dir.join(format!("{stem}.cir"));
    let mut out = lines.join("\n");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    std::fs::write(&path, out).map_err(io(&path))?;
    Ok((path, count))
}

/// `.include f` / `.lib f sec` with a relative path: make the path absolute against `base`.
fn absolutise_include(line: &mut String, base: &Path) {
    let trimmed = line.trim_start();
    let word = trimmed
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if !matches!(word.as_str(), ".include" | ".inc" | ".incl" | ".lib") {
        return;
    }
    let rest = trimmed[word.len()..].trim_start();
    let (name, tail) = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => match rest[1..].find(q) {
            Some(end) => (&rest[1..1 + end], &rest[end + 2..]),
            None => return,
        },
        Some(_) => {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
        None => return,
    };
    // `.lib section` (one word) defines a section: not a path.
    if word == ".lib" && tail.trim().is_empty() {
        return;
    }
    let path = Path::new(name);
    if path.is_absolute() {
        return;
    }
    *line = format!("{word} \"{}\"{tail}", base.join(path).display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_equals_sequential() {
        let tr = TrNoise::new(0.0, 1.0, 1e-3, 7, "v1", 1.0);
        for k in [1u64, 2, 3, 17, 500, 1001] {
            assert_eq!(
                tr.sample(k).to_bits(),
                unit_sample(7, stream_of("v1"), k).to_bits()
            );
        }
        let short = TrNoise::new(0.0, 1.0, 1e-3, 7, "v1", 0.01);
        assert_eq!(short.sample(900).to_bits(), tr.sample(900).to_bits());
        let other = short.with_seed(8, 1.0);
        assert_eq!(other, TrNoise::new(0.0, 1.0, 1e-3, 8, "v1", 1.0));
        assert_ne!(other.sample(5), tr.sample(5));
    }

    #[test]
    fn grid_and_interpolation() {
        let tr = TrNoise::new(0.5, 2.0, 1e-6, 3, "i.x1.in", 1e-4);
        assert_eq!(tr.value(0.0), 0.5);
        for k in 1..50u64 {
            let t = k as f64 * 1e-6;
            assert_eq!(tr.value(t).to_bits(), (0.5 + tr.sample(k)).to_bits());
            let mid = tr.value(t + 0.5e-6);
            let want = 0.5 + 0.5 * (tr.sample(k) + tr.sample(k + 1));
            assert!((mid - want).abs() < 1e-12, "{mid} {want}");
        }
    }

    #[test]
    fn include_paths_become_absolute() {
        let base = Path::new("/x/y");
        let mut l = ".include \"m.lib\"".to_string();
        absolutise_include(&mut l, base);
        assert_eq!(l, ".include \"/x/y/m.lib\"");
        let mut l = ".lib ../models/a.lib rram".to_string();
        absolutise_include(&mut l, base);
        assert_eq!(l, ".lib \"/x/y/../models/a.lib\" rram");
        let mut l = ".lib rram".to_string();
        absolutise_include(&mut l, base);
        assert_eq!(l, ".lib rram");
    }
}
