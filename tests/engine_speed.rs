//! Speed smoke test on the benchmark network structure (the full comparison with ngspice
//! lives in `bench/`). Prints timings; asserts only generous bounds and counter sanity.

use dfcsim::engine::builder::tanh_network_with_feedback;
use dfcsim::engine::simulate;

fn run(sizes: &[usize], feedback: bool) -> (f64, dfcsim::engine::Stats) {
    let c = tanh_network_with_feedback(sizes, 1, 1e-6, 1e-3, feedback);
    let sim = dfcsim::engine::Simulator::new(&c).unwrap();
    eprintln!(
        "{sizes:?}: {} unknowns, {} non-zeros, blocks {:?}",
        sim.unknowns(),
        sim.nonzeros(),
        sim.block_structure()
    );
    let t0 = std::time::Instant::now();
    let out = simulate(&c);
    let wall = t0.elapsed().as_secs_f64();
    assert!(out.error.is_none(), "{:?}", out.error);
    let st = out.results[0].stats.clone();
    eprintln!("{sizes:?}: {wall:.4} s total, {st:?}");
    (wall, st)
}

#[test]
fn small_network_is_fast() {
    let (wall, st) = run(&[15, 10, 10, 5], false);
    assert!(
        st.accepted_steps >= 1000,
        "max step is tstep = 1 µs over 1 ms"
    );
    assert!(st.newton_iterations < 5 * st.accepted_steps);
    assert!(wall < 1.0);
}

/// The 100-100-100-10 network: `cargo test --release --test engine_speed -- --ignored`.
#[test]
#[ignore]
fn large_network() {
    run(&[100, 100, 100, 10], false);
}

#[test]
fn small_feedback_network_is_one_block() {
    let c = tanh_network_with_feedback(&[15, 10, 10, 5], 1, 1e-6, 1e-3, true);
    let sim = dfcsim::engine::Simulator::new(&c).unwrap();
    let (_, largest) = sim.block_structure();
    assert!(
        largest >= 50,
        "feedback couples all hidden and output neurons: {largest}"
    );
    let (wall, st) = run(&[15, 10, 10, 5], true);
    assert!(st.newton_iterations < 5 * st.accepted_steps);
    assert!(wall < 2.0);
}

/// The 100-100-100-10 network with DFC-style feedback (one big block).
#[test]
#[ignore]
fn large_feedback_network() {
    run(&[100, 100, 100, 10], true);
}
