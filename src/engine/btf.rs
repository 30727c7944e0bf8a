//! Block triangular form (as in KLU): a maximum transversal puts structurally non-zero
//! entries on the diagonal, Tarjan's algorithm splits the matrix into strongly connected
//! blocks in dependency order. 1×1 blocks need only their pivot; larger blocks get their
//! own sparse LU (symbolic once). Off-block entries are used directly in the block
//! forward substitution, so feed-forward structure (layered networks) causes no fill.

use super::matrix::{LuFailure, Pattern, SparseLu};
use super::schur::SchurLu;

/// One diagonal block.
#[derive(Debug, Clone)]
enum Block {
    /// Row `row`, unknown `col`, pivot at value position `pos`.
    Scalar { row: usize, col: usize, pos: usize },
    /// Rows and columns (global) and the block's own LU.
    Multi {
        rows: Vec<usize>,
        cols: Vec<usize>,
        lu: BlockLu,
    },
}

/// LU of a block larger than 1×1.
#[derive(Debug, Clone)]
enum BlockLu {
    /// Small feedback set + acyclic rest (no fill), with the general LU of the same block
    /// for when a matched pivot turns out to be zero or small. Such a pivot is often
    /// temporary (e.g. a gain switched off during part of a transient), so every
    /// factorisation tries the Schur form first and `on_fallback` says which one the solve
    /// must use. The fallback's symbolic analysis is done here, with the block: a clone of
    /// a compiled simulator (one per training transient) must not redo it.
    Schur {
        schur: Box<SchurLu>,
        /// The general LU (a `Sparse` variant).
        fallback: Box<BlockLu>,
        on_fallback: bool,
    },
    /// General sparse LU; `gather[k]` is the global value position of block CSC entry k.
    Sparse {
        lu: Box<SparseLu>,
        gather: Vec<usize>,
        values: Vec<f64>,
    },
}

/// Sparse LU through block triangular form, with reused buffers.
#[derive(Clone)]
pub struct BtfLu {
    pattern: Pattern,
    blocks: Vec<Block>,
    /// Off-block entries per block: (global row, global col, value position), grouped by
    /// block in `off_ptr` ranges.
    /// Stored as u32 to keep the hot solve loop's memory traffic small.
    off: Vec<(u32, u32, u32)>,
    off_ptr: Vec<usize>,
    has_factor: bool,
    /// Right-hand side copy (rows) during a solve.
    scratch: Vec<f64>,
    block_rhs: Vec<f64>,
    pub symbolic_count: u64,
    pub numeric_count: u64,
    pub solve_count: u64,
    /// Sizes of the largest block and number of blocks (diagnostics).
    pub largest_block: usize,
}

impl std::fmt::Debug for BtfLu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtfLu")
            .field("n", &self.pattern.n)
            .field("blocks", &self.blocks.len())
            .field("largest_block", &self.largest_block)
            .finish()
    }
}

