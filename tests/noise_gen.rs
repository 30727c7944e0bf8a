//! Hardware noise in generated DFC netlists (`src/gen/noise.rs`): a preset with
//! `thermal_noise=1 temp=…` and an op-amp `en=…` gets TRNOISE sources with NA = √(S/(2·NT)),
//! S = 4kT·ΣG per node (resistors to driven lines lumped) and en² per op-amp; `ideal` gets
//! none. The noisy flat netlist elaborates and simulates in dfcsim.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use dfcsim::circuit::{Circuit, ElementKind, NodeId, Waveform};
use dfcsim::r#gen::network::{self, DfcNetwork};
use dfcsim::r#gen::{self as dfcgen, GenConfig, Hardware, Phi};
use dfcsim::noise::{BOLTZMANN, na_for_psd};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const TEMP: f64 = 310.0;
const EN: f64 = 20e-9;

fn dir(label: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(label);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped ideal preset plus a noisy op-amp card.
fn noisy_hardware(d: &std::path::Path) -> Hardware {
    let ideal = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("netlists/models/ideal.lib");
    let mut text = std::fs::read_to_string(ideal).unwrap();
    text.push_str(&format!(
        "\n.model opa opamp(a0=1e5 gbw=0 vos=0 en={EN:e})\n\
         .model per periphery(thermal_noise=1 temp={TEMP})\n"
    ));
    std::fs::write(d.join("noisy.lib"), text).unwrap();
    Hardware::load("noisy", d).unwrap()
}

fn config(flat: bool, hw: Hardware) -> (DfcNetwork, network::Sample, GenConfig) {
    let arch = [2, 3, 2];
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let net = DfcNetwork::xavier(&arch, dfcgen::layer_phis(&arch, Phi::Linear), &mut rng).unwrap();
    let mut cfg = GenConfig::new("net");
    cfg.flat = flat;
    cfg.seed = 77;
    cfg.hardware = hw;
    let sample = network::student_teacher_sample(&net, 4, cfg.dfc.lambda).unwrap();
    (net, sample, cfg)
}

/// TRNOISE sources of `c` by element name: (p, n, NA, NT).
fn sources(c: &Circuit) -> HashMap<String, (NodeId, NodeId, f64, f64)> {
    c.elements
        .iter()
        .filter_map(|e| match &e.kind {
            ElementKind::VoltageSource {
                p,
                n,
                wave: Waveform::TrNoise(t),
            }
            | ElementKind::CurrentSource {
                p,
                n,
                wave: Waveform::TrNoise(t),
            } => Some((e.name.clone(), (*p, *n, t.na, t.nt))),
            _ => None,
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs()
}

#[test]
fn flat_netlist_gets_thermal_and_opamp_noise() {
    let d = dir("noise-gen-flat");
    let (net, sample, cfg) = config(true, noisy_hardware(&d));
    let nt = cfg.scales.tau_v_seconds() / 20.0;
    let path = d.join("net.cir");
    dfcgen::generate(&net, &sample, &cfg)
        .unwrap()
        .write(&path)
        .unwrap();
    let c = dfcsim::elaborate::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.options.seed, Some(77));
    let src = sources(&c);
    assert!(src.values().all(|s| close(s.3, nt)), "NT = tau_v/20");

    // Every op-amp: en in series with its non-inverting input (3 + 2 neurons, 4 per controller channel).
    let opamps = src.keys().filter(|k| k.starts_with("vos")).count();
    assert_eq!(opamps, 5 + 4 * 2);
    let na_en = na_for_psd(EN * EN, nt);
    assert!(
        src.iter()
            .filter(|(k, _)| k.starts_with("vos"))
            .all(|(_, s)| close(s.2, na_en))
    );

    // Each crossbar column wire and summing node: one source, 4kT·ΣG of its resistors to
    // driven lines (recomputed here from the circuit's own resistors).
    let driven: Vec<NodeId> = c
        .elements
        .iter()
        .filter_map(|e| match &e.kind {
            ElementKind::VoltageSource { p, n, .. }
            | ElementKind::Vcvs { p, n, .. }
            | ElementKind::BehavioralVoltage { p, n, .. }
            | ElementKind::Ccvs { p, n, .. }
                if n.is_ground() =>
            {
                Some(*p)
            }
            _ => None,
        })
        .collect();
    let mut checked = 0;
    for i in 1..=2 {
        for k in 0..net.arch[i] {
            for node in [
                format!("c{i}ff_{k}"),
                format!("c{i}fb_{k}"),
                format!("s{i}_{k}"),
            ] {
                let id = c.find_node(&node).unwrap();
                let g: f64 = c
                    .elements
                    .iter()
                    .filter(|e| !e.name.starts_with("roa"))
                    .filter_map(|e| match &e.kind {
                        ElementKind::Resistor { p, n, ohms } if *p == id || *n == id => {
                            let other = if *p == id { *n } else { *p };
                            (other.is_ground() || driven.contains(&other)).then_some(1.0 / ohms)
                        }
                        _ => None,
                    })
                    .sum();
                let s = src
                    .get(&format!("ithn_{node}"))
                    .unwrap_or_else(|| panic!("no noise source at {node}"));
                assert_eq!(s.1, id);
                let want = na_for_psd(4.0 * BOLTZMANN * TEMP * g, nt);
                assert!(close(s.2, want), "{node}: NA {} vs {want}", s.2);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * (3 + 2));

    // It simulates, and the noise moves the waveform a little.
    let quiet = {
        let (n2, s2, mut c2) = config(true, Hardware::ideal());
        c2.hardware.opamp.a0 = 1e5;
        let p2 = d.join("quiet.cir");
        dfcgen::generate(&n2, &s2, &c2).unwrap().write(&p2).unwrap();
        dfcsim::elaborate::load(&p2).unwrap()
    };
    assert!(sources(&quiet).is_empty() && quiet.options.seed.is_none());
    let run = |c: &Circuit| {
        let out = dfcsim::engine::simulate(c);
        assert!(out.error.is_none(), "{:?}", out.error);
        let wf = out.results.last().unwrap().waveforms.clone();
        let j = wf.index_of("v(v1_0)").unwrap();
        let tj = wf.index_of("time").unwrap();
        (wf.column(tj), wf.column(j))
    };
    let ((t1, v1), (t0, v0)) = (run(&c), run(&quiet));
    let at = |t: &[f64], v: &[f64], x: f64| {
        let i = t.partition_point(|&s| s < x).min(t.len() - 1);
        v[i]
    };
    let tend = *t1.last().unwrap();
    let dev = (1..=20)
        .map(|m| {
            let x = tend * m as f64 / 20.0;
            (at(&t1, &v1, x) - at(&t0, &v0, x)).abs()
        })
        .fold(0.0, f64::max);
    // kT/C_f-scale deviations (µV…mV), far below V_s.
    assert!(
        dev > 0.0 && dev < 0.05 * cfg.scales.vs_volts,
        "deviation {dev}"
    );
}

#[test]
fn array_netlist_gets_column_noise_from_the_conductances() {
    let d = dir("noise-gen-array");
    let (net, sample, cfg) = config(false, noisy_hardware(&d));
    let nt = cfg.scales.tau_v_seconds() / 20.0;
    let g = dfcgen::generate(&net, &sample, &cfg).unwrap();
    assert!(g.netlist.contains(".options seed=77"));
    let csv = |name: &str| -> Vec<Vec<f64>> {
        let text = &g.files.iter().find(|f| f.0 == name).unwrap().1;
        text.lines()
            .map(|l| l.split(',').map(|x| x.trim().parse().unwrap()).collect())
            .collect()
    };
    let mut found = 0;
    for bar in ["W1", "Q1", "W2", "Q2"] {
        let (gp, gn) = (
            csv(&format!("net_{bar}_gp.csv")),
            csv(&format!("net_{bar}_gn.csv")),
        );
        for k in 0..gp[0].len() {
            let sum: f64 = gp.iter().zip(&gn).map(|(a, b)| a[k] + b[k]).sum();
            let want = na_for_psd(4.0 * BOLTZMANN * TEMP * sum, nt);
            let prefix = format!("Ith{}_{k} ", bar.to_ascii_lowercase());
            let line = g
                .netlist
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {prefix}"));
            let na: f64 = line
                .split("TRNOISE(")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(close(na, want), "{line}: want {want}");
            found += 1;
        }
    }
    assert_eq!(found, 3 + 3 + 2 + 2);
    // ideal preset: nothing added.
    let (n2, s2, c2) = config(false, Hardware::ideal());
    let quiet = dfcgen::generate(&n2, &s2, &c2).unwrap().netlist;
    assert!(!quiet.contains("TRNOISE") && !quiet.contains(".options seed"));
}

/// The noisy flat netlist exported with its realisation as PWL (`run --export-noise`) runs in
/// ngspice and matches dfcsim's run of the TRNOISE netlist to 1e-3 of each signal's range.
#[test]
fn noisy_flat_netlist_matches_ngspice_through_the_pwl_export() {
    let d = dir("noise-gen-live");
    let (net, sample, cfg) = config(true, noisy_hardware(&d));
    let path = d.join("net.cir");
    dfcgen::generate(&net, &sample, &cfg)
        .unwrap()
        .write(&path)
        .unwrap();
    let (out, exp) = (d.join("out"), d.join("exp"));
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .arg("run")
        .arg(&path)
        .arg("-q")
        .arg("-o")
        .arg(&out)
        .arg("--export-noise")
        .arg(&exp)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let exported = std::fs::read_to_string(exp.join("net.cir")).unwrap();
    assert_eq!(
        exported.matches(" PWL(").count(),
        39,
        "every TRNOISE source exported"
    );
    if !common::ngspice_available() {
        eprintln!("ngspice not installed: live part skipped");
        return;
    }
    let ours = common::read_csv(&out.join("net.csv")).unwrap();
    let spice = common::run_ngspice(&exp.join("net.cir"), &exp).unwrap_or_else(|e| panic!("{e}"));
    let c = common::compare(&ours, &spice);
    let table = c.table("dfc-noisy", common::Method::Trap);
    eprintln!("{table}");
    assert!(
        c.pass(),
        "dfcsim vs ngspice on the exported noisy DFC netlist:\n{table}"
    );
}
