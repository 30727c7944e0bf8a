//! The dimensionless DFC network the generator writes out: weights W_i, biases b_i,
//! feedback weights Q_i, one data sample and its output target r_L*.
//!
//! Everything here is dimensionless (activations, weights); the circuit mapping to volts,
//! siemens and seconds lives in [`super::Scales`].

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};

use super::GenError;

/// Dense row-major matrix (small: the generator's arrays, not the solver's).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn identity(n: usize) -> Self {
        let mut m = Matrix::zeros(n, n);
        for k in 0..n {
            m.data[k * n + k] = 1.0;
        }
        m
    }

    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    pub fn set(&mut self, r: usize, c: usize, v: f64) {
        self.data[r * self.cols + c] = v;
    }

    pub fn transpose(&self) -> Matrix {
        let mut t = Matrix::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t.set(c, r, self.at(r, c));
            }
        }
        t
    }

    pub fn matmul(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.cols, other.rows, "matmul shape");
        let mut p = Matrix::zeros(self.rows, other.cols);
        for r in 0..self.rows {
            for k in 0..self.cols {
                let a = self.at(r, k);
                for c in 0..other.cols {
                    p.data[r * other.cols + c] += a * other.at(k, c);
                }
            }
        }
        p
    }

    /// y = self · x, written into `y` (no allocation).
    pub fn matvec_into(&self, x: &[f64], y: &mut [f64]) {
        for (r, yr) in y.iter_mut().enumerate().take(self.rows) {
            let row = &self.data[r * self.cols..(r + 1) * self.cols];
            *yr = row.iter().zip(x).map(|(a, b)| a * b).sum();
        }
    }

    pub fn matvec(&self, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.rows];
        self.matvec_into(x, &mut y);
        y
    }

    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0, |m, v| m.max(v.abs()))
    }
}

/// Transfer function φ of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phi {
    Tanh,
    Linear,
}

impl Phi {
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Phi::Tanh => v.tanh(),
            Phi::Linear => v,
        }
    }
    pub fn derivative(self, v: f64) -> f64 {
        match self {
            Phi::Tanh => 1.0 - v.tanh().powi(2),
            Phi::Linear => 1.0,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Phi::Tanh => "tanh",
            Phi::Linear => "linear",
        }
    }
}

/// Weights of a DFC network with direct feedback from the output controller to every layer.
/// Layer i (1-based in the paper, `i-1` here) has `w[i-1]`: n_i × n_{i-1}, `b[i-1]`: n_i,
/// `q[i-1]`: n_i × n_L.
#[derive(Debug, Clone, PartialEq)]
pub struct DfcNetwork {
    /// Layer sizes n_0 … n_L.
    pub arch: Vec<usize>,
    pub w: Vec<Matrix>,
    pub b: Vec<Vec<f64>>,
    pub q: Vec<Matrix>,
    /// φ of each layer 1 … L.
    pub phi: Vec<Phi>,
}

impl DfcNetwork {
    pub fn layers(&self) -> usize {
        self.arch.len() - 1
    }

