//! Data sets of the ideal model: the student-teacher regression task (generated, or the
//! reference's CSV files), MNIST and Fashion-MNIST from IDX files (plain or gzipped).

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::error::IdealError;
use super::linalg::Mat;
use super::network::{Activation, FeedbackInit, Network};

/// Inputs (n × n_in) and targets (n × n_out; one-hot for classification).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub x: Mat,
    pub y: Mat,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.x.rows
    }
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }
}

/// Train / validation / test split.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    pub classification: bool,
}

/// The student-teacher task of the reference: inputs uniform in [−1, 1]^15, teacher
/// 15-1000-1000-1000-1000-5 (ReLU hidden, linear output, xavier-normal gain 3, zero
/// biases), 5000/1000/1000 samples.
pub fn student_teacher(seed: u64) -> Splits {
    student_teacher_sized(seed, 15, &[1000, 1000, 1000, 1000], 5, [5000, 1000, 1000])
}

pub fn student_teacher_sized(
    seed: u64,
    n_in: usize,
    hidden: &[usize],
    n_out: usize,
    counts: [usize; 3],
) -> Splits {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7eac_4e25);
    let mut sizes = vec![n_in];
    sizes.extend_from_slice(hidden);
    sizes.push(n_out);
    let mut acts = vec![Activation::Relu; hidden.len()];
    acts.push(Activation::Linear);
    // The teacher only runs forward: no feedback weights (their product of 1000-wide
    // layers cost more than the data); WeightProduct draws nothing either, so the same bits.
    let mut teacher = Network::new_random(&sizes, &acts, FeedbackInit::Zero, &mut rng);
    for l in teacher.layers.iter_mut() {
        // Gain 3 on the xavier-normal standard deviation.
        l.w.data.iter_mut().for_each(|w| *w *= 3.0);
    }
    let mut make = |n: usize| -> Dataset {
        let mut x = Mat::zeros(n, n_in);
        for v in x.data.iter_mut() {
            *v = rng.random_range(-1.0..1.0);
        }
        // Blocks of samples share each pass over the teacher's weights (same bits as one
        // sample at a time).
        const CHUNK: usize = 64;
        let ys: Vec<Vec<f64>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|b| {
                let (s0, s1) = (b * CHUNK, ((b + 1) * CHUNK).min(n));
                teacher.forward_outputs(&x.data[s0 * n_in..s1 * n_in], s1 - s0, 16)
            })
            .collect();
        Dataset {
            x,
            y: Mat {
                rows: n,
                cols: n_out,
                data: ys.concat(),
            },
        }
    };
    let train = make(counts[0]);
    let val = make(counts[1]);
    let test = make(counts[2]);
    Splits {
        train,
        val,
        test,
        classification: false,
    }
}

/// Reads a CSV file with a header `x0,…,y0,…` of numbers.
pub fn read_csv(path: &Path) -> Result<Dataset, IdealError> {
    let text = std::fs::read_to_string(path).map_err(|e| IdealError::io(path, e))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| IdealError::data(path, "empty file"))?;
    let names: Vec<&str> = header.split(',').map(|s| s.trim()).collect();
    let n_x = names.iter().filter(|n| n.starts_with('x')).count();
    let n_y = names.iter().filter(|n| n.starts_with('y')).count();
    if n_x + n_y != names.len() || n_x == 0 || n_y == 0 {
        return Err(IdealError::Parse {
            path: path.to_path_buf(),
            line: 1,
            col: 1,
            msg: "header must be x0,…,y0,… columns".into(),
        });
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (ln, line) in lines {
        let mut col = 1;
        let mut row = Vec::with_capacity(names.len());
        for field in line.split(',') {
            let v: f64 = field.trim().parse().map_err(|_| IdealError::Parse {
                path: path.to_path_buf(),
                line: ln + 1,
                col,
                msg: format!("`{}` is not a number", field.trim()),
            })?;
            row.push(v);
            col += field.len() + 1;
        }
        if row.len() != names.len() {
            return Err(IdealError::Parse {
                path: path.to_path_buf(),
                line: ln + 1,
                col: 1,
                msg: format!("{} fields, header has {}", row.len(), names.len()),
            });
        }
        x.extend_from_slice(&row[..n_x]);
        y.extend_from_slice(&row[n_x..]);
    }
    let n = x.len() / n_x;
    Ok(Dataset {
        x: Mat {
            rows: n,
            cols: n_x,
            data: x,
        },
        y: Mat {
            rows: n,
            cols: n_y,
            data: y,
        },
    })
}

