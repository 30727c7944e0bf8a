//! LU of one strongly connected block through a small feedback set: removing a few
//! "hub" pairs (e.g. the output rates that feed back to every hidden neuron in DFC) leaves
//! an acyclic rest A11, solved by substitution with its matched pivots and no fill; the
//! feedback pairs form a small dense Schur complement S = A22 − A21·A11⁻¹·A12.
//! Used when the feedback set is small; otherwise the block goes to the general sparse LU.

/// Largest feedback set worth a dense Schur complement.
pub const MAX_FEEDBACK: usize = 64;

/// Largest amplification max|Z|·max|A21| / max|A22| accepted (see `factor`).
const MAX_GROWTH: f64 = 1e6;

/// Smallest |matched pivot| / largest |entry| of its row accepted in the acyclic part.
const PIVOT_THRESHOLD: f64 = 1e-3;

#[derive(Debug, Clone)]
pub struct SchurLu {
    /// Acyclic part in dependency order: (pivot position, local pair index).
    order: Vec<(usize, usize)>,
    /// Per entry of `order`: range into `a11` of its off-pivot entries within the rest.
    a11_ptr: Vec<usize>,
    /// (set-1 index of the column, value position).
    a11: Vec<(usize, usize)>,
    /// A12 entries: (set-1 row index, feedback column index, value position).
    a12: Vec<(usize, usize, usize)>,
    /// A21 entries: (feedback row index, set-1 column index, value position).
    a21: Vec<(usize, usize, usize)>,
    /// A22 entries: (feedback row index, feedback column index, value position).
    a22: Vec<(usize, usize, usize)>,
    /// Local pair index of each feedback pair.
    feedback: Vec<usize>,
    /// Z = A11⁻¹·A12, column-major (n1 × k).
    z: Vec<f64>,
    /// Dense LU of S (row-major k × k) and its row permutation.
    s: Vec<f64>,
    perm: Vec<usize>,
    work1: Vec<f64>,
    work2: Vec<f64>,
    work3: Vec<f64>,
}

impl SchurLu {
    /// `entries[p]`: (local pair of the column, value position) for every in-block entry of
    /// the row of local pair p; `pivot[p]` the position of the matched entry. Returns
    /// `None` when no small feedback set makes the rest acyclic.
    pub fn new(entries: &[Vec<(usize, usize)>], pivot: &[usize]) -> Option<SchurLu> {
        let k = entries.len();
        let limit = MAX_FEEDBACK.min(k / 2);
        let mut removed = vec![false; k];
        let mut feedback = Vec::new();
        let order_pairs = loop {
            let comps = super::btf::tarjan(k, |p, out: &mut Vec<usize>| {
                if !removed[p] {
                    out.extend(
                        entries[p]
                            .iter()
                            .map(|&(q, _)| q)
                            .filter(|&q| q != p && !removed[q]),
                    );
                }
            });
            let cyclic: Vec<&Vec<usize>> = comps.iter().filter(|c| c.len() > 1).collect();
            if cyclic.is_empty() {
                break comps
                    .into_iter()
                    .map(|c| c[0])
                    .filter(|&p| !removed[p])
                    .collect::<Vec<_>>();
            }
            // Remove, in every cyclic component, the pair with most in·out connections.
            for comp in cyclic {
                let mut in_comp = vec![false; k];
                for &p in comp {
                    in_comp[p] = true;
                }
                let mut indeg = vec![0usize; k];
                let mut outdeg = vec![0usize; k];
                for &p in comp {
                    for &(q, _) in &entries[p] {
                        if q != p && in_comp[q] {
                            outdeg[p] += 1;
                            indeg[q] += 1;
                        }
                    }
                }
                let best = comp
                    .iter()
                    .copied()
                    .max_by_key(|&p| (indeg[p] * outdeg[p], std::cmp::Reverse(p)))?;
                removed[best] = true;
                feedback.push(best);
            }
            if feedback.len() > limit {
                return None;
            }
        };
        let n1 = order_pairs.len();
        let nk = feedback.len();
        let mut set1_index = vec![usize::MAX; k];
        for (i, &p) in order_pairs.iter().enumerate() {
            set1_index[p] = i;
        }
        let mut fb_index = vec![usize::MAX; k];
        for (j, &p) in feedback.iter().enumerate() {
            fb_index[p] = j;
        }
        let mut order = Vec::with_capacity(n1);
        let mut a11_ptr = vec![0];
        let mut a11 = Vec::new();
        let mut a12 = Vec::new();
        for (i, &p) in order_pairs.iter().enumerate() {
            order.push((pivot[p], p));
            for &(q, pos) in &entries[p] {
                if pos == pivot[p] {
                    continue;
                }
                if fb_index[q] != usize::MAX {
                    a12.push((i, fb_index[q], pos));
                } else {
                    a11.push((set1_index[q], pos));
                }
            }
            a11_ptr.push(a11.len());
        }
        let mut a21 = Vec::new();
        let mut a22 = Vec::new();
        for (j, &p) in feedback.iter().enumerate() {
            for &(q, pos) in &entries[p] {
                if fb_index[q] != usize::MAX {
                    a22.push((j, fb_index[q], pos));
                } else {
                    a21.push((j, set1_index[q], pos));
                }
            }
        }
        Some(SchurLu {
            order,
            a11_ptr,
            a11,
            a12,
            a21,
            a22,
            feedback,
            z: vec![0.0; n1 * nk],
            s: vec![0.0; nk * nk],
            perm: vec![0; nk],
            work1: vec![0.0; n1],
            work2: vec![0.0; nk],
            work3: vec![0.0; nk],
        })
    }

