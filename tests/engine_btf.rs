//! Block triangular LU (scalar blocks, feedback-set Schur blocks, sparse fallback)
//! against dense Gaussian elimination on random structured matrices.

use dfcsim::engine::btf::BtfLu;
use dfcsim::engine::matrix::Pattern;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, p);
        b.swap(c, p);
        let pivot_row = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / pivot_row[c];
            for (ark, ack) in a[r].iter_mut().zip(&pivot_row).skip(c) {
                *ark -= f * ack;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

/// Entries of a layered network-like matrix: a permuted lower-triangular part (with some
/// zero diagonals that the matching must route around), `feedback` rows coupling back.
fn structured(n: usize, feedback: usize, seed: u64) -> (Vec<(usize, usize)>, Vec<f64>) {
    let mut rng = Rng(seed);
    let mut pairs = Vec::new();
    let mut vals = Vec::new();
    // Pairs (2i, 2i+1) swap their diagonal to the off-diagonal like V-source branches.
    for r in 0..n {
        let col_piv = if r % 7 == 3 && r + 1 < n {
            r + 1
        } else if r % 7 == 4 {
            r - 1
        } else {
            r
        };
        pairs.push((r, col_piv));
        vals.push(2.0 + rng.next());
        for c in 0..r {
            if rng.next() < 0.15 {
                pairs.push((r, c));
                vals.push(rng.next() - 0.5);
            }
        }
    }
    for _ in 0..feedback {
        let r = (rng.next() * n as f64) as usize % n;
        let c = (rng.next() * n as f64) as usize % n;
        pairs.push((r.min(c), r.max(c)));
        vals.push(rng.next() - 0.5);
    }
    (pairs, vals)
}

/// Returns (scalar, Schur, sparse) block counts after checking the solution.
fn check(n: usize, feedback: usize, seed: u64) -> (usize, usize, usize) {
    let (pairs, vals) = structured(n, feedback, seed);
    let pattern = Pattern::from_pairs(n, &pairs, 0);
    let mut values = vec![0.0; pattern.nnz() + 1];
    let mut dense = vec![vec![0.0; n]; n];
    for (&(r, c), &v) in pairs.iter().zip(&vals) {
        values[pattern.position(r, c).unwrap()] += v;
        dense[r][c] += v;
    }
    let matchable = vec![true; pattern.nnz()];
    let mut lu = BtfLu::new(pattern, &matchable).unwrap();
    lu.factor(&values).unwrap();
    let mut rng = Rng(seed ^ 0xABCDEF);
    let b: Vec<f64> = (0..n).map(|_| rng.next() - 0.5).collect();
    let mut x = b.clone();
    lu.solve(&values, &mut x);
    let reference = dense_solve(dense, b);
    let err = x
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    assert!(
        err <= 1e-9 * scale,
        "n {n} feedback {feedback} seed {seed}: error {err} (blocks {:?})",
        lu.block_kinds()
    );
    lu.block_kinds()
}

#[test]
fn triangular_structure_gives_scalar_blocks() {
    let (pairs, _) = structured(50, 0, 1);
    let pattern = Pattern::from_pairs(50, &pairs, 0);
    let lu = BtfLu::new(pattern, &vec![true; pairs.len()]).unwrap();
    assert!(lu.largest_block <= 2);
    for seed in 1..5 {
        check(50, 0, seed);
    }
}

#[test]
fn feedback_blocks_match_dense_solution() {
    for seed in 1..6 {
        let small = check(60, 3, seed);
        assert!(
            small.1 >= 1,
            "small feedback set uses the Schur block: {small:?}"
        );
        let large = check(80, 600, seed);
        assert!(
            large.2 >= 1,
            "large feedback set uses the sparse LU: {large:?}"
        );
    }
}

#[test]
fn zero_matched_pivot_falls_back_to_pivoting() {
    // 3×3 cycle whose matched diagonal holds a zero value.
    let pairs = vec![(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 0)];
    let vals = [0.0, 1.0, 2.0, 1.0, 3.0, 1.0];
    let pattern = Pattern::from_pairs(3, &pairs, 0);
    let mut values = vec![0.0; pattern.nnz() + 1];
    let mut dense = vec![vec![0.0; 3]; 3];
    for (&(r, c), &v) in pairs.iter().zip(&vals) {
        values[pattern.position(r, c).unwrap()] = v;
        dense[r][c] = v;
    }
    let mut lu = BtfLu::new(pattern, &[true; 6]).unwrap();
    assert_eq!(lu.block_kinds(), (0, 1, 0));
    lu.factor(&values).unwrap();
    assert_eq!(lu.block_kinds(), (0, 0, 1));
    let mut x = vec![1.0, 2.0, 3.0];
    lu.solve(&values, &mut x);
    let reference = dense_solve(dense, vec![1.0, 2.0, 3.0]);
    for (a, b) in x.iter().zip(&reference) {
        assert!((a - b).abs() < 1e-12, "{x:?} vs {reference:?}");
    }
}

#[test]
fn schur_block_returns_after_a_temporary_small_pivot() {
    // The same 3×3 cycle with its matched diagonal entry (0, 0) set to 0, to a tiny value
    // (a gain ramping up from 0: unsafe without pivoting) and to a normal value.
    let pairs = vec![(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 0)];
    let pattern = Pattern::from_pairs(3, &pairs, 0);
    let mut lu = BtfLu::new(pattern.clone(), &[true; 6]).unwrap();
    for (a00, kinds) in [
        (0.0, (0, 0, 1)),
        (1e-12, (0, 0, 1)),
        (2.0, (0, 1, 0)),
        (0.0, (0, 0, 1)),
        (0.5, (0, 1, 0)),
    ] {
        let vals = [a00, 1.0, 2.0, 1.0, 3.0, 1.0];
        let mut values = vec![0.0; pattern.nnz() + 1];
        let mut dense = vec![vec![0.0; 3]; 3];
        for (&(r, c), &v) in pairs.iter().zip(&vals) {
            values[pattern.position(r, c).unwrap()] = v;
            dense[r][c] = v;
        }
        lu.factor(&values).unwrap();
        assert_eq!(lu.block_kinds(), kinds, "a00 = {a00}");
        let mut x = vec![1.0, 2.0, 3.0];
        lu.solve(&values, &mut x);
        let reference = dense_solve(dense, vec![1.0, 2.0, 3.0]);
        for (a, b) in x.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "a00 = {a00}: {x:?} vs {reference:?}");
        }
    }
}