/// `DIR/train.csv`, `DIR/val.csv`, `DIR/test.csv`.
pub fn load_csv_dir(dir: &Path) -> Result<Splits, IdealError> {
    Ok(Splits {
        train: read_csv(&dir.join("train.csv"))?,
        val: read_csv(&dir.join("val.csv"))?,
        test: read_csv(&dir.join("test.csv"))?,
        classification: false,
    })
}

/// Reads a file, gunzipping it if it starts with the gzip magic bytes.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, IdealError> {
    let raw = std::fs::read(path).map_err(|e| IdealError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| IdealError::data(path, format!("bad gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// IDX images (magic 0x00000803, unsigned bytes, n × rows × cols):
/// `(n, pixels per image, raw bytes)`.
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, Vec<u8>), IdealError> {
    let mut b = read_maybe_gz(path)?;
    if b.len() < 16 || be_u32(&b, 0) != 0x0803 {
        return Err(IdealError::data(
            path,
            "not an IDX image file (expected magic 0x00000803 and a 16-byte header)",
        ));
    }
    let (n, h, w) = (be_u32(&b, 4), be_u32(&b, 8), be_u32(&b, 12));
    let expected = n.checked_mul(h).and_then(|v| v.checked_mul(w));
    if expected != Some(b.len() - 16) {
        return Err(IdealError::data(
            path,
            format!(
                "{} data bytes, header says {n} images of {h}×{w}",
                b.len() - 16
            ),
        ));
    }
    b.drain(..16);
    Ok((n, h * w, b))
}

/// IDX labels (magic 0x00000801, unsigned bytes).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, IdealError> {
    let mut b = read_maybe_gz(path)?;
    if b.len() < 8 || be_u32(&b, 0) != 0x0801 {
        return Err(IdealError::data(
            path,
            "not an IDX label file (expected magic 0x00000801 and an 8-byte header)",
        ));
    }
    let n = be_u32(&b, 4);
    if b.len() - 8 != n {
        return Err(IdealError::data(
            path,
            format!("{} data bytes, header says {n} labels", b.len() - 8),
        ));
    }
    b.drain(..8);
    Ok(b)
}

/// `DIR/stem`, `DIR/stem.gz` or the same with `.idx` for `-idx` (both spellings exist).
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, IdealError> {
    let dotted = stem.replace("-idx", ".idx");
    let names = [
        stem.to_string(),
        format!("{stem}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ];
    for name in &names {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(IdealError::data(
        dir.join(stem),
        format!("IDX file not found (tried {})", names.join(", ")),
    ))
}

/// Pixel scaling of an IDX data set: x = (byte/255 − mean)/std.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelScaling {
    pub mean: f64,
    pub std: f64,
}

impl PixelScaling {
    /// The reference's MNIST standardisation.
    pub const MNIST: PixelScaling = PixelScaling {
        mean: 0.1307,
        std: 0.3081,
    };
    /// Pixels in [0, 1]: the reference does not standardise Fashion-MNIST.
    pub const UNIT: PixelScaling = PixelScaling {
        mean: 0.0,
        std: 1.0,
    };
}

/// Number of classes of the IDX tasks (digits, clothing types).
pub const IDX_CLASSES: usize = 10;

/// A checked IDX image/label file pair: pixels per image, image bytes, labels.
struct IdxPair {
    px: usize,
    bytes: Vec<u8>,
    labels: Vec<u8>,
}

impl IdxPair {
    fn read(img: &Path, lab: &Path) -> Result<IdxPair, IdealError> {
        let (n, px, bytes) = read_idx_images(img)?;
        let labels = read_idx_labels(lab)?;
        if labels.len() != n {
            return Err(IdealError::data(
                lab,
                format!(
                    "{} labels for the {n} images of {}",
                    labels.len(),
                    img.display()
                ),
            ));
        }
        if n == 0 || px == 0 {
            return Err(IdealError::data(img, "no images"));
        }
        if let Some((k, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l as usize >= IDX_CLASSES)
        {
            return Err(IdealError::data(
                lab,
                format!("label {l} at index {k} is not one of the {IDX_CLASSES} classes"),
            ));
        }
        Ok(IdxPair { px, bytes, labels })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    /// Samples `idx` (in that order): scaled pixels, one-hot targets.
    fn dataset(&self, idx: &[usize], scale: PixelScaling) -> Dataset {
        let mut x = Mat::zeros(idx.len(), self.px);
        let mut y = Mat::zeros(idx.len(), IDX_CLASSES);
        for (r, &k) in idx.iter().enumerate() {
            let src = &self.bytes[k * self.px..(k + 1) * self.px];
            for (v, &b) in x.data[r * self.px..(r + 1) * self.px].iter_mut().zip(src) {
                *v = (b as f64 / 255.0 - scale.mean) / scale.std;
            }
            y.data[r * IDX_CLASSES + self.labels[k] as usize] = 1.0;
        }
        Dataset { x, y }
    }
}

/// One IDX image/label file pair as a data set: scaled pixels, one-hot targets.
pub fn read_idx_pair(img: &Path, lab: &Path, scale: PixelScaling) -> Result<Dataset, IdealError> {
    let pair = IdxPair::read(img, lab)?;
    let all: Vec<usize> = (0..pair.len()).collect();
    Ok(pair.dataset(&all, scale))
}

/// MNIST-style IDX directory: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each plain or `.gz`). Pixels are
/// scaled by `scale`; targets are one-hot over 10 classes. As in the reference (a random
/// 55000/5000 split of the 60000 training images), `n_val` training images drawn at random
/// with `seed` form the validation set (at most half of the training images); the rest
/// keep their file order.
pub fn load_idx_dir(
    dir: &Path,
    scale: PixelScaling,
    n_val: usize,
    seed: u64,
) -> Result<Splits, IdealError> {
    if !dir.is_dir() {
        return Err(IdealError::data(dir, "data directory not found"));
    }
    let train_img = find_file(dir, "train-images-idx3-ubyte")?;
    let train_all = IdxPair::read(&train_img, &find_file(dir, "train-labels-idx1-ubyte")?)?;
    let test_img = find_file(dir, "t10k-images-idx3-ubyte")?;
    let test = read_idx_pair(&test_img, &find_file(dir, "t10k-labels-idx1-ubyte")?, scale)?;
    if test.x.cols != train_all.px {
        return Err(IdealError::data(
            &test_img,
            format!(
                "{} pixels per image, {} has {}",
                test.x.cols,
                train_img.display(),
                train_all.px
            ),
        ));
    }
    let n = train_all.len();
    let n_val = n_val.min(n / 2);
    let mut order: Vec<usize> = (0..n).collect();
    {
        use rand::seq::SliceRandom;
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x0a11_da7a));
    }
    let mut val_idx = order[..n_val].to_vec();
    val_idx.sort_unstable();
    let mut is_val = vec![false; n];
    val_idx.iter().for_each(|&k| is_val[k] = true);
    let train_idx: Vec<usize> = (0..n).filter(|&k| !is_val[k]).collect();
    Ok(Splits {
        train: train_all.dataset(&train_idx, scale),
        val: train_all.dataset(&val_idx, scale),
        test,
        classification: true,
    })
}
