//! The array devices (`dac`, `crossbar`, `neuron_layer`, `pi_controller`) simulate the DFC
//! circuit exactly as its flat expansion does: same waveforms on every node the two forms
//! share, to ~1e-6 of V_s; the learning API (conductances, DAC values) acts like changing
//! the flat form's resistors and sources; bad side files and ports give clear errors.

use std::path::{Path, PathBuf};

use dfcsim::circuit::{Circuit, Waveform};
use dfcsim::devices::array::{crossbar_mut, dac_mut};
use dfcsim::elaborate;
use dfcsim::engine::{self, Simulator, TranSpec};
use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Opamp, Phi};
use dfcsim::waveform::Waveforms;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const VS: f64 = 0.2;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_arrays_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the array and flat forms of a small DFC circuit; returns their paths.
fn generate(dir: &Path, arch: &[usize]) -> (PathBuf, PathBuf) {
    generate_with(dir, arch, Opamp::ideal())
}

fn generate_with(dir: &Path, arch: &[usize], opamp: Opamp) -> (PathBuf, PathBuf) {
    let phis = dfcgen::layer_phis(arch, Phi::Linear);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let net = DfcNetwork::xavier(arch, phis, &mut rng).unwrap();
    let sample = network::student_teacher_sample(&net, 7, 0.05).unwrap();
    let mut out = Vec::new();
    for flat in [false, true] {
        let stem = if flat { "net_flat" } else { "net" };
        let mut cfg = GenConfig::new(stem);
        cfg.flat = flat;
        cfg.hardware.opamp = opamp.clone();
        let g = dfcgen::generate(&net, &sample, &cfg).unwrap();
        let path = dir.join(format!("{stem}.cir"));
        g.write(&path).unwrap();
        out.push(path);
    }
    (out[0].clone(), out[1].clone())
}

fn tran_of(c: &Circuit) -> TranSpec {
    TranSpec::of_circuit(c).expect("no .tran")
}

/// Largest |difference| over every `v(…)` signal both waveforms have, at rows with equal
/// times (both tables must share the time grid); also returns how many signals compared.
fn max_diff_same_grid(a: &Waveforms, b: &Waveforms) -> (f64, String, usize) {
    assert_eq!(a.rows(), b.rows(), "time grids differ");
    let mut worst = (0.0, String::new(), 0);
    for (j, s) in a.signals.iter().enumerate() {
        if !s.name.starts_with("v(") {
            continue;
        }
        let Some(k) = b.index_of(&s.name) else {
            continue;
        };
        worst.2 += 1;
        for r in 0..a.rows() {
            assert_eq!(a.row(r)[0], b.row(r)[0]);
            let d = (a.row(r)[j] - b.row(r)[k]).abs();
            if d > worst.0 {
                worst.0 = d;
                worst.1 = format!("{} at t = {:e}", s.name, a.row(r)[0]);
            }
        }
    }
    worst
}

/// Differences at the time points both (adaptive) runs share: the breakpoints and tstop.
fn max_diff_common_times(a: &Waveforms, b: &Waveforms) -> (f64, usize) {
    let mut worst = 0.0f64;
    let mut points = 0;
    let mut rb = 0;
    for ra in 0..a.rows() {
        let t = a.row(ra)[0];
        while rb < b.rows() && b.row(rb)[0] < t {
            rb += 1;
        }
        if rb == b.rows() || b.row(rb)[0] != t {
            continue;
        }
        points += 1;
        for (j, s) in a.signals.iter().enumerate() {
            if let Some(k) = b.index_of(&s.name).filter(|_| s.name.starts_with("v(")) {
                worst = worst.max((a.row(ra)[j] - b.row(rb)[k]).abs());
            }
        }
    }
    (worst, points)
}

#[test]
fn small_arch_array_form_equals_flat_form() {
    let dir = temp_dir("small");
    let (array, flat) = generate(&dir, &[4, 3, 2]);
    let ca = elaborate::load(&array).unwrap();
    let cf = elaborate::load(&flat).unwrap();
    let spec = TranSpec {
        fixed_step: Some(2e-8),
        ..tran_of(&ca)
    };
    let mut sa = Simulator::new(&ca).unwrap();
    let mut sf = Simulator::new(&cf).unwrap();
    let (ra, ea) = sa.run_tran(&spec);
    let (rf, ef) = sf.run_tran(&spec);
    assert!(ea.is_none() && ef.is_none(), "{ea:?} {ef:?}");
    let (d, at, n) = max_diff_same_grid(&ra.waveforms, &rf.waveforms);
    // every node of the flat form except the expanded internals: 4-3-2 has 51 shared
    assert!(n > 40, "only {n} shared signals");
    eprintln!("4-3-2 fixed step: {d:e} V at {at} over {n} signals");
    assert!(d < 1e-6 * VS, "fixed step: {d:e} V at {at}");

    // The `dfcsim run` path: adaptive steps, compared where both runs have a point.
    let oa = engine::simulate(&ca);
    let of = engine::simulate(&cf);
    assert!(oa.error.is_none() && of.error.is_none());
    let (d, points) = max_diff_common_times(&oa.results[0].waveforms, &of.results[0].waveforms);
    assert!(points >= 3, "{points} common points");
    eprintln!("4-3-2 adaptive: {d:e} V at {points} common points");
    assert!(d < 1e-6 * VS, "adaptive: {d:e} V");
    std::fs::remove_dir_all(&dir).ok();
}