/// The general sparse LU keeps the pivots of its first factorisation and only redoes the
/// arithmetic for new values of the same pattern; a pivot that becomes small against its
/// column makes it pivot anew. Every solve matches dense Gaussian elimination.
#[test]
fn sparse_lu_refactors_with_fixed_pivots_and_repivots_when_needed() {
    use dfcsim::engine::matrix::SparseLu;
    let n = 40;
    let mut rng = Rng(99);
    // A random unsymmetric pattern with a full diagonal and ~15 % fill.
    let mut pairs = Vec::new();
    for r in 0..n {
        for c in 0..n {
            if r == c || rng.next() < 0.15 {
                pairs.push((r, c));
            }
        }
    }
    let pattern = Pattern::from_pairs(n, &pairs, 0);
    let mut lu = SparseLu::new(pattern.clone()).unwrap();
    let solve_and_check = |lu: &mut SparseLu, vals: &[f64], rng: &mut Rng| -> f64 {
        lu.factor(vals).unwrap();
        let mut dense = vec![vec![0.0; n]; n];
        for (c, w) in pattern.col_ptr.windows(2).enumerate() {
            for (&r, &v) in pattern.row_idx[w[0]..w[1]].iter().zip(&vals[w[0]..w[1]]) {
                dense[r][c] = v;
            }
        }
        let b: Vec<f64> = (0..n).map(|_| rng.next() - 0.5).collect();
        let want = dense_solve(dense, b.clone());
        let mut x = b;
        lu.solve(&mut x);
        want.iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            .fold(0.0, f64::max)
    };
    let random_values = |rng: &mut Rng, diag: f64| -> Vec<f64> {
        let mut v = vec![0.0; pattern.nnz()];
        for (c, w) in pattern.col_ptr.windows(2).enumerate() {
            for (vk, &r) in v[w[0]..w[1]].iter_mut().zip(&pattern.row_idx[w[0]..w[1]]) {
                *vk = if r == c {
                    diag * (1.0 + rng.next())
                } else {
                    rng.next() - 0.5
                };
            }
        }
        v
    };
    // Diagonally dominant: the first factorisation pivots, the next nine reuse its pivots.
    for round in 0..10 {
        let vals = random_values(&mut rng, 4.0);
        let err = solve_and_check(&mut lu, &vals, &mut rng);
        assert!(err < 1e-12, "round {round}: error {err:e}");
    }
    assert_eq!((lu.numeric_count, lu.pivoting_count), (10, 1));
    // A vanishing diagonal: the old pivots would divide by ~0, so it pivots again.
    let mut vals = random_values(&mut rng, 4.0);
    for c in 0..n {
        let k = pattern.position(c, c).unwrap();
        vals[k] = if c % 3 == 0 { 0.0 } else { vals[k] };
    }
    let err = solve_and_check(&mut lu, &vals, &mut rng);
    assert!(err < 1e-9, "after repivoting: error {err:e}");
    assert_eq!(lu.pivoting_count, 2);
    // A clone carries the pivots and factors.
    let mut copy = lu.clone();
    let vals = random_values(&mut rng, 4.0);
    let err = solve_and_check(&mut copy, &vals, &mut rng);
    assert!(err < 1e-12, "clone: error {err:e}");
}

