//! The circuit side of `compare` that does not need the training loop: example waveforms
//! read from a real transient of a generated DFC circuit (gen → engine), and drawn beside
//! the ideal model's trajectory.

use std::process::Command;

use dfcsim::compare::{self, Common, Configuration, Kind, Outcome, circuit, report};

#[test]
fn circuit_example_waveforms_from_a_generated_circuit() {
    let dir = std::env::temp_dir().join(format!("dfcsim-compare-circuit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let net = dir.join("net.cir");
    let models = concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/models");
    let generated = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args([
            "gen",
            "--arch",
            "3-4-2",
            "--hardware",
            "ideal",
            "--flat",
            "--models-dir",
            models,
            "-o",
        ])
        .arg(&net)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let netlist = dfcsim::elaborate::load_with_warnings(&net).unwrap().0;
    let sim = dfcsim::engine::simulate(&netlist);
    assert!(sim.error.is_none(), "{:?}", sim.error);
    let tran = sim
        .results
        .iter()
        .map(|r| &r.waveforms)
        .find(|w| w.index_of("time").is_some())
        .unwrap();
    let ex = circuit::example_from_waveforms(tran, &[3, 4, 2]).unwrap();
    let n = ex.t.len();
    assert!(n > 10);
    for s in ex
        .target
        .iter()
        .chain(&ex.output)
        .chain(&ex.u)
        .chain(ex.hidden.iter())
    {
        assert_eq!(s.len(), n);
        assert!(s.iter().all(|x| x.is_finite()));
    }
    // The controller pulls the output onto the target: the end error is a small part of
    // the largest error during the transient.
    let err = |i: usize| {
        (0..2)
            .map(|k| (ex.output[k][i] - ex.target[k][i]).abs())
            .fold(0.0, f64::max)
    };
    let worst = (0..n).map(err).fold(0.0, f64::max);
    assert!(
        worst > 0.0 && err(n - 1) < 0.2 * worst,
        "end {} worst {worst}",
        err(n - 1)
    );
    assert!(ex.u.iter().any(|u| u.iter().any(|x| x.abs() > 1e-6)));
    assert!(circuit::example_from_waveforms(tran, &[3, 2]).is_err());

    // Drawn beside the ideal model's trajectory (the circuit's rows here are the ideal
    // model's, only to place the waveforms in a report).
    let c = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 2,
        seed: 3,
        samples: 8,
        test_samples: 8,
        batch: 4,
        models_dir: std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/netlists/models"
        )),
    };
    let configs = compare::configurations(&[], None).unwrap();
    let mut outcomes = compare::run_all(&c, &configs, &dir, 1, &|_| {}).unwrap();
    let mut r = outcomes[0].result().unwrap().clone();
    r.config = Configuration {
        name: "circuit-ideal".into(),
        kind: Kind::Circuit {
            preset: "ideal".into(),
        },
        sweep: None,
        color: 1,
    };
    r.example = Some(ex);
    outcomes.push(Outcome::Ran(r));
    report::write_report(&dir, &c, None, &outcomes).unwrap();
    let png = dir.join("waveforms_circuit-ideal.png");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (1800, 44 + 3 * 300));
    if std::env::var_os("DFCSIM_KEEP_PLOTS").is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn circuit_setup_generates_the_preset_netlist_with_the_sweep_point() {
    let dir = std::env::temp_dir().join(format!("dfcsim-compare-setup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let models = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/models"));
    let c = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 1,
        seed: 5,
        samples: 4,
        test_samples: 4,
        batch: 1,
        models_dir: std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/netlists/models"
        )),
    };
    let sweep = compare::Sweep::parse("dw_min=0.01,0.02").unwrap();
    let configs = compare::configurations(&["rram".into()], Some(&sweep)).unwrap();
    let setup = circuit::circuit_setup(&c, &configs[2], models, &dir.join("a")).unwrap();
    assert_eq!(setup.device.dw_min, 0.02);
    // The generated netlist is the preset's flat circuit and simulates.
    let text = std::fs::read_to_string(&setup.netlist).unwrap();
    assert!(
        text.contains("(rram preset, flat form)"),
        "{}",
        &text[..text.len().min(800)]
    );
    let netlist = dfcsim::elaborate::load_with_warnings(&setup.netlist)
        .unwrap()
        .0;
    let sim = dfcsim::engine::simulate(&netlist);
    assert!(sim.error.is_none(), "{:?}", sim.error);
    // An op-amp sweep changes the netlist; an unknown parameter is an error naming it.
    let a0 = compare::Sweep::parse("a0=100").unwrap();
    let cs = compare::configurations(&["ideal".into()], Some(&a0)).unwrap();
    let s0 = circuit::circuit_setup(&c, &cs[1], models, &dir.join("b")).unwrap();
    assert_ne!(std::fs::read_to_string(&s0.netlist).unwrap(), text);
    let bad = compare::Sweep::parse("no_such_param=1").unwrap();
    let cs = compare::configurations(&["rram".into()], Some(&bad)).unwrap();
    let e = circuit::circuit_setup(&c, &cs[1], models, &dir.join("c"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no_such_param"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn circuit_runs_parallel_equal_sequential() {
    let base = std::env::temp_dir().join(format!("dfcsim-compare-cpar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let c = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 2,
        seed: 9,
        samples: 4,
        test_samples: 4,
        batch: 2,
        models_dir: std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/netlists/models"
        )),
    };
    let configs = compare::configurations(&["ideal".into(), "rram".into()], None).unwrap();
    let get = |jobs: usize, tag: &str| -> Vec<compare::RunResult> {
        compare::run_all(&c, &configs, &base.join(tag), jobs, &|_| {})
            .unwrap()
            .iter()
            .map(|o| o.result().expect("finished").clone())
            .collect()
    };
    let seq = get(1, "seq");
    let par = get(3, "par");
    assert_eq!(seq, par);
    // The ideal preset's circuit learns as the ideal model does (same init, data, schedule).
    let (m, ci) = (seq[0].rows.last().unwrap(), seq[1].rows.last().unwrap());
    assert!(
        (ci.test_loss / m.test_loss - 1.0).abs() < 0.01,
        "{} vs {}",
        ci.test_loss,
        m.test_loss
    );
    assert!(ci.update_angle_deg < 2.0 && ci.steady_state_error.unwrap().is_finite());
    std::fs::remove_dir_all(&base).unwrap();
}
