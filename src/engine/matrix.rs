//! Sparse MNA matrix: pattern assembly from device slot requests, symbolic LU once,
//! numeric LU reused (no allocation per Newton iteration), refactorisation skipped when
//! the Jacobian values did not change since the last factorisation.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::{
    LuRef, LuSymbolicParams, NumericLu, SymbolicLu, factorize_symbolic_lu,
};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};

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

/// Sparse LU with buffers reused across factorisations.
pub struct SparseLu {
    pattern: Pattern,
    symbolic: SymbolicLu<usize>,
    numeric: NumericLu<usize, f64>,
    mem: MemBuffer,
    /// Jacobian values of the last successful numeric factorisation.
    factored: Vec<f64>,
    has_factor: bool,
    pub symbolic_count: u64,
    pub numeric_count: u64,
    pub solve_count: u64,
}

impl std::fmt::Debug for SparseLu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseLu")
            .field("n", &self.pattern.n)
            .field("nnz", &self.pattern.nnz())
            .finish()
    }
}

impl Clone for SparseLu {
    /// The symbolic factorisation and the numeric one are copied; the scratch memory is
    /// allocated anew (same size).
    fn clone(&self) -> Self {
        SparseLu {
            pattern: self.pattern.clone(),
            symbolic: self.symbolic.clone(),
            numeric: self.numeric.clone(),
            mem: MemBuffer::new(Self::scratch(&self.symbolic)),
            factored: self.factored.clone(),
            has_factor: self.has_factor,
            symbolic_count: self.symbolic_count,
            numeric_count: self.numeric_count,
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
        let mem = MemBuffer::try_new(Self::scratch(&symbolic))
            .map_err(|_| LuFailure::Other("out of memory".into()))?;
        let nnz = pattern.nnz();
        Ok(SparseLu {
            pattern,
            symbolic,
            numeric: NumericLu::new(),
            mem,
            factored: vec![0.0; nnz],
            has_factor: false,
            symbolic_count: 1,
            numeric_count: 0,
            solve_count: 0,
        })
    }

    /// Scratch memory of a numeric factorisation or a one-column solve.
    fn scratch(symbolic: &SymbolicLu<usize>) -> StackReq {
        let par = Par::Seq;
        StackReq::any_of(&[
            symbolic.factorize_numeric_lu_scratch::<f64>(par, Default::default()),
            symbolic.solve_in_place_scratch::<f64>(1, par),
        ])
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
        let a = SparseColMatRef::new(self.pattern.symbolic(), values);
        let stack = MemStack::new(&mut self.mem);
        self.symbolic
            .factorize_numeric_lu(&mut self.numeric, a, Par::Seq, stack, Default::default())
            .map_err(|e| match e {
                faer::sparse::linalg::LuError::SymbolicSingular { index } => {
                    LuFailure::Structural(Some(index))
                }
                other => LuFailure::Other(format!("{other:?}")),
            })?;
        self.factored.copy_from_slice(values);
        self.has_factor = true;
        self.numeric_count += 1;
        Ok(true)
    }

    /// Forgets the current factorisation (e.g. after a failure).
    pub fn invalidate(&mut self) {
        self.has_factor = false;
    }

    /// Solves A x = rhs in place (rhs has length n).
    pub fn solve(&mut self, rhs: &mut [f64]) {
        debug_assert!(self.has_factor);
        let n = self.pattern.n;
        let lu = LuRef::new_unchecked(&self.symbolic, &self.numeric);
        let stack = MemStack::new(&mut self.mem);
        let mat = MatMut::from_column_major_slice_mut(&mut rhs[..n], n, 1);
        lu.solve_in_place_with_conj(Conj::No, mat, Par::Seq, stack);
        self.solve_count += 1;
    }
}