/// Finite gain, single pole, input offset and output rails: the op-amp model of both forms.
/// (Failed with TimestepTooSmall at 5.1e-8 s while Newton solved for the new iterate
/// instead of the correction; see tests/engine_newton.rs.)
#[test]
fn nonideal_opamps_match_flat_form() {
    let dir = temp_dir("opamp");
    let opamp = Opamp {
        a0: 2e4,
        gbw_hz: Some(5e6),
        vos_volts: 2e-3,
        rails_volts: Some((-0.25, 0.25)),
        ..Opamp::ideal()
    };
    let (array, flat) = generate_with(&dir, &[4, 3, 2], opamp);
    let ca = elaborate::load(&array).unwrap();
    let cf = elaborate::load(&flat).unwrap();
    let spec = TranSpec {
        fixed_step: Some(2e-8),
        ..tran_of(&ca)
    };
    let (ra, ea) = Simulator::new(&ca).unwrap().run_tran(&spec);
    let (rf, ef) = Simulator::new(&cf).unwrap().run_tran(&spec);
    assert!(ea.is_none() && ef.is_none(), "{ea:?} {ef:?}");
    let (d, at, _) = max_diff_same_grid(&ra.waveforms, &rf.waveforms);
    eprintln!("non-ideal op-amps: {d:e} V at {at}");
    assert!(d < 1e-6 * VS, "{d:e} V at {at}");
    // the rails are reached somewhere (else this test would not test them)
    let w = &ra.waveforms;
    let railed = (1..w.width()).any(|j| {
        w.signals[j].name.starts_with("v(")
            && (0..w.rows()).any(|r| (w.row(r)[j].abs() - 0.25).abs() < 1e-12)
    });
    assert!(railed, "no op-amp reached its rails");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn toy_netlist_array_form_equals_flat_form() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/dfc");
    let ca = elaborate::load(&root.join("toy_ideal.cir")).unwrap();
    let cf = elaborate::load(&root.join("toy_ideal_flat.cir")).unwrap();
    let oa = engine::simulate(&ca);
    let of = engine::simulate(&cf);
    assert!(oa.error.is_none(), "{:?}", oa.error);
    assert!(of.error.is_none(), "{:?}", of.error);
    let (wa, wf) = (&oa.results[0].waveforms, &of.results[0].waveforms);
    let (d, points) = max_diff_common_times(wa, wf);
    assert!(points >= 3, "{points} common points");
    assert!(d < 1e-6 * VS, "at common points: {d:e} V");
    // Everywhere else, against the flat waveform interpolated linearly (which adds the
    // interpolation error of a 20 ns grid near the enable corner).
    let t_f = wf.column(0);
    let mut worst = 0.0f64;
    for (j, s) in wa.signals.iter().enumerate() {
        let Some(k) = wf.index_of(&s.name).filter(|_| s.name.starts_with("v(")) else {
            continue;
        };
        let y_f = wf.column(k);
        for r in 0..wa.rows() {
            let t = wa.row(r)[0];
            let i = t_f.partition_point(|&x| x < t).clamp(1, t_f.len() - 1);
            let w = (t - t_f[i - 1]) / (t_f[i] - t_f[i - 1]);
            let y = y_f[i - 1] + w * (y_f[i] - y_f[i - 1]);
            worst = worst.max((wa.row(r)[j] - y).abs());
        }
    }
    eprintln!("toy: {d:e} V at {points} common points, {worst:e} V interpolated");
    assert!(worst < 1e-5 * VS, "interpolated: {worst:e} V");
}

