//! Sparse MNA matrix: pattern assembly from device slot requests, symbolic LU once,
//! numeric LU reused (no allocation per Newton iteration), refactorisation skipped when
//! the Jacobian values did not change since the last factorisation.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::simplicial::{
    SimplicialLu, factorize_simplicial_numeric_lu, factorize_simplicial_numeric_lu_scratch,
};
use faer::sparse::linalg::lu::{LuSymbolicParams, SymbolicLu, factorize_symbolic_lu};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};

use crate::devices::SlotBuilder;

/// The fixed sparsity pattern of the Jacobian, in CSC form.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub n: usize,
    pub col_ptr: Vec<usize>,
    pub row_idx: Vec<usize>,
}

impl Pattern {
    /// Builds the CSC pattern from the (row, col) pairs devices asked for; trash
    /// positions (ground) never reach here. The diagonal entries of the first
    /// `extra_diagonals` unknowns (the nodes) are added so that gmin stepping and `.ic`
    /// forcing have a slot.
    pub fn from_pairs(n: usize, pairs: &[(usize, usize)], extra_diagonals: usize) -> Pattern {
        let mut cols: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &(r, c) in pairs {
            cols[c].push(r);
        }
        for (c, col) in cols.iter_mut().enumerate() {
            if c < extra_diagonals {
                col.push(c);
            }
            col.sort_unstable();
            col.dedup();
        }
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::new();
        col_ptr.push(0);
        for col in &cols {
            row_idx.extend_from_slice(col);
            col_ptr.push(row_idx.len());
        }
        Pattern {
            n,
            col_ptr,
            row_idx,
        }
    }

    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }

    /// Value position of entry (r, c); `None` when it is not in the pattern.
    pub fn position(&self, r: usize, c: usize) -> Option<usize> {
        let lo = self.col_ptr[c];
        let hi = self.col_ptr[c + 1];
        self.row_idx[lo..hi].binary_search(&r).ok().map(|k| lo + k)
    }

    fn symbolic(&self) -> SymbolicSparseColMatRef<'_, usize> {
        SymbolicSparseColMatRef::new_checked(self.n, self.n, &self.col_ptr, None, &self.row_idx)
    }
}

impl SlotBuilder {
    /// Builder that records the pairs (first pass of device setup).
    pub fn recording(n: usize) -> SlotBuilder {
        SlotBuilder {
            n,
            pairs: Vec::new(),
            pattern: None,
            handed_out: Vec::new(),
        }
    }
    /// Builder that resolves pairs to value positions (second pass).
    pub fn resolving(pattern: &Pattern) -> SlotBuilder {
        SlotBuilder {
            n: pattern.n,
            pairs: Vec::new(),
            pattern: Some(pattern.clone()),
            handed_out: Vec::new(),
        }
    }
}

/// Sparse LU with buffers reused across factorisations, KLU-style: the first
/// factorisation pivots (faer's simplicial left-looking LU, partial pivoting, COLAMD
/// column order); later ones keep its pivot sequence and its L/U pattern and only redo
/// the arithmetic (no depth-first searches, no pivot search), which is what a Newton
/// loop or a transient needs on one pattern. A pivot that has become small against its
/// column falls back to a pivoting factorisation.
pub struct SparseLu {
    pattern: Pattern,
    symbolic: SymbolicLu<usize>,
    /// faer's pivoting factorisation (its L/U are copied into the fixed-pivot factors).
    pivoting: SimplicialLu<usize, f64>,
    mem: MemBuffer,
    /// Fixed pivots: original row of pivot position k, and the inverse; column order.
    row_perm: Vec<usize>,
    row_perm_inv: Vec<usize>,
    col_perm: Vec<usize>,
    /// L (unit diagonal first in each column) and U (diagonal last; the other entries in
    /// the order the elimination applies them), columns in pivot order, rows as pivot
    /// positions.
    l_ptr: Vec<usize>,
    l_idx: Vec<usize>,
    l_val: Vec<f64>,
    u_ptr: Vec<usize>,
    u_idx: Vec<usize>,
    u_val: Vec<f64>,
    /// Dense work vector indexed by pivot position (all zero between uses).
    work: Vec<f64>,
    has_pivots: bool,
    /// Jacobian values of the last successful numeric factorisation.
    factored: Vec<f64>,
    has_factor: bool,
    pub symbolic_count: u64,
    pub numeric_count: u64,
    /// Factorisations that had to choose pivots (the first, and after a pivot failed).
    pub pivoting_count: u64,
    pub solve_count: u64,
}