impl BtfLu {
    /// `matchable[k]` says whether value position k may serve as a pivot in the matching
    /// (entries requested by devices; not the diagonal slots added for gmin/`.ic`).
    pub fn new(pattern: Pattern, matchable: &[bool]) -> Result<BtfLu, LuFailure> {
        let n = pattern.n;
        if pattern.nnz() >= u32::MAX as usize {
            return Err(LuFailure::Other(format!(
                "{} matrix entries exceed the solver's index range",
                pattern.nnz()
            )));
        }
        // Row-wise view of the pattern: (col, pos) per row.
        let mut row_ptr = vec![0usize; n + 1];
        for &r in &pattern.row_idx {
            row_ptr[r + 1] += 1;
        }
        for i in 0..n {
            row_ptr[i + 1] += row_ptr[i];
        }
        let mut fill = row_ptr.clone();
        let mut row_entries = vec![(0usize, 0usize); pattern.nnz()];
        for c in 0..n {
            for pos in pattern.col_ptr[c]..pattern.col_ptr[c + 1] {
                let r = pattern.row_idx[pos];
                row_entries[fill[r]] = (c, pos);
                fill[r] += 1;
            }
        }
        let col_of_row = maximum_matching(n, &row_ptr, &row_entries, matchable)?;
        let mut row_of_col = vec![usize::MAX; n];
        for (r, &c) in col_of_row.iter().enumerate() {
            row_of_col[c] = r;
        }
        // Graph on rows: row r depends on row_of_col[c] for each entry (r, c).
        let comps = tarjan(n, |r, out: &mut Vec<usize>| {
            for &(c, _) in &row_entries[row_ptr[r]..row_ptr[r + 1]] {
                out.push(row_of_col[c]);
            }
        });
        let mut block_of_row = vec![0usize; n];
        for (b, comp) in comps.iter().enumerate() {
            for &r in comp {
                block_of_row[r] = b;
            }
        }
        let mut blocks = Vec::with_capacity(comps.len());
        let mut off = Vec::new();
        let mut off_ptr = vec![0];
        let mut largest = 0;
        for (b, comp) in comps.iter().enumerate() {
            largest = largest.max(comp.len());
            for &r in comp {
                for &(c, pos) in &row_entries[row_ptr[r]..row_ptr[r + 1]] {
                    if block_of_row[row_of_col[c]] != b {
                        off.push((r as u32, c as u32, pos as u32));
                    }
                }
            }
            off_ptr.push(off.len());
            if comp.len() == 1 {
                let row = comp[0];
                let col = col_of_row[row];
                let pos = pattern
                    .position(row, col)
                    .expect("matched entry is in the pattern");
                blocks.push(Block::Scalar { row, col, pos });
            } else {
                let rows: Vec<usize> = comp.clone();
                let cols: Vec<usize> = rows.iter().map(|&r| col_of_row[r]).collect();
                let k = rows.len();
                let mut local_row = std::collections::HashMap::with_capacity(k);
                for (i, &r) in rows.iter().enumerate() {
                    local_row.insert(r, i);
                }
                // Block CSC: local column j = cols[j]; rows restricted to the block.
                let mut pairs = Vec::new();
                let mut gpos = Vec::new();
                for (j, &c) in cols.iter().enumerate() {
                    for pos in pattern.col_ptr[c]..pattern.col_ptr[c + 1] {
                        if let Some(&i) = local_row.get(&pattern.row_idx[pos]) {
                            pairs.push((i, j));
                            gpos.push(pos);
                        }
                    }
                }
                // In-block entries per row for the feedback-set LU.
                let mut entries: Vec<Vec<(usize, usize)>> = vec![Vec::new(); k];
                for (&(i, j), &p) in pairs.iter().zip(&gpos) {
                    entries[i].push((j, p));
                }
                let pivot: Vec<usize> = (0..k)
                    .map(|i| {
                        pattern
                            .position(rows[i], cols[i])
                            .expect("matched entry is in the pattern")
                    })
                    .collect();
                let lu = match SchurLu::new(&entries, &pivot) {
                    Some(schur) => BlockLu::Schur {
                        schur: Box::new(schur),
                        fallback: Box::new(sparse_block(k, &pairs, &gpos)?),
                        on_fallback: false,
                    },
                    None => sparse_block(k, &pairs, &gpos)?,
                };
                blocks.push(Block::Multi { rows, cols, lu });
            }
        }
        Ok(BtfLu {
            pattern,
            blocks,
            off,
            off_ptr,
            has_factor: false,
            scratch: vec![0.0; n],
            block_rhs: vec![0.0; largest.max(1)],
            symbolic_count: 1,
            numeric_count: 0,
            solve_count: 0,
            largest_block: largest,
        })
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Number of (scalar, feedback-set Schur, general sparse) blocks, as used by the last
    /// factorisation (a Schur block on its pivoting fallback counts as sparse).
    pub fn block_kinds(&self) -> (usize, usize, usize) {
        let mut k = (0, 0, 0);
        for b in &self.blocks {
            match b {
                Block::Scalar { .. } => k.0 += 1,
                Block::Multi {
                    lu:
                        BlockLu::Schur {
                            on_fallback: false, ..
                        },
                    ..
                } => k.1 += 1,
                Block::Multi { .. } => k.2 += 1,
            }
        }
        k
    }

    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Numeric factorisation of `values` (CSC order). Scalar blocks only check their
    /// pivot (a zero pivot is reported as singularity of its unknown); the solve reads
    /// `values` again, so they must not change between `factor` and `solve`.
    pub fn factor(&mut self, values: &[f64]) -> Result<(), LuFailure> {
        self.has_factor = false;
        for b in self.blocks.iter_mut() {
            match b {
                Block::Scalar { col, pos, .. } => {
                    if values[*pos] == 0.0 {
                        return Err(LuFailure::Structural(Some(*col)));
                    }
                }
                Block::Multi { cols, lu, .. } => {
                    if let BlockLu::Schur {
                        schur,
                        fallback,
                        on_fallback,
                    } = lu
                    {
                        if schur.factor(values).is_ok() {
                            *on_fallback = false;
                            continue;
                        }
                        // A zero or small matched pivot: pivoting LU for this factorisation.
                        *on_fallback = true;
                        factor_sparse(fallback, values, cols)?;
                        continue;
                    }
                    factor_sparse(lu, values, cols)?;
                }
            }
        }
        self.has_factor = true;
        self.numeric_count += 1;
        Ok(())
    }

    pub fn invalidate(&mut self) {
        self.has_factor = false;
    }

    /// Solves A x = rhs in place (rhs indexed by row on entry, by unknown on exit);
    /// `values` are those given to the last `factor`.
    pub fn solve(&mut self, values: &[f64], rhs: &mut [f64]) {
        debug_assert!(self.has_factor);
        let n = self.pattern.n;
        self.scratch.copy_from_slice(&rhs[..n]);
        let a = values;
        for (bi, b) in self.blocks.iter_mut().enumerate() {
            let offs = &self.off[self.off_ptr[bi]..self.off_ptr[bi + 1]];
            match b {
                Block::Scalar { row, col, pos } => {
                    let sum = sparse_dot(offs, |&(_, c, p)| a[p as usize] * rhs[c as usize]);
                    rhs[*col] = (self.scratch[*row] - sum) / a[*pos];
                }
                Block::Multi { rows, cols, lu, .. } => {
                    for &(r, c, p) in offs {
                        let (r, c, p) = (r as usize, c as usize, p as usize);
                        self.scratch[r] -= a[p] * rhs[c];
                    }
                    let k = rows.len();
                    let br = &mut self.block_rhs[..k];
                    for (v, &r) in br.iter_mut().zip(rows.iter()) {
                        *v = self.scratch[r];
                    }
                    match lu {
                        BlockLu::Schur {
                            on_fallback: true,
                            fallback,
                            ..
                        } => {
                            if let BlockLu::Sparse { lu, .. } = fallback.as_mut() {
                                lu.solve(br);
                            }
                        }
                        BlockLu::Schur { schur, .. } => schur.solve(a, br),
                        BlockLu::Sparse { lu, .. } => lu.solve(br),
                    }
                    for (&v, &c) in br.iter().zip(cols.iter()) {
                        rhs[c] = v;
                    }
                }
            }
        }
        self.solve_count += 1;
    }
}

/// Σ term(e) over sparse entries, in four interleaved partial sums: one dependent chain
/// of adds would leave the FP units idle on long rows (fully connected layers). The order
/// is fixed, so the bits are too.
#[inline]
pub(super) fn sparse_dot<T>(entries: &[T], term: impl Fn(&T) -> f64) -> f64 {
    let mut s = [0.0f64; 4];
    let mut chunks = entries.chunks_exact(4);
    for ch in &mut chunks {
        for (sl, e) in s.iter_mut().zip(ch) {
            *sl += term(e);
        }
    }
    let tail = chunks.remainder().iter().fold(0.0, |t, e| t + term(e));
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// Numeric factorisation of a `Sparse` block LU from the global `values`; `cols` maps
/// the block's local columns to unknowns (for a structural-singularity report).
fn factor_sparse(block: &mut BlockLu, values: &[f64], cols: &[usize]) -> Result<(), LuFailure> {
    if let BlockLu::Sparse {
        lu,
        gather,
        values: bv,
    } = block
    {
        for (v, &p) in bv.iter_mut().zip(gather.iter()) {
            *v = values[p];
        }
        lu.factor(bv).map_err(|e| match e {
            LuFailure::Structural(Some(j)) => LuFailure::Structural(cols.get(j).copied()),
            other => other,
        })?;
    }
    Ok(())
}

/// General sparse LU of a block given its (local row, local col) entries and their
/// global value positions.
fn sparse_block(k: usize, pairs: &[(usize, usize)], gpos: &[usize]) -> Result<BlockLu, LuFailure> {
    let sub = Pattern::from_pairs(k, pairs, 0);
    let mut gather = vec![usize::MAX; sub.nnz()];
    for (&(i, j), &p) in pairs.iter().zip(gpos) {
        gather[sub.position(i, j).expect("pair is in the block pattern")] = p;
    }
    let values = vec![0.0; sub.nnz()];
    Ok(BlockLu::Sparse {
        lu: Box::new(SparseLu::new(sub)?),
        gather,
        values,
    })
}

/// Row → column maximum transversal by augmenting paths (iterative DFS), preferring
/// a matchable diagonal. Fails with the first unmatched row as structurally singular.
fn maximum_matching(
    n: usize,
    row_ptr: &[usize],
    row_entries: &[(usize, usize)],
    matchable: &[bool],
) -> Result<Vec<usize>, LuFailure> {
    let mut col_of_row = vec![usize::MAX; n];
    let mut row_of_col = vec![usize::MAX; n];
    // Cheap pass: diagonal first, then any free column.
    for r in 0..n {
        let ents = &row_entries[row_ptr[r]..row_ptr[r + 1]];
        let diag = ents
            .iter()
            .find(|&&(c, p)| c == r && matchable[p] && row_of_col[c] == usize::MAX);
        let pick = diag.or_else(|| {
            ents.iter()
                .find(|&&(c, p)| matchable[p] && row_of_col[c] == usize::MAX)
        });
        if let Some(&(c, _)) = pick {
            col_of_row[r] = c;
            row_of_col[c] = r;
        }
    }
    let mut visited = vec![usize::MAX; n]; // column → stamp of the search that saw it
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (row, next entry index)
    let mut path_cols: Vec<usize> = Vec::new();
    for start in 0..n {
        if col_of_row[start] != usize::MAX {
            continue;
        }
        stack.clear();
        path_cols.clear();
        stack.push((start, row_ptr[start]));
        let mut found = false;
        while let Some(&(r, k0)) = stack.last() {
            let end = row_ptr[r + 1];
            let mut k = k0;
            let mut next_row = None;
            while k < end {
                let (c, p) = row_entries[k];
                k += 1;
                if !matchable[p] || visited[c] == start {
                    continue;
                }
                visited[c] = start;
                path_cols.push(c);
                let owner = row_of_col[c];
                if owner == usize::MAX {
                    found = true;
                } else {
                    next_row = Some(owner);
                }
                break;
            }
            if let Some(top) = stack.last_mut() {
                top.1 = k;
            }
            if found {
                break;
            }
            match next_row {
                Some(o) => stack.push((o, row_ptr[o])),
                None => {
                    stack.pop();
                    path_cols.pop();
                }
            }
        }
        if !found {
            return Err(LuFailure::Structural(Some(start)));
        }
        // Augment: stack rows and path columns pair up from the top.
        // path_cols[i] is the column chosen by stack[i]'s row.
        for (i, &(r, _)) in stack.iter().enumerate() {
            let c = path_cols[i];
            col_of_row[r] = c;
            row_of_col[c] = r;
        }
    }
    Ok(col_of_row)
}

/// Tarjan's strongly connected components, iterative; components come out in
/// dependency order (a component after every component it reaches).
pub(super) fn tarjan(n: usize, mut succ: impl FnMut(usize, &mut Vec<usize>)) -> Vec<Vec<usize>> {
    // Adjacency materialised once (CSR).
    let mut adj_ptr = vec![0usize; n + 1];
    let mut adj = Vec::new();
    let mut tmp = Vec::new();
    for v in 0..n {
        tmp.clear();
        succ(v, &mut tmp);
        adj.extend_from_slice(&tmp);
        adj_ptr[v + 1] = adj.len();
    }
    const UNSEEN: usize = usize::MAX;
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next = 0usize;
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        call.push((root, adj_ptr[root]));
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, k)) = call.last() {
            if k < adj_ptr[v + 1] {
                let w = adj[k];
                if let Some(top) = call.last_mut() {
                    top.1 = k + 1;
                }
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, adj_ptr[w]));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("tarjan stack holds the component");
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comps.push(comp);
                }
            }
        }
    }
    comps
}