#[test]
fn learning_api_matches_flat_element_updates() {
    let dir = temp_dir("api");
    let (array, flat) = generate(&dir, &[4, 3, 2]);
    let ca = elaborate::load(&array).unwrap();
    let cf = elaborate::load(&flat).unwrap();
    let spec = TranSpec {
        fixed_step: Some(4e-8),
        ..tran_of(&ca)
    };
    let mut sa = Simulator::new(&ca).unwrap();
    let mut sf = Simulator::new(&cf).unwrap();
    let idx = |c: &Circuit, name: &str| c.elements.iter().position(|e| e.name == name).unwrap();

    // W1: G+ of row 1 → column 2 and G− of row 0 → column 0 change; x_3 and r*_1 change.
    let xb = crossbar_mut(sa.device_mut(idx(&ca, "aw1")).unwrap()).unwrap();
    assert_eq!((xb.rows(), xb.cols(), xb.matrix()), (5, 3, "w1"));
    let mut gp = xb.g_plus().to_vec();
    let mut gn = xb.g_minus().to_vec();
    gp[3 + 2] = 37e-6;
    gn[0] = 12e-6;
    xb.set_conductances(&gp, &gn).unwrap();
    assert!(xb.set_conductances(&gp[1..], &gn).is_err());
    sf.set_conductance(idx(&cf, "rw1p_1_2"), 37e-6).unwrap();
    sf.set_conductance(idx(&cf, "rw1n_0_0"), 12e-6).unwrap();

    let dac = dac_mut(sa.device_mut(idx(&ca, "ax")).unwrap()).unwrap();
    let mut x = dac.values().to_vec();
    x[3] = -0.7;
    dac.set_values(&x).unwrap();
    sf.set_source(idx(&cf, "vx3"), Waveform::Dc(-0.7 * VS))
        .unwrap();
    sf.set_source(idx(&cf, "vxn3"), Waveform::Dc(0.7 * VS))
        .unwrap();
    let dac = dac_mut(sa.device_mut(idx(&ca, "at")).unwrap()).unwrap();
    let mut t = dac.values().to_vec();
    t[1] = 0.3;
    dac.set_values(&t).unwrap();
    sf.set_source(idx(&cf, "vt1"), Waveform::Dc(0.3 * VS))
        .unwrap();

    let (ra, ea) = sa.run_tran(&spec);
    let (rf, ef) = sf.run_tran(&spec);
    assert!(ea.is_none() && ef.is_none());
    let (d, at, _) = max_diff_same_grid(&ra.waveforms, &rf.waveforms);
    eprintln!("api: {d:e} V at {at}");
    assert!(d < 1e-6 * VS, "{d:e} V at {at}");
    // and the change mattered
    let mut s0 = Simulator::new(&ca).unwrap();
    let (r0, _) = s0.run_tran(&spec);
    let (d0, _, _) = max_diff_same_grid(&ra.waveforms, &r0.waveforms);
    assert!(d0 > 1e-3 * VS, "updates had no effect ({d0:e} V)");
    std::fs::remove_dir_all(&dir).ok();
}

fn load_err(path: &Path) -> String {
    let c = elaborate::load(path).unwrap();
    match Simulator::new(&c) {
        Ok(_) => panic!("{} built without error", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_side_files_and_ports_are_clear_errors() {
    let dir = temp_dir("errors");
    let (array, _) = generate(&dir, &[4, 3, 2]);
    let text = std::fs::read_to_string(&array).unwrap();

    // Missing CSV: names the element, the parameter and the resolved file.
    std::fs::remove_file(dir.join("net_W2_gp.csv")).unwrap();
    let e = load_err(&array);
    assert!(
        e.contains("`aw2`") && e.contains("gpfile") && e.contains("net_W2_gp.csv"),
        "{e}"
    );
    assert!(e.contains("net.cir:"), "names the model card's file: {e}");

    // Wrong shape: W2 is 4 × 2.
    std::fs::write(dir.join("net_W2_gp.csv"), "1e-6,1e-6\n1e-6,1e-6\n").unwrap();
    let e = load_err(&array);
    assert!(
        e.contains("`aw2`") && e.contains("2 rows") && e.contains("4 rows × 2"),
        "{e}"
    );
    std::fs::write(
        dir.join("net_W2_gp.csv"),
        "1e-6,1e-6\n1e-6\n1e-6,1e-6\n1e-6,1e-6\n",
    )
    .unwrap();
    let e = load_err(&array);
    assert!(e.contains("line 2 has 1 values"), "{e}");
    std::fs::write(
        dir.join("net_W2_gp.csv"),
        "1e-6,1e-6\n1e-6,-1e-6\n1e-6,1e-6\n1e-6,1e-6\n",
    )
    .unwrap();
    let e = load_err(&array);
    assert!(e.contains("negative"), "{e}");
    std::fs::write(
        dir.join("net_W2_gp.csv"),
        "1e-6,1e-6\n1e-6,1e-6\n1e-6,1e-6\n1e-6,1e-6\n",
    )
    .unwrap();
    Simulator::new(&elaborate::load(&array).unwrap()).unwrap();

    // Port count: drop the rn vector of the first neuron layer.
    let bad = text.replacen("+ [r1n_0 r1n_1 r1n_2] neuron_l1", "+ neuron_l1", 1);
    assert_ne!(bad, text);
    let p = dir.join("bad_ports.cir");
    std::fs::write(&p, bad).unwrap();
    let e = load_err(&p);
    assert!(
        e.contains("`an1`") && e.contains("expects 7 ports") && e.contains("got 6"),
        "{e}"
    );

    // Vector length: a crossbar column vector one short.
    let bad = text.replacen("[c2ff_0 c2ff_1] xbar_w2", "[c2ff_0] xbar_w2", 1);
    assert_ne!(bad, text);
    std::fs::write(&p, bad).unwrap();
    let e = load_err(&p);
    assert!(
        e.contains("`aw2`") && e.contains("`col` has 1 nodes, expected 2"),
        "{e}"
    );

    // DAC data file of the wrong width.
    std::fs::write(dir.join("net_x.csv"), "0.1,0.2\n").unwrap();
    let e = load_err(&array);
    assert!(
        e.contains("`ax`") && e.contains("net_x.csv") && e.contains("line 1 has 2"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