/// A kept pivot must be at least this fraction of the largest entry below it in its
/// column (the multipliers stay ≤ 1/threshold); else the factorisation pivots anew.
const REFACTOR_PIVOT_THRESHOLD: f64 = 1e-2;

impl std::fmt::Debug for SparseLu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLu")
            .field("n", &self.pattern.n)
            .field("nnz", &self.pattern.nnz())
            .finish()
    }
}

impl Clone for SparseLu {
    /// The fixed pivots and factors are copied; faer's pivoting factorisation (already
    /// copied into them) and the scratch memory are allocated anew.
    fn clone(&self) -> Self {
        SparseLu {
            pattern: self.pattern.clone(),
            symbolic: self.symbolic.clone(),
            pivoting: SimplicialLu::new(),
            mem: MemBuffer::new(Self::scratch(self.pattern.n)),
            row_perm: self.row_perm.clone(),
            row_perm_inv: self.row_perm_inv.clone(),
            col_perm: self.col_perm.clone(),
            l_ptr: self.l_ptr.clone(),
            l_idx: self.l_idx.clone(),
            l_val: self.l_val.clone(),
            u_ptr: self.u_ptr.clone(),
            u_idx: self.u_idx.clone(),
            u_val: self.u_val.clone(),
            work: self.work.clone(),
            has_pivots: self.has_pivots,
            factored: self.factored.clone(),
            has_factor: self.has_factor,
            symbolic_count: self.symbolic_count,
            numeric_count: self.numeric_count,
            pivoting_count: self.pivoting_count,
            solve_count: self.solve_count,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LuFailure {
    /// Structurally singular; the index is a column of the matrix (an unknown).
    Structural(Option<usize>),
    Other(String),
}

impl SparseLu {
    pub fn new(pattern: Pattern) -> Result<SparseLu, LuFailure> {
        let symbolic = factorize_symbolic_lu(pattern.symbolic(), LuSymbolicParams::default())
            .map_err(|e| LuFailure::Other(format!("{e:?}")))?;
        let n = pattern.n;
        let mem = MemBuffer::try_new(Self::scratch(n))
            .map_err(|_| LuFailure::Other("out of memory".into()))?;
        let col_perm = symbolic.col_perm().arrays().0.to_vec();
        let nnz = pattern.nnz();
        Ok(SparseLu {
            pattern,
            symbolic,
            pivoting: SimplicialLu::new(),
            mem,
            row_perm: vec![0; n],
            row_perm_inv: vec![0; n],
            col_perm,
            l_ptr: vec![0; n + 1],
            l_idx: Vec::new(),
            l_val: Vec::new(),
            u_ptr: vec![0; n + 1],
            u_idx: Vec::new(),
            u_val: Vec::new(),
            work: vec![0.0; n],
            has_pivots: false,
            factored: vec![0.0; nnz],
            has_factor: false,
            symbolic_count: 1,
            numeric_count: 0,
            pivoting_count: 0,
            solve_count: 0,
        })
    }

    /// Scratch memory of a pivoting factorisation.
    fn scratch(n: usize) -> StackReq {
        factorize_simplicial_numeric_lu_scratch::<usize, f64>(n, n)
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Factorises `values` (CSC order, length nnz) unless they equal the values of the
    /// last factorisation. Returns whether a numeric factorisation happened.
    pub fn factor(&mut self, values: &[f64]) -> Result<bool, LuFailure> {
        let nnz = self.pattern.nnz();
        let values = &values[..nnz];
        if self.has_factor && values == &self.factored[..] {
            return Ok(false);
        }
        self.has_factor = false;
        if !(self.has_pivots && self.refactor(values)) {
            self.factor_pivoting(values)?;
        }
        self.factored.copy_from_slice(values);
        self.has_factor = true;
        self.numeric_count += 1;
        Ok(true)
    }

    /// Pivoting factorisation; its pivots and L/U pattern become the fixed ones.
    fn factor_pivoting(&mut self, values: &[f64]) -> Result<(), LuFailure> {
        self.has_pivots = false;
        let a = SparseColMatRef::new(self.pattern.symbolic(), values);
        let stack = MemStack::new(&mut self.mem);
        factorize_simplicial_numeric_lu(
            &mut self.row_perm,
            &mut self.row_perm_inv,
            &mut self.pivoting,
            a,
            self.symbolic.col_perm(),
            stack,
        )
        .map_err(|e| match e {
            faer::sparse::linalg::LuError::SymbolicSingular { index } => {
                LuFailure::Structural(Some(self.col_perm.get(index).copied().unwrap_or(index)))
            }
            other => LuFailure::Other(format!("{other:?}")),
        })?;
        let (l, u) = (
            self.pivoting.l_factor_unsorted(),
            self.pivoting.u_factor_unsorted(),
        );
        for (dst, src) in [
            (&mut self.l_ptr, l.col_ptr()),
            (&mut self.u_ptr, u.col_ptr()),
        ] {
            dst.clear();
            dst.extend_from_slice(src);
        }
        self.l_idx.clear();
        self.l_idx.extend_from_slice(l.row_idx());
        self.l_val.clear();
        self.l_val.extend_from_slice(l.val());
        self.u_idx.clear();
        self.u_idx.extend_from_slice(u.row_idx());
        self.u_val.clear();
        self.u_val.extend_from_slice(u.val());
        self.has_pivots = true;
        self.pivoting_count += 1;
        Ok(())
    }

    /// Left-looking LU with the fixed pivots and pattern; false (factors unusable) when a
    /// pivot is zero, not finite or small against its column.
    fn refactor(&mut self, values: &[f64]) -> bool {
        let n = self.pattern.n;
        let x = &mut self.work;
        for j in 0..n {
            // x = column col_perm[j] of A, rows as pivot positions.
            let c = self.col_perm[j];
            for k in self.pattern.col_ptr[c]..self.pattern.col_ptr[c + 1] {
                x[self.row_perm_inv[self.pattern.row_idx[k]]] = values[k];
            }
            // Apply the earlier columns in elimination order: U(k, j) = x[k], then
            // x −= L(:, k)·U(k, j).
            let (u0, u1) = (self.u_ptr[j], self.u_ptr[j + 1] - 1);
            for p in u0..u1 {
                let k = self.u_idx[p];
                let ukj = x[k];
                self.u_val[p] = ukj;
                x[k] = 0.0;
                if ukj != 0.0 {
                    for q in self.l_ptr[k] + 1..self.l_ptr[k + 1] {
                        x[self.l_idx[q]] -= self.l_val[q] * ukj;
                    }
                }
            }
            let pivot = x[j];
            x[j] = 0.0;
            let (l0, l1) = (self.l_ptr[j] + 1, self.l_ptr[j + 1]);
            let below = self.l_idx[l0..l1]
                .iter()
                .fold(0.0f64, |m, &i| m.max(x[i].abs()));
            let ok = pivot.is_finite()
                && pivot != 0.0
                && pivot.abs() >= REFACTOR_PIVOT_THRESHOLD * below;
            if !ok {
                // Leave the work vector zero for the next use.
                for &i in &self.l_idx[l0..l1] {
                    x[i] = 0.0;
                }
                return false;
            }
            self.u_val[u1] = pivot;
            let inv = 1.0 / pivot;
            for q in l0..l1 {
                let i = self.l_idx[q];
                self.l_val[q] = x[i] * inv;
                x[i] = 0.0;
            }
        }
        true
    }

    /// Forgets the current factorisation (e.g. after a failure).
    pub fn invalidate(&mut self) {
        self.has_factor = false;
    }

    /// Solves A x = rhs in place (rhs has length n).
    pub fn solve(&mut self, rhs: &mut [f64]) {
        debug_assert!(self.has_factor);
        let n = self.pattern.n;
        let z = &mut self.work;
        // z = P·b, then L z = z (unit lower), U z = z (upper, diagonal last per column).
        for (k, zk) in z[..n].iter_mut().enumerate() {
            *zk = rhs[self.row_perm[k]];
        }
        for j in 0..n {
            let zj = z[j];
            if zj != 0.0 {
                for q in self.l_ptr[j] + 1..self.l_ptr[j + 1] {
                    z[self.l_idx[q]] -= self.l_val[q] * zj;
                }
            }
        }
        for j in (0..n).rev() {
            let d = self.u_ptr[j + 1] - 1;
            let zj = z[j] / self.u_val[d];
            z[j] = zj;
            if zj != 0.0 {
                for q in self.u_ptr[j]..d {
                    z[self.u_idx[q]] -= self.u_val[q] * zj;
                }
            }
        }
        // x[col_perm[j]] = z[j]; the work vector is left zero.
        for j in 0..n {
            rhs[self.col_perm[j]] = z[j];
            z[j] = 0.0;
        }
        self.solve_count += 1;
    }
}
