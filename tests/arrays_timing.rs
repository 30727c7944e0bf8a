//! Where the time of one DFC-circuit transient goes (perf is not available here): the
//! whole run, then device assembly and sparse LU timed separately on the same pattern.
//! Ignored by default (a measurement, not a check):
//! `cargo test --release --test arrays_timing -- --ignored --nocapture`

use std::path::Path;
use std::time::Instant;

use dfcsim::devices::{
    ArrayRegistry, Charges, Coeffs, Device, Layout, LoadCtx, SlotBuilder, build_devices,
};
use dfcsim::elaborate;
use dfcsim::engine::matrix::{Pattern, SparseLu};
use dfcsim::engine::{self, integrator};
use faer::Par;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::sparse::linalg::SupernodalThreshold;
use faer::sparse::linalg::lu::{LuSymbolicParams, NumericLu, factorize_symbolic_lu};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};

fn breakdown(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("netlists/dfc")
        .join(file);
    let circuit = elaborate::load(&path).unwrap();
    let t0 = Instant::now();
    let out = engine::simulate(&circuit);
    let total = t0.elapsed().as_secs_f64();
    assert!(out.error.is_none());
    let st = &out.results[0].stats;
    let iters = st.newton_iterations as usize;

    let registry = ArrayRegistry::new();
    let layout = Layout::with_internal(&circuit, |e| registry.internal_unknowns(e)).unwrap();
    let n = layout.n;
    let mut devices = build_devices(&circuit, &layout, &registry).unwrap();
    let mut rec = SlotBuilder::recording(n);
    devices.iter_mut().for_each(|d| d.setup(&mut rec));
    let pattern = Pattern::from_pairs(n, rec.pairs(), layout.n_nodes);
    let mut res = SlotBuilder::resolving(&pattern);
    devices.iter_mut().for_each(|d| d.setup(&mut res));
    let mut ns = 0;
    for d in devices.iter_mut() {
        d.set_state_base(ns);
        ns += d.state_count();
    }
    let nnz = pattern.nnz();
    let (mut f, mut jac) = (vec![0.0; n + 1], vec![0.0; nnz + 1]);
    let x: Vec<f64> = (0..=n)
        .map(|k| if k < n { 1e-3 * (k % 7) as f64 } else { 0.0 })
        .collect();
    let (mut q, mut i) = (vec![0.0; ns], vec![0.0; ns]);
    let (q1, q2, i1) = (vec![0.0; ns], vec![0.0; ns], vec![0.0; ns]);
    let ctx = LoadCtx {
        time: 1e-5,
        source_factor: 1.0,
        dc: false,
    };
    let coeffs: Coeffs = integrator::trapezoidal(2e-8);
    let t1 = Instant::now();
    for _ in 0..iters {
        f.fill(0.0);
        jac.fill(0.0);
        let mut ch = Charges {
            coeffs,
            q: &mut q,
            i: &mut i,
            q1: &q1,
            q2: &q2,
            i1: &i1,
        };
        for d in devices.iter_mut() {
            d.load(&x, &ctx, &mut ch, &mut f, &mut jac);
        }
    }
    let assemble = t1.elapsed().as_secs_f64();

    let mut lu = SparseLu::new(pattern.clone()).unwrap();
    let mut alt = jac.clone();
    for (k, v) in alt.iter_mut().enumerate() {
        if *v != 0.0 && k % 3 == 0 {
            *v *= 1.0 + 1e-9;
        }
    }
    let mut rhs = vec![0.0; n];
    let t2 = Instant::now();
    for k in 0..iters {
        lu.factor(if k % 2 == 0 { &jac } else { &alt }).unwrap();
    }
    let factor = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    for _ in 0..iters {
        rhs.copy_from_slice(&f[..n]);
        lu.solve(&mut rhs);
    }
    let solve = t3.elapsed().as_secs_f64();
    let variants = [
        ("auto", SupernodalThreshold::AUTO),
        ("simplicial", SupernodalThreshold::FORCE_SIMPLICIAL),
        ("supernodal", SupernodalThreshold::FORCE_SUPERNODAL),
    ];
    for (name, threshold) in variants {
        let per = faer_numeric_lu(&pattern, &jac, &alt, threshold, 200);
        eprintln!("  faer numeric LU ({name}): {:.1} µs", 1e6 * per);
    }
    eprintln!(
        "{file}: {n} unknowns, {nnz} non-zeros; run {total:.3} s ({} steps, {iters} Newton \
         iterations, {} numeric LU); per iteration: assembly {:.1} µs, numeric LU {:.1} µs, \
         solve {:.1} µs → {:.3} s of {total:.3} s ({:.0} % LU)",
        st.accepted_steps,
        st.numeric_factorisations,
        1e6 * assemble / iters as f64,
        1e6 * factor / iters as f64,
        1e6 * solve / iters as f64,
        assemble + factor + solve,
        100.0 * factor / total,
    );
}

/// Seconds per numeric LU of faer with the given supernodal threshold (values alternate,
/// as Newton iterations do).
fn faer_numeric_lu(
    p: &Pattern,
    a: &[f64],
    b: &[f64],
    threshold: SupernodalThreshold,
    reps: usize,
) -> f64 {
    let sym = SymbolicSparseColMatRef::new_checked(p.n, p.n, &p.col_ptr, None, &p.row_idx);
    let params = LuSymbolicParams {
        supernodal_flop_ratio_threshold: threshold,
        ..Default::default()
    };
    let symbolic = factorize_symbolic_lu(sym, params).unwrap();
    let req = symbolic.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default());
    let mut mem = MemBuffer::new(req);
    let mut numeric = NumericLu::new();
    let nnz = p.nnz();
    let t = Instant::now();
    for k in 0..reps {
        let vals = if k % 2 == 0 { &a[..nnz] } else { &b[..nnz] };
        let m = SparseColMatRef::new(sym, vals);
        symbolic
            .factorize_numeric_lu(
                &mut numeric,
                m,
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .unwrap();
    }
    t.elapsed().as_secs_f64() / reps as f64
}

#[test]
#[ignore]
fn time_breakdown_toy() {
    breakdown("toy_ideal.cir");
    breakdown("toy_ideal_flat.cir");
}
