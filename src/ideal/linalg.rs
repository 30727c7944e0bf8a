//! Small dense linear algebra on row-major `Vec<f64>`: what the per-sample hot loops need,
//! written out so that it allocates nothing and vectorises for the toy sizes.

/// Dense row-major matrix (dimensionless).
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn identity(n: usize) -> Self {
        let mut m = Mat::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }

    pub fn from_rows(rows: &[Vec<f64>]) -> Self {
        let r = rows.len();
        let c = rows.first().map_or(0, |x| x.len());
        let mut data = Vec::with_capacity(r * c);
        for row in rows {
            data.extend_from_slice(row);
        }
        Mat {
            rows: r,
            cols: c,
            data,
        }
    }

    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        self.data
            .chunks(self.cols.max(1))
            .map(|c| c.to_vec())
            .take(self.rows)
            .collect()
    }

    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn transpose(&self) -> Mat {
        let mut t = Mat::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t.data[j * self.rows + i] = self.data[i * self.cols + j];
            }
        }
        t
    }

    /// self · other.
    pub fn matmul(&self, other: &Mat) -> Mat {
        assert_eq!(self.cols, other.rows, "matmul shape mismatch");
        let mut out = Mat::zeros(self.rows, other.cols);
        for i in 0..self.rows {
            let orow = &mut out.data[i * other.cols..(i + 1) * other.cols];
            for k in 0..self.cols {
                let a = self.data[i * self.cols + k];
                if a == 0.0 {
                    continue;
                }
                axpy(a, other.row(k), orow);
            }
        }
        out
    }

    pub fn frobenius(&self) -> f64 {
        norm(&self.data)
    }
}

/// y = A x (A row-major rows×cols).
#[inline(always)]
pub fn matvec(a: &[f64], rows: usize, cols: usize, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(a.len(), rows * cols);
    for (i, yi) in y.iter_mut().enumerate().take(rows) {
        *yi = dot(&a[i * cols..(i + 1) * cols], x);
    }
}

/// y = Aᵀ x (A row-major rows×cols, y has `cols` entries).
#[inline]
pub fn matvec_t(a: &[f64], rows: usize, cols: usize, x: &[f64], y: &mut [f64]) {
    y[..cols].fill(0.0);
    for (i, &xi) in x.iter().enumerate().take(rows) {
        axpy(xi, &a[i * cols..(i + 1) * cols], &mut y[..cols]);
    }
}

#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four partial sums let the compiler vectorise without reassociating a single chain.
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        for l in 0..4 {
            s[l] += a[4 * c + l] * b[4 * c + l];
        }
    }
    let mut tail = 0.0;
    for k in 4 * chunks..n {
        tail += a[k] * b[k];
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// y += a·x.
#[inline(always)]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// acc += d · rᵀ (acc row-major d.len()×r.len()).
#[inline]
pub fn add_outer(acc: &mut [f64], d: &[f64], r: &[f64]) {
    let c = r.len();
    for (j, &dj) in d.iter().enumerate() {
        axpy(dj, r, &mut acc[j * c..(j + 1) * c]);
    }
}

pub fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Solves A X = B in place for a small square A (row-major n×n) by LU with partial
/// pivoting; B is n×m row-major and is overwritten by X. Returns false if A is singular.
pub fn solve_in_place(a: &mut [f64], n: usize, b: &mut [f64], m: usize) -> bool {
    for k in 0..n {
        let mut p = k;
        let mut best = a[k * n + k].abs();
        for i in k + 1..n {
            let v = a[i * n + k].abs();
            if v > best {
                best = v;
                p = i;
            }
        }
        if best == 0.0 || !best.is_finite() {
            return false;
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            for j in 0..m {
                b.swap(k * m + j, p * m + j);
            }
        }
        let pivot = a[k * n + k];
        for i in k + 1..n {
            let f = a[i * n + k] / pivot;
            if f == 0.0 {
                continue;
            }
            a[i * n + k] = f;
            for j in k + 1..n {
                a[i * n + j] -= f * a[k * n + j];
            }
            for j in 0..m {
                b[i * m + j] -= f * b[k * m + j];
            }
        }
    }
    for k in (0..n).rev() {
        let pivot = a[k * n + k];
        for j in 0..m {
            let mut s = b[k * m + j];
            for i in k + 1..n {
                s -= a[k * n + i] * b[i * m + j];
            }
            b[k * m + j] = s / pivot;
        }
    }
    true
}

/// Angle in degrees between two vectors (0 if either is zero).
pub fn angle_deg(a: &[f64], b: &[f64]) -> f64 {
    let na = norm(a);
    let nb = norm(b);
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    let c = a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb);
    c.clamp(-1.0, 1.0).acos().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_small_system() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let x = [1.0, -2.0, 0.5];
        let mut b = vec![0.0; 3];
        matvec(&a, 3, 3, &x, &mut b);
        assert!(solve_in_place(&mut a, 3, &mut b, 1));
        for k in 0..3 {
            assert!((b[k] - x[k]).abs() < 1e-14);
        }
    }
}