    /// Xavier-normal forward weights (std √(2/(fan_in+fan_out))), zero biases, and the fixed
    /// weight-product feedback Q_i = W_{i+1}ᵀ⋯W_Lᵀ, Q_L = I (the reference's initialisation).
    pub fn xavier(arch: &[usize], phi: Vec<Phi>, rng: &mut impl Rng) -> Result<Self, GenError> {
        check_arch(arch)?;
        let mut w = Vec::new();
        for pair in arch.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
            let normal = Normal::new(0.0, std).expect("finite positive std");
            let mut m = Matrix::zeros(fan_out, fan_in);
            for v in m.data.iter_mut() {
                *v = normal.sample(rng);
            }
            w.push(m);
        }
        let b = arch[1..].iter().map(|&n| vec![0.0; n]).collect();
        let q = weight_product_feedback(&w);
        Ok(DfcNetwork {
            arch: arch.to_vec(),
            w,
            b,
            q,
            phi,
        })
    }

    /// Feed-forward pass (eq. 2): returns v_i^− and r_i^− for i = 1 … L.
    pub fn feedforward(&self, x: &[f64]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let mut vs = Vec::new();
        let mut rs: Vec<Vec<f64>> = Vec::new();
        for i in 0..self.layers() {
            let input = if i == 0 { x } else { &rs[i - 1] };
            let mut v = self.w[i].matvec(input);
            for (vk, bk) in v.iter_mut().zip(&self.b[i]) {
                *vk += bk;
            }
            let r = v.iter().map(|&a| self.phi[i].apply(a)).collect();
            vs.push(v);
            rs.push(r);
        }
        (vs, rs)
    }

    /// Largest |entry| over every W_i, b_i and Q_i: what the conductance range must hold.
    pub fn max_abs_weight(&self) -> f64 {
        let mut m: f64 = 0.0;
        for i in 0..self.layers() {
            m = m.max(self.w[i].max_abs()).max(self.q[i].max_abs());
            m = self.b[i].iter().fold(m, |a, v| a.max(v.abs()));
        }
        m
    }
}

/// Q_i = W_{i+1}ᵀ ⋯ W_Lᵀ, Q_L = I.
pub fn weight_product_feedback(w: &[Matrix]) -> Vec<Matrix> {
    let layers = w.len();
    let n_out = w[layers - 1].rows;
    let mut q = vec![Matrix::identity(n_out); layers];
    for i in (0..layers - 1).rev() {
        q[i] = w[i + 1].transpose().matmul(&q[i + 1]);
    }
    q
}

fn check_arch(arch: &[usize]) -> Result<(), GenError> {
    if arch.len() < 2 || arch.contains(&0) {
        return Err(GenError::Arch(format!(
            "{arch:?}: need at least an input and an output layer, each with ≥ 1 unit"
        )));
    }
    Ok(())
}

/// One data sample: input x, label y and the output target r_L* (eq. 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub target: Vec<f64>,
}

/// r_L* = r_L^− − λ ∂L/∂r_L for the per-sample MSE loss L = mean_k (r_k − y_k)².
pub fn mse_target(r_out: &[f64], y: &[f64], lambda: f64) -> Vec<f64> {
    let n = r_out.len() as f64;
    r_out
        .iter()
        .zip(y)
        .map(|(r, t)| r - lambda * 2.0 * (r - t) / n)
        .collect()
}

/// Student-teacher sample: x uniform in [−1, 1], y = teacher(x) with a xavier-normal teacher
/// of the same architecture drawn from its own seed stream.
pub fn student_teacher_sample(
    net: &DfcNetwork,
    seed: u64,
    lambda: f64,
) -> Result<Sample, GenError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7EAC_4E55_D5C0_FFEE);
    let teacher = DfcNetwork::xavier(&net.arch, net.phi.clone(), &mut rng)?;
    let x: Vec<f64> = (0..net.arch[0])
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let (_, rt) = teacher.feedforward(&x);
    let y = rt.last().expect("≥ 1 layer").clone();
    let (_, rs) = net.feedforward(&x);
    let target = mse_target(rs.last().expect("≥ 1 layer"), &y, lambda);
    Ok(Sample { x, y, target })
}

