//! Training with the shipped presets: the `ideal` preset ends where the ideal model ends, and
//! `dfcsim train`'s energy per sample is the sum of its documented terms, computed from the
//! preset cards and the waveforms.

use std::path::{Path, PathBuf};

use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Hardware, Phi};
use dfcsim::learn::cosim::{self, DfcCircuit};
use dfcsim::learn::device::DeviceParams;
use dfcsim::learn::plasticity::Plasticity;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/models")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_ptrain_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Array-form netlist of `arch` on preset `preset`.
fn netlist(dir: &Path, arch: &[usize], preset: &str, seed: u64) -> PathBuf {
    let phis = dfcgen::layer_phis(arch, Phi::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = DfcNetwork::xavier(arch, phis, &mut rng).unwrap();
    let mut cfg = GenConfig::new("net");
    cfg.seed = seed;
    cfg.hardware = Hardware::load(preset, &models_dir()).unwrap();
    let sample = network::student_teacher_sample(&net, seed, cfg.dfc.lambda).unwrap();
    let path = dir.join("net.cir");
    dfcgen::generate(&net, &sample, &cfg)
        .unwrap()
        .write(&path)
        .unwrap();
    path
}

fn options(samples: usize, test: usize) -> cosim::TrainOptions {
    cosim::TrainOptions {
        epochs: 1,
        seed: 3,
        samples,
        test_samples: test,
        batch: 1,
        device: DeviceParams::named("ideal").unwrap(),
        conversion_energy_j: 0.0,
        waveform_samples: vec![],
        waveform_dir: None,
    }
}

/// The student-teacher task on a small 6-8-8-3 student (teacher with two hidden layers of
/// 32) with the `ideal` preset, 1 epoch of 8 samples: the test loss ends within 2 % of the
/// ideal model's after the same SGD steps on the same samples from the same weights.
#[test]
fn ideal_preset_training_ends_at_the_ideal_models_test_loss() {
    ideal_preset_against_the_ideal_model(&[6, 8, 8, 3], 8);
}

/// The same on the paper's toy network 15-10-10-5 and its task (teacher 15-1000⁴-5).
/// Measured: 8 samples, test loss 36.864 → circuit 30.2717, ideal model 30.2704 (0.005 %);
/// 30 samples, 20.6688 vs 20.6684 (0.002 %). Ignored by default: building the 1000-wide
/// teacher's weight-product feedback takes ~30 s on a loaded 2-core machine
/// (`cargo test --release --test periph_train -- --ignored`).
#[test]
#[ignore]
fn ideal_preset_training_on_the_toy_task_ends_at_the_ideal_models_test_loss() {
    ideal_preset_against_the_ideal_model(&[15, 10, 10, 5], 8);
}

fn ideal_preset_against_the_ideal_model(arch: &[usize], n: usize) {
    let dir = temp_dir("ideal");
    let path = netlist(&dir, arch, "ideal", 42);
    let mut dc = DfcCircuit::load(&path).unwrap();
    dc.set_max_step(0.05 * dc.learn.tau_u).unwrap();
    let start = dc.network();
    let n_test = 200;
    let opts = options(n, n_test);
    let run = cosim::train(&mut dc, &opts, None, |_, _| Ok(())).unwrap();
    let circuit_loss = run.rows[0].test_loss;

    let splits = cosim::student_teacher_data(&dc.sizes, opts.seed, n, n_test);
    let mut ideal = start.clone();
    for s in 0..n {
        let (x, y) = (splits.train.x.row(s), splits.train.y.row(s));
        let g = cosim::ideal_update(&ideal, &dc.learn, x, y, 1);
        let step = dfcsim::learn::plasticity::sgd_step(
            g,
            dc.learn.lr,
            dc.learn.lambda,
            true,
            dc.learn.clip,
        );
        for (l, (sw, sb)) in ideal.layers.iter_mut().zip(step.w.iter().zip(&step.b)) {
            l.w.data.iter_mut().zip(&sw.data).for_each(|(a, d)| *a += d);
            l.b.iter_mut().zip(sb).for_each(|(a, d)| *a += d);
        }
    }
    let test = dfcsim::ideal::data::Dataset {
        x: dfcsim::ideal::linalg::Mat::from_rows(
            &(0..n_test)
                .map(|k| splits.test.x.row(k).to_vec())
                .collect::<Vec<_>>(),
        ),
        y: dfcsim::ideal::linalg::Mat::from_rows(
            &(0..n_test)
                .map(|k| splits.test.y.row(k).to_vec())
                .collect::<Vec<_>>(),
        ),
    };
    let (ideal_loss, _) = dfcsim::ideal::train::evaluate(&ideal, &test, dc.learn.loss);
    let (start_loss, _) = dfcsim::ideal::train::evaluate(&start, &test, dc.learn.loss);
    let rel = (circuit_loss - ideal_loss).abs() / ideal_loss;
    eprintln!(
        "{arch:?}, ideal preset, {n} samples: test loss start {start_loss:.5}, circuit {circuit_loss:.5}, \
         ideal model {ideal_loss:.5} (difference {:.3} %)",
        100.0 * rel
    );
    assert!(
        rel < 0.02,
        "circuit {circuit_loss} vs ideal model {ideal_loss}"
    );
    // the run must have learned something the 2 % can resolve
    assert!(
        (start_loss - ideal_loss).abs() > 0.1 * (circuit_loss - ideal_loss).abs(),
        "the test loss hardly moved: {start_loss} → {ideal_loss}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The `rram` preset's energy per sample: static = p_static × (t_ff + t_ctl), DAC = (n_in +
/// n_out) × e_dac, ADC = conversions × e_adc, crossbars from the waveforms; the total is
/// their sum plus programming. The sensed feed-forward outputs lie on the ADC levels.
#[test]
fn rram_energy_breakdown_and_adc_levels() {
    let dir = temp_dir("energy");
    let arch = [4, 3, 2];
    let path = netlist(&dir, &arch, "rram", 7);
    let mut dc = DfcCircuit::load(&path).unwrap();
    dc.set_max_step(0.05 * dc.learn.tau_u).unwrap();
    let per = dc.learn.periphery.clone();
    let hw = Hardware::load("rram", &models_dir()).unwrap();
    // p_static: (3 per neuron + 4 per output channel) stages × iq × vsupply
    let stages = 3 * (3 + 2) + 4 * 2;
    let p_static = stages as f64 * hw.opamp.iq_amps * hw.opamp.supply_volts;
    assert!((per.static_power_w - p_static).abs() <= 1e-12 * p_static);
    assert!(per.static_power_w > 0.0 && per.adc_energy_j > 0.0 && per.dac_energy_j > 0.0);

    // one sample: ADC levels and the crossbar dissipation
    let mut sim = dc.simulator().unwrap();
    let mut plast = Plasticity::new(&dc.sizes, &dc.acts, dc.learn.rule);
    let splits = cosim::student_teacher_data(&dc.sizes, 3, 2, 5);
    let out = cosim::run_sample(
        &dc,
        &mut sim,
        &mut plast,
        splits.train.x.row(0),
        splits.train.y.row(0),
        1,
        0,
    )
    .unwrap();
    let step = per.adc.step();
    assert!(step > 0.0);
    for &r in &out.r_ff {
        let k = (r + per.adc.range) / step;
        assert!((k - k.round()).abs() < 1e-9, "r_ff {r} is not an ADC level");
    }
    assert!(out.crossbar_energy_j > 0.0);
    assert!(out.adc_conversions > out.r_ff.len() as u64);
    eprintln!(
        "one sample: crossbars {:.3e} J, sources {:.3e} J, {} ADC conversions",
        out.crossbar_energy_j, out.source_energy_j, out.adc_conversions
    );

    let run = cosim::train(&mut dc, &options(2, 5), None, |_, _| Ok(())).unwrap();
    let m = &run.rows[0];
    let t_sample = dc.learn.t_ff_s + dc.learn.t_ctl_s;
    assert!((m.energy_static_j - p_static * t_sample).abs() <= 1e-12 * m.energy_static_j);
    assert!((m.energy_dac_j - (4 + 2) as f64 * per.dac_energy_j).abs() <= 1e-24);
    assert!(m.energy_adc_j > 0.0 && m.energy_crossbar_j > 0.0);
    let sum = m.energy_static_j
        + m.energy_dac_j
        + m.energy_adc_j
        + m.energy_crossbar_j
        + m.energy_programming_j;
    assert!((m.energy_total_j - sum).abs() <= 1e-12 * sum);
    assert_eq!(m.energy_conversion_j, m.energy_dac_j + m.energy_adc_j);
    eprintln!(
        "rram 4-3-2 energy per sample: static {:.3e} J, DAC {:.3e} J, ADC {:.3e} J, crossbars {:.3e} J, \
         programming {:.3e} J, total {:.3e} J",
        m.energy_static_j,
        m.energy_dac_j,
        m.energy_adc_j,
        m.energy_crossbar_j,
        m.energy_programming_j,
        m.energy_total_j
    );
    std::fs::remove_dir_all(&dir).ok();
}
