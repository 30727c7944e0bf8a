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

/// Dots of one row `w` with eight vectors, each summed exactly as [`dot`] does (the same
/// four partial sums, no FMA), so each result has the bits of `dot(w, xs[j])`: eight
/// independent sums keep the vector units busy where one `dot` waits on its adds.
pub fn dots8(w: &[f64], xs: [&[f64]; 8]) -> [f64; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above); the body is plain Rust.
            return unsafe { dots8_avx2(w, xs) };
        }
    }
    dots8_portable(w, xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots8_avx2(w: &[f64], xs: [&[f64]; 8]) -> [f64; 8] {
    use std::arch::x86_64::*;
    let n = xs.iter().fold(w.len(), |n, x| n.min(x.len()));
    let chunks = n / 4;
    // Lane l of acc[j] is partial sum l of dot(w, xs[j]): mul then add, as in `dot`.
    let mut acc = [_mm256_setzero_pd(); 8];
    for c in 0..chunks {
        let k = 4 * c;
        // SAFETY: k + 4 <= n <= the length of every slice.
        unsafe {
            let wv = _mm256_loadu_pd(w.as_ptr().add(k));
            for (a, x) in acc.iter_mut().zip(&xs) {
                let xv = _mm256_loadu_pd(x.as_ptr().add(k));
                *a = _mm256_add_pd(*a, _mm256_mul_pd(wv, xv));
            }
        }
    }
    let mut out = [0.0; 8];
    for ((o, a), x) in out.iter_mut().zip(&acc).zip(&xs) {
        let mut s = [0.0f64; 4];
        // SAFETY: `s` holds four f64.
        unsafe { _mm256_storeu_pd(s.as_mut_ptr(), *a) };
        let mut tail = 0.0;
        for k in 4 * chunks..n {
            tail += w[k] * x[k];
        }
        *o = (s[0] + s[1]) + (s[2] + s[3]) + tail;
    }
    out
}

#[inline(always)]
fn dots8_portable(w: &[f64], xs: [&[f64]; 8]) -> [f64; 8] {
    let n = xs.iter().fold(w.len(), |n, x| n.min(x.len()));
    let w = &w[..n];
    let xs = xs.map(|x| &x[..n]);
    let chunks = n / 4;
    let mut s = [[0.0f64; 4]; 8];
    for c in 0..chunks {
        let wc: &[f64; 4] = w[4 * c..4 * c + 4].try_into().expect("chunk of 4");
        for (sj, xj) in s.iter_mut().zip(&xs) {
            let xc: &[f64; 4] = xj[4 * c..4 * c + 4].try_into().expect("chunk of 4");
            for l in 0..4 {
                sj[l] += wc[l] * xc[l];
            }
        }
    }
    let mut out = [0.0; 8];
    for ((o, sj), xj) in out.iter_mut().zip(&s).zip(&xs) {
        let mut tail = 0.0;
        for k in 4 * chunks..n {
            tail += w[k] * xj[k];
        }
        *o = (sj[0] + sj[1]) + (sj[2] + sj[3]) + tail;
    }
    out
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

    #[test]
    fn dots8_has_the_bits_of_dot() {
        for n in [0usize, 1, 3, 4, 7, 8, 13, 64] {
            let w: Vec<f64> = (0..n).map(|k| (k as f64 * 0.37).sin() / 3.0).collect();
            let xs: Vec<Vec<f64>> = (0..8)
                .map(|j| (0..n).map(|k| ((k * 7 + j) as f64).cos() * 1e3).collect())
                .collect();
            let want: Vec<u64> = xs.iter().map(|x| dot(&w, x).to_bits()).collect();
            let refs: [&[f64]; 8] = std::array::from_fn(|j| &xs[j][..]);
            let fast: Vec<u64> = dots8(&w, refs).iter().map(|v| v.to_bits()).collect();
            let portable: Vec<u64> = dots8_portable(&w, refs)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(fast, want, "n = {n}");
            assert_eq!(portable, want, "n = {n}");
        }
    }
}