/// Weights (and, when present, sample `index` of `x`, `y`, `output_target`) from a JSON file
/// in the reference fixture format: keys `W1`, `b1`, `Q1`, … as nested arrays (W_i: n_i rows
/// of n_{i−1}), optional `x`, `y`, `output_target` as [sample][unit].
pub fn from_reference_json(
    path: &Path,
    arch: &[usize],
    phi: Vec<Phi>,
    index: usize,
    lambda: f64,
) -> Result<(DfcNetwork, Option<Sample>), GenError> {
    check_arch(arch)?;
    let text = std::fs::read_to_string(path).map_err(|e| GenError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| GenError::Init {
        path: path.display().to_string(),
        msg: format!("line {} column {}: {e}", e.line(), e.column()),
    })?;
    let bad = |msg: String| GenError::Init {
        path: path.display().to_string(),
        msg,
    };
    let layers = arch.len() - 1;
    let n_out = arch[layers];
    let mut w = Vec::new();
    let mut b = Vec::new();
    let mut q = Vec::new();
    for i in 1..=layers {
        let (n_i, n_prev) = (arch[i], arch[i - 1]);
        w.push(json_matrix(&json, &format!("W{i}"), n_i, n_prev).map_err(bad)?);
        b.push(match json.get(format!("b{i}")) {
            Some(_) => {
                json_matrix(&json, &format!("b{i}"), 1, n_i)
                    .map_err(bad)?
                    .data
            }
            None => vec![0.0; n_i],
        });
        q.push(match json.get(format!("Q{i}")) {
            Some(_) => json_matrix(&json, &format!("Q{i}"), n_i, n_out).map_err(bad)?,
            None => Matrix::zeros(0, 0),
        });
    }
    if q.iter().any(|m| m.rows == 0) {
        q = weight_product_feedback(&w);
    }
    let net = DfcNetwork {
        arch: arch.to_vec(),
        w,
        b,
        q,
        phi,
    };
    let sample = match (json.get("x"), json.get("y")) {
        (Some(_), Some(_)) => {
            let row = |key: &str, n: usize| -> Result<Vec<f64>, GenError> {
                let all = json
                    .get(key)
                    .and_then(|v| v.as_array())
                    .ok_or_else(|| bad(format!("`{key}` must be an array of samples")))?;
                let one = all.get(index).ok_or_else(|| {
                    bad(format!(
                        "`{key}` has {} samples, no index {index}",
                        all.len()
                    ))
                })?;
                let m =
                    json_matrix(one, "", 1, n).map_err(|m| bad(format!("`{key}`[{index}]{m}")))?;
                Ok(m.data)
            };
            let x = row("x", arch[0])?;
            let y = row("y", n_out)?;
            let target = if json.get("output_target").is_some() {
                row("output_target", n_out)?
            } else {
                let (_, rs) = net.feedforward(&x);
                mse_target(rs.last().expect("≥ 1 layer"), &y, lambda)
            };
            Some(Sample { x, y, target })
        }
        _ => None,
    };
    Ok((net, sample))
}

/// Reads `json[key]` (or `json` itself when `key` is empty) as a rows × cols matrix; a
/// vector is accepted for rows == 1.
fn json_matrix(
    json: &serde_json::Value,
    key: &str,
    rows: usize,
    cols: usize,
) -> Result<Matrix, String> {
    let v = if key.is_empty() {
        json
    } else {
        json.get(key)
            .ok_or_else(|| format!("missing key `{key}`"))?
    };
    let num = |x: &serde_json::Value| {
        x.as_f64()
            .ok_or_else(|| format!("`{key}`: not a number: {x}"))
    };
    let outer = v
        .as_array()
        .ok_or_else(|| format!("`{key}`: not an array"))?;
    let mut m = Matrix::zeros(rows, cols);
    if rows == 1 && outer.first().is_some_and(|x| !x.is_array()) {
        if outer.len() != cols {
            return Err(format!("`{key}`: {} entries, expected {cols}", outer.len()));
        }
        for (c, x) in outer.iter().enumerate() {
            m.set(0, c, num(x)?);
        }
        return Ok(m);
    }
    if outer.len() != rows {
        return Err(format!(
            "`{key}`: {} rows, expected {rows} (arch mismatch?)",
            outer.len()
        ));
    }
    for (r, row) in outer.iter().enumerate() {
        let row = row
            .as_array()
            .ok_or_else(|| format!("`{key}`[{r}]: not an array"))?;
        if row.len() != cols {
            return Err(format!(
                "`{key}`[{r}]: {} columns, expected {cols} (arch mismatch?)",
                row.len()
            ));
        }
        for (c, x) in row.iter().enumerate() {
            m.set(r, c, num(x)?);
        }
    }
    Ok(m)
}
