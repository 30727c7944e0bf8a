//! Hardware noise in training: the generated circuit's TRNOISE sources (thermal 4kT/R and
//! op-amp input noise, switched on by the preset's cards) draw a fresh realisation for every
//! transient (`DfcCircuit::simulator_with_noise` with `cosim::hardware_noise_seed`), the same
//! seed gives the same bits, and a noisy training run ends on the same conductances with 1
//! and 2 threads.

use std::path::{Path, PathBuf};

use dfcsim::r#gen::hardware::Hardware;
use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Phi};
use dfcsim::learn::cosim::{self, DfcCircuit};
use dfcsim::learn::device::DeviceParams;
use dfcsim::learn::plasticity::Plasticity;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_noise_{name}_{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A flat 4-3-2 DFC netlist of the ideal preset with thermal noise and op-amp noise on.
fn noisy_netlist(dir: &Path) -> PathBuf {
    let arch = [4, 3, 2];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let net = DfcNetwork::xavier(&arch, dfcgen::layer_phis(&arch, Phi::Tanh), &mut rng).unwrap();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("netlists/models");
    let mut hw = Hardware::load("ideal", &models).unwrap();
    hw.periphery.thermal_noise = true;
    hw.opamp.en_v_per_rthz = 50e-9;
    let mut cfg = GenConfig::new("net");
    cfg.flat = true;
    cfg.seed = 3;
    cfg.hardware = hw;
    let sample = network::student_teacher_sample(&net, 3, cfg.dfc.lambda).unwrap();
    let g = dfcgen::generate(&net, &sample, &cfg).unwrap();
    assert!(g.netlist.contains("TRNOISE"), "no noise sources generated");
    let path = dir.join("net.cir");
    g.write(&path).unwrap();
    path
}

fn load(path: &Path) -> DfcCircuit {
    let mut dc = DfcCircuit::load(path).unwrap();
    dc.set_max_step(5e-7).unwrap();
    dc
}

/// One sample's weight update (flattened) with the hardware noise of `seed`.
fn update(dc: &DfcCircuit, seed: u64) -> Vec<f64> {
    let splits = cosim::student_teacher_data(&dc.sizes, 5, 2, 2);
    let (x, y) = (splits.train.x.row(0), splits.train.y.row(0));
    let mut sim = dc.simulator_with_noise(seed).unwrap();
    let mut plast = Plasticity::new(&dc.sizes, &dc.acts, dc.learn.rule);
    let out = cosim::run_sample(dc, &mut sim, &mut plast, x, y, 1, 0).unwrap();
    out.grad.flatten()
}

#[test]
fn every_transient_draws_its_own_noise_reproducibly() {
    let dir = temp_dir("seeds");
    let dc = load(&noisy_netlist(&dir));
    let s1 = cosim::hardware_noise_seed(4, 1, 0, 0);
    let s2 = cosim::hardware_noise_seed(4, 1, 0, 1);
    assert_ne!(s1, s2);
    let (a, a_again, b) = (update(&dc, s1), update(&dc, s1), update(&dc, s2));
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&a),
        bits(&a_again),
        "same noise seed, different update"
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    let scale = a.iter().map(|p| p.abs()).fold(0.0, f64::max);
    eprintln!("update under two noise realisations: max diff {diff:e} of max |update| {scale:e}");
    assert!(diff > 1e-9 * scale, "two noise seeds gave the same update");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn noisy_training_is_thread_count_independent() {
    let dir = temp_dir("threads");
    let path = noisy_netlist(&dir);
    let run = |threads: usize| {
        let mut dc = load(&path);
        let opts = cosim::TrainOptions {
            epochs: 1,
            seed: 4,
            samples: 4,
            test_samples: 10,
            batch: 2,
            device: DeviceParams::named("ideal").unwrap(),
            conversion_energy_j: 0.0,
            waveform_samples: vec![],
            waveform_dir: None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| cosim::train(&mut dc, &opts, None, |_, _| Ok(())))
            .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        dc.w.iter()
            .map(|cb| (bits(&cb.gp), bits(&cb.gn)))
            .collect::<Vec<_>>()
    };
    assert!(
        run(1) == run(2),
        "1 and 2 threads end on different conductances"
    );
    std::fs::remove_dir_all(&dir).ok();
}