    /// Number of feedback pairs (size of the dense Schur complement).
    pub fn feedback_size(&self) -> usize {
        self.feedback.len()
    }

    /// Substitution through the acyclic part: y ← A11⁻¹·y (y indexed by set-1 order).
    fn substitute(&self, a: &[f64], y: &mut [f64]) {
        for (i, &(piv, _)) in self.order.iter().enumerate() {
            let mut s = y[i];
            for &(c, pos) in &self.a11[self.a11_ptr[i]..self.a11_ptr[i + 1]] {
                s -= a[pos] * y[c];
            }
            y[i] = s / a[piv];
        }
    }

    /// Factorises. Err(Some(pair)): a zero or small matched pivot; Err(None): the growth
    /// test failed. Either way the caller factorises the block with the pivoting LU.
    pub fn factor(&mut self, a: &[f64]) -> Result<(), Option<usize>> {
        // The acyclic part is substituted with its matched pivots, unpivoted: a pivot that
        // is zero or small against its row (e.g. a gain ramping up from 0) would let
        // rounding errors grow, so it sends the block to the pivoting LU instead.
        let mut row_max = std::mem::take(&mut self.work1);
        for (i, m) in row_max.iter_mut().enumerate() {
            *m = self.a11[self.a11_ptr[i]..self.a11_ptr[i + 1]]
                .iter()
                .fold(0.0f64, |m, &(_, pos)| m.max(a[pos].abs()));
        }
        for &(i, _, pos) in &self.a12 {
            row_max[i] = row_max[i].max(a[pos].abs());
        }
        let small = self
            .order
            .iter()
            .zip(&row_max)
            .find(|&(&(piv, _), &m)| {
                let v = a[piv].abs();
                v == 0.0 || v.is_nan() || v < PIVOT_THRESHOLD * m
            })
            .map(|(&(_, p), _)| p);
        self.work1 = row_max;
        if let Some(p) = small {
            return Err(Some(p));
        }
        let n1 = self.order.len();
        let nk = self.feedback.len();
        // Z = A11⁻¹·A12, one column at a time.
        let mut z = std::mem::take(&mut self.z);
        z.fill(0.0);
        for &(i, j, pos) in &self.a12 {
            z[j * n1 + i] += a[pos];
        }
        for j in 0..nk {
            self.substitute(a, &mut z[j * n1..(j + 1) * n1]);
        }
        // S = A22 − A21·Z.
        self.s.fill(0.0);
        for &(r, c, pos) in &self.a22 {
            self.s[r * nk + c] += a[pos];
        }
        for &(r, i, pos) in &self.a21 {
            let v = a[pos];
            for j in 0..nk {
                self.s[r * nk + j] -= v * z[j * n1 + i];
            }
        }
        // Growth: the acyclic part is substituted without pivoting, so A11 can be far worse
        // conditioned than the block (a ring of 21 gain-2 stages cut open: |A21·Z| ~ 1e27
        // |A22|); S and the solve then cancel away every digit. Such a factorisation goes
        // to the pivoting LU (healthy DFC-like blocks measure ≤ 0.4).
        let zmax = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let a21max = self
            .a21
            .iter()
            .fold(0.0f64, |m, &(_, _, pos)| m.max(a[pos].abs()));
        let a22max = self
            .a22
            .iter()
            .fold(0.0f64, |m, &(_, _, pos)| m.max(a[pos].abs()));
        let growth = zmax * a21max / a22max;
        if growth.is_nan() || growth > MAX_GROWTH {
            self.z = z;
            return Err(None);
        }
        self.z = z;
        // Dense LU with partial pivoting (row-major, in place).
        for (r, p) in self.perm.iter_mut().enumerate() {
            *p = r;
        }
        for col in 0..nk {
            let piv = (col..nk)
                .max_by(|&x, &y| {
                    self.s[x * nk + col]
                        .abs()
                        .total_cmp(&self.s[y * nk + col].abs())
                })
                .unwrap_or(col);
            if self.s[piv * nk + col] == 0.0 {
                return Err(Some(self.feedback[col]));
            }
            if piv != col {
                for c in 0..nk {
                    self.s.swap(piv * nk + c, col * nk + c);
                }
                self.perm.swap(piv, col);
            }
            let d = self.s[col * nk + col];
            for r in col + 1..nk {
                let f = self.s[r * nk + col] / d;
                self.s[r * nk + col] = f;
                if f != 0.0 {
                    for c in col + 1..nk {
                        self.s[r * nk + c] -= f * self.s[col * nk + c];
                    }
                }
            }
        }
        Ok(())
    }