/// A ring of N tanh inverters (`B V=-tanh(2·v)`, RC between stages) is one block with a
/// feedback set of one pair; cut open, it is a chain whose matched pivots (1/R against
/// C/h + 1/R) amplify ~20× per stage, so A11⁻¹ reaches 1e27 at 21 stages and the Schur
/// complement loses every digit. Such factorisations must go to the pivoting LU: the
/// transient then takes ngspice's 227 steps without a Newton failure (it took 13 457
/// steps and 8 906 failures at 21 stages).
#[test]
fn long_inverter_ring_is_not_solved_through_an_ill_conditioned_schur_block() {
    use dfcsim::elaborate;
    use dfcsim::engine::{Simulator, TranSpec};
    use std::fmt::Write;
    for stages in [11usize, 21, 41] {
        let mut net =
            format!("ring of {stages}\nVk k 0 PULSE(0 1 1u 0.1u 0.1u 1u 1)\nRk k n0 10k\n");
        for i in 0..stages {
            let prev = (i + stages - 1) % stages;
            let c = 1.0 + 0.1 * (i % 3) as f64;
            writeln!(
                net,
                "B{i} o{i} 0 V=-tanh(2*v(n{prev}))\nR{i} o{i} n{i} 1k\nC{i} n{i} 0 {c}n"
            )
            .unwrap();
        }
        net.push_str(".tran 0.1u 20u\n.end\n");
        let c = elaborate::load_str(&net, std::path::Path::new("ring.cir")).unwrap();
        let (res, err) = Simulator::new(&c)
            .unwrap()
            .run_tran(&TranSpec::of_circuit(&c).unwrap());
        assert!(err.is_none(), "{stages} stages: {err:?}");
        let s = &res.stats;
        eprintln!("{stages} stages: {s:?}");
        assert_eq!(s.newton_failures, 0, "{stages} stages: {s:?}");
        assert!(s.accepted_steps < 300, "{stages} stages: {s:?}");
    }
}
