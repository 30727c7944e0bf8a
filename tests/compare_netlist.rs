//! `dfcsim compare` on a user's own netlist, and hardware sweeps resolved against the
//! preset's model cards (a 2-point sweep end to end, with its plot).

use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::compare::{self, Common, Sweep, circuit, report};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim-cmpnet-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn models() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/netlists/models"))
}

fn dfcsim(args: &[&str], extra: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args(args)
        .args(extra)
        .output()
        .unwrap()
}

/// (width, height, fraction of non-white pixels).
fn png_stats(path: &Path) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let ink = px
        .chunks_exact(ch)
        .filter(|c| c[..3] != [255, 255, 255])
        .count() as f64
        / (px.len() / ch) as f64;
    (info.width, info.height, ink)
}

#[test]
fn compare_a_users_netlist_end_to_end() {
    let dir = temp_dir("user");
    let net = dir.join("my net.cir");
    let models = models();
    // The user's circuit is drawn with seed 5; the comparison runs with seed 9, so the
    // ideal model must take the netlist's weights to start where the circuit starts.
    let g = dfcsim(
        &[
            "gen",
            "--arch",
            "3-4-2",
            "--seed",
            "5",
            "--flat",
            "--models-dir",
        ],
        &[&models, Path::new("-o"), &net],
    );
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let out = dir.join("out");
    let args = [
        "compare",
        "--presets",
        "ideal",
        "--epochs",
        "2",
        "--samples",
        "6",
        "--test-samples",
        "6",
        "--batch",
        "3",
        "--seed",
        "9",
        "-q",
        "--models-dir",
    ];
    let r = dfcsim(&args, &[&models, &net, Path::new("-o"), &out]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(v["common"]["sizes"], serde_json::json!([3, 4, 2]));
    let e = v["configurations"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    let f = |i: usize, k: &str| {
        e[i][k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} in {}", e[i]))
    };
    // Same start (the netlist's weights), same learning: the ideal preset's circuit and the
    // ideal model agree.
    let (i0, i1) = (f(0, "initial_test_loss"), f(1, "initial_test_loss"));
    assert!((i1 / i0 - 1.0).abs() < 1e-6, "initial {i0} vs {i1}");
    let (l0, l1) = (f(0, "final_test_loss"), f(1, "final_test_loss"));
    assert!((l1 / l0 - 1.0).abs() < 0.01, "final {l0} vs {l1}");
    assert!(l0 < i0, "no learning: {i0} -> {l0}");
    assert!(f(1, "mean_programmed_angle_deg") < 2.0);
    assert!((f(1, "mean_programmed_step_ratio") - 1.0).abs() < 0.05);
    // The netlist was used as given (not regenerated).
    assert!(!out.join("runs/circuit-ideal/net.cir").exists());
    // A model trained from seed 9 instead would start elsewhere.
    let seed_net = compare::configurations(&[], None).unwrap();
    let c9 = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 1,
        seed: 9,
        samples: 6,
        test_samples: 6,
        batch: 3,
        models_dir: models.clone(),
    };
    let o = compare::run_all(&c9, &seed_net, &dir.join("seed9"), 1, &|_| {}).unwrap();
    let other = o[0].result().unwrap().initial_test_loss.unwrap();
    assert!((other / i0 - 1.0).abs() > 1e-6, "{other} vs {i0}");
    // --arch must agree with the netlist.
    let bad = dfcsim(
        &["compare", "--arch", "3-5-2", "-q"],
        &[&net, Path::new("-o"), &out],
    );
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && msg.contains("3-4-2"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_point_hardware_sweep_with_plot() {
    let out = temp_dir("sweep");
    let c = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 1,
        seed: 4,
        samples: 4,
        test_samples: 4,
        batch: 2,
        models_dir: models(),
    };
    let sweep = Sweep::parse("g_max=30u,60u").unwrap();
    let configs = compare::configurations(&["rram".into()], Some(&sweep)).unwrap();
    let outcomes = compare::run_all(&c, &configs, &out, 0, &|_| {}).unwrap();
    let rep = report::write_report(&out, &c, Some(&sweep.param), &outcomes).unwrap();
    assert!(
        rep.plots.iter().any(|p| p == "sweep.png"),
        "{:?}",
        rep.plots
    );
    let (w, h, ink) = png_stats(&out.join("sweep.png"));
    assert_eq!((w, h), (1200, 44 + 320));
    assert!(ink > 0.01 && ink < 0.6, "{ink}");
    // Each point ran on its own copy of the preset library with the value in the card.
    for (cfg, want) in configs[1..].iter().zip(["g_max=3e-5", "g_max=6e-5"]) {
        let run = compare::run_dir(&out, cfg);
        let lib = std::fs::read_to_string(run.join("models/rram.lib")).unwrap();
        assert!(lib.contains(want), "{}: {lib}", cfg.name);
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let e = v["configurations"].as_array().unwrap();
    assert_eq!(e.len(), 3);
    for (x, value) in e[1..].iter().zip([30e-6, 60e-6]) {
        assert_eq!(x["status"], "ran", "{x}");
        let v = x["sweep_value"].as_f64().unwrap();
        assert!((v / value - 1.0).abs() < 1e-12, "{v}");
        for k in [
            "initial_test_loss",
            "final_test_loss",
            "mean_programmed_step_ratio",
        ] {
            assert!(x[k].as_f64().is_some_and(f64::is_finite), "{k} in {x}");
        }
    }
    // A twice wider G range is a different circuit: the runs differ.
    assert_ne!(e[1]["final_test_loss"], e[2]["final_test_loss"]);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn sweep_parameters_resolve_by_name() {
    let dir = temp_dir("names");
    let c = Common {
        sizes: vec![3, 4, 2],
        netlist: None,
        epochs: 1,
        seed: 4,
        samples: 4,
        test_samples: 4,
        batch: 2,
        models_dir: models(),
    };
    let setup = |preset: &str, spec: &str, i: usize| {
        let s = Sweep::parse(spec).unwrap();
        let cs = compare::configurations(&[preset.into()], Some(&s)).unwrap();
        circuit::circuit_setup(&c, &cs[i], &models(), &dir.join(&cs[i].name))
    };
    // Number of conductance states between w_min and w_max (rram: -0.75..1.25).
    let d = setup("rram", "states=100,1000", 2).unwrap().device;
    assert!((d.dw_min - 2.0 / 1000.0).abs() < 1e-15, "{}", d.dw_min);
    // A device parameter the card leaves at its default is added to the card.
    let d = setup("pcm", "read_noise_std=0.01", 1).unwrap().device;
    assert_eq!(d.read_noise_std, 0.01);
    // The conductance range reaches the generated circuit.
    let s = setup("rram", "g_max=50u", 1).unwrap();
    assert!((s.device.g_max / 50e-6 - 1.0).abs() < 1e-12);
    // Op-amp gain without an op-amp card: the generated op-amps.
    let a = setup("rram", "a0=1000", 1).unwrap();
    let text = std::fs::read_to_string(&a.netlist).unwrap();
    assert!(
        text.contains("1000") || text.contains("1e3"),
        "a0 not in the netlist"
    );
    // Unknown names and cards are errors naming them.
    let e = setup("rram", "no_such_param=1", 1).unwrap_err().to_string();
    assert!(e.contains("no_such_param"), "{e}");
    let e = setup("rram", "adc.bits=4", 1).unwrap_err().to_string();
    assert!(e.contains("adc") && e.contains("bits"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