    /// Solves in place: `b[p]` is the right-hand side of the row of local pair p on entry
    /// and the unknown of the column of local pair p on exit.
    pub fn solve(&mut self, a: &[f64], b: &mut [f64]) {
        let n1 = self.order.len();
        let nk = self.feedback.len();
        let mut y = std::mem::take(&mut self.work1);
        for (i, &(_, p)) in self.order.iter().enumerate() {
            y[i] = b[p];
        }
        self.substitute(a, &mut y);
        // t = b2 − A21·y, permuted; then S⁻¹.
        let mut t = std::mem::take(&mut self.work2);
        for (j, &p) in self.feedback.iter().enumerate() {
            t[j] = b[p];
        }
        for &(r, i, pos) in &self.a21 {
            t[r] -= a[pos] * y[i];
        }
        let mut x2 = std::mem::take(&mut self.work3);
        for (r, &p) in self.perm.iter().enumerate() {
            x2[r] = t[p];
        }
        // forward (unit lower) and backward substitution
        for r in 0..nk {
            let row = &self.s[r * nk..(r + 1) * nk];
            let s: f64 = row[..r].iter().zip(&x2[..r]).map(|(l, x)| l * x).sum();
            x2[r] -= s;
        }
        for r in (0..nk).rev() {
            let row = &self.s[r * nk..(r + 1) * nk];
            let s: f64 = row[r + 1..]
                .iter()
                .zip(&x2[r + 1..])
                .map(|(u, x)| u * x)
                .sum();
            x2[r] = (x2[r] - s) / row[r];
        }
        // x1 = y − Z·x2.
        for (j, &xj) in x2.iter().enumerate() {
            if xj != 0.0 {
                for (yi, zi) in y.iter_mut().zip(&self.z[j * n1..(j + 1) * n1]) {
                    *yi -= zi * xj;
                }
            }
        }
        for (i, &(_, p)) in self.order.iter().enumerate() {
            b[p] = y[i];
        }
        for (j, &p) in self.feedback.iter().enumerate() {
            b[p] = x2[j];
        }
        self.work1 = y;
        self.work2 = t;
        self.work3 = x2;
    }
}
