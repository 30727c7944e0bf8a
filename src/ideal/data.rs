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
    let mut teacher = Network::new_random(&sizes, &acts, FeedbackInit::WeightProduct, &mut rng);
    for l in teacher.layers.iter_mut() {
        // Gain 3 on the xavier-normal standard deviation.
        l.w.data.iter_mut().for_each(|w| *w *= 3.0);
    }
    let mut make = |n: usize| -> Dataset {
        let mut x = Mat::zeros(n, n_in);
        for v in x.data.iter_mut() {
            *v = rng.random_range(-1.0..1.0);
        }
        let ys: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|k| teacher.forward(x.row(k)).r.last().unwrap().clone())
            .collect();
        Dataset {
            x,
            y: Mat::from_rows(&ys),
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

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, IdealError> {
    let raw = std::fs::read(path).map_err(|e| IdealError::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| IdealError::io(path, e))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// IDX images (magic 0x803, u8) → rows of pixel/255.
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, Vec<u8>), IdealError> {
    let b = read_maybe_gz(path)?;
    if b.len() < 16 || be_u32(&b, 0) != 0x0803 {
        return Err(IdealError::data(
            path,
            "not an IDX image file (magic 0x00000803)",
        ));
    }
    let (n, h, w) = (
        be_u32(&b, 4) as usize,
        be_u32(&b, 8) as usize,
        be_u32(&b, 12) as usize,
    );
    if b.len() != 16 + n * h * w {
        return Err(IdealError::data(
            path,
            format!("{} bytes, header says {} images of {h}×{w}", b.len(), n),
        ));
    }
    Ok((n, h * w, b[16..].to_vec()))
}

/// IDX labels (magic 0x801, u8).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, IdealError> {
    let b = read_maybe_gz(path)?;
    if b.len() < 8 || be_u32(&b, 0) != 0x0801 {
        return Err(IdealError::data(
            path,
            "not an IDX label file (magic 0x00000801)",
        ));
    }
    let n = be_u32(&b, 4) as usize;
    if b.len() != 8 + n {
        return Err(IdealError::data(
            path,
            format!("{} bytes, header says {n} labels", b.len()),
        ));
    }
    Ok(b[8..].to_vec())
}

fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, IdealError> {
    for name in [
        stem.to_string(),
        format!("{stem}.gz"),
        stem.replace("-idx", ".idx"),
        format!("{}.gz", stem.replace("-idx", ".idx")),
    ] {
        let p = dir.join(&name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(IdealError::data(
        dir.join(stem),
        "IDX file not found (plain or .gz)",
    ))
}

/// MNIST-style IDX directory: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`. Pixels are scaled to [0, 1] and
/// standardised with (`mean`, `std`); the last `n_val` training images form the
/// validation set. Targets are one-hot over 10 classes.
pub fn load_idx_dir(dir: &Path, mean: f64, std: f64, n_val: usize) -> Result<Splits, IdealError> {
    let to_set = |img: &Path, lab: &Path| -> Result<Dataset, IdealError> {
        let (n, px, bytes) = read_idx_images(img)?;
        let labels = read_idx_labels(lab)?;
        if labels.len() != n {
            return Err(IdealError::data(
                lab,
                format!("{} labels for {n} images", labels.len()),
            ));
        }
        let n_class = 10;
        let mut x = Mat::zeros(n, px);
        for (v, &b) in x.data.iter_mut().zip(&bytes) {
            *v = (b as f64 / 255.0 - mean) / std;
        }
        let mut y = Mat::zeros(n, n_class);
        for (k, &l) in labels.iter().enumerate() {
            if l as usize >= n_class {
                return Err(IdealError::data(
                    lab,
                    format!("label {l} at index {k} is not a digit class"),
                ));
            }
            y.data[k * n_class + l as usize] = 1.0;
        }
        Ok(Dataset { x, y })
    };
    let train_all = to_set(
        &find_file(dir, "train-images-idx3-ubyte")?,
        &find_file(dir, "train-labels-idx1-ubyte")?,
    )?;
    let test = to_set(
        &find_file(dir, "t10k-images-idx3-ubyte")?,
        &find_file(dir, "t10k-labels-idx1-ubyte")?,
    )?;
    let n_val = n_val.min(train_all.len() / 2);
    let n_tr = train_all.len() - n_val;
    let split = |d: &Dataset, a: usize, b: usize| Dataset {
        x: Mat {
            rows: b - a,
            cols: d.x.cols,
            data: d.x.data[a * d.x.cols..b * d.x.cols].to_vec(),
        },
        y: Mat {
            rows: b - a,
            cols: d.y.cols,
            data: d.y.data[a * d.y.cols..b * d.y.cols].to_vec(),
        },
    };
    Ok(Splits {
        train: split(&train_all, 0, n_tr),
        val: split(&train_all, n_tr, train_all.len()),
        test,
        classification: true,
    })
}
