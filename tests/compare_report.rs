//! `dfcsim compare` on a tiny network: plots produced with the right size and not blank,
//! report.json fields finite, parallel runs identical to sequential ones, resume skips
//! finished configurations, a failing configuration does not stop the others.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::compare::{self, Common, Configuration, Outcome, Progress, RunResult, Sweep, report};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim-compare-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn common() -> Common {
    Common {
        sizes: vec![4, 5, 3],
        netlist: None,
        epochs: 3,
        seed: 7,
        samples: 24,
        test_samples: 16,
        batch: 8,
        models_dir: std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/netlists/models"
        )),
    }
}

fn model_sweep() -> (Vec<Configuration>, Sweep) {
    let sweep = Sweep::parse("k_p=0.5,3").unwrap();
    (compare::configurations(&[], Some(&sweep)).unwrap(), sweep)
}

fn quiet(_: &Progress) {}

fn results(outcomes: &[Outcome]) -> Vec<RunResult> {
    outcomes
        .iter()
        .map(|o| o.result().expect("configuration finished").clone())
        .collect()
}

/// (width, height, fraction of non-white pixels, distinct colours).
fn png_stats(path: &Path) -> (u32, u32, f64, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(ch)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let non_white = px.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / px.len() as f64;
    let distinct = px.iter().collect::<std::collections::HashSet<_>>().len();
    (info.width, info.height, non_white, distinct)
}

#[test]
fn report_plots_and_fields() {
    let out = temp_dir("report");
    let c = common();
    let (configs, sweep) = model_sweep();
    assert_eq!(
        configs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["ideal-model", "ideal-model_k_p=0.5", "ideal-model_k_p=3"]
    );
    let outcomes = compare::run_all(&c, &configs, &out, 0, &quiet).unwrap();
    let rep = report::write_report(&out, &c, Some(&sweep.param), &outcomes).unwrap();
    // Plot files: each PNG and SVG, expected pixel size, drawn on.
    let expected: Vec<(&str, (u32, u32))> = vec![
        ("loss", (1200, 44 + 2 * 320)),
        ("angle", (1200, 44 + 4 * 320)),
        ("final_error", (260 + 130 * 3, 560)),
        ("sweep", (1200, 44 + 320)),
        ("waveforms_ideal-model", (900, 44 + 3 * 300)),
        ("waveforms_ideal-model_k_p=0.5", (1800, 44 + 3 * 300)),
        ("waveforms_ideal-model_k_p=3", (1800, 44 + 3 * 300)),
    ];
    assert_eq!(rep.plots.len(), 2 * expected.len(), "{:?}", rep.plots);
    for (stem, (w, h)) in expected {
        let (pw, ph, ink, colours) = png_stats(&out.join(format!("{stem}.png")));
        assert_eq!((pw, ph), (w, h), "{stem}.png size");
        assert!(
            ink > 0.01 && ink < 0.6,
            "{stem}.png: {ink} of the pixels drawn"
        );
        assert!(colours > 20, "{stem}.png: {colours} colours");
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.len() > 2000, "{stem}.svg");
    }
    // report.json: every configuration with finite figures; the ideal model's angle is 0
    // and its circuit-only fields are null.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let entries = v["configurations"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for e in entries {
        for key in [
            "initial_test_loss",
            "final_test_loss",
            "gap_to_ideal",
            "ratio_to_ideal",
            "mean_update_angle_deg",
            "mean_programmed_angle_deg",
            "mean_programmed_step_ratio",
            "mean_programmed_step_along",
        ] {
            let x = e[key].as_f64().unwrap_or_else(|| panic!("{key} in {e}"));
            assert!(x.is_finite(), "{key} = {x}");
        }
        assert_eq!(e["mean_update_angle_deg"].as_f64(), Some(0.0));
        assert_eq!(e["mean_programmed_angle_deg"].as_f64(), Some(0.0));
        assert_eq!(e["mean_programmed_step_ratio"].as_f64(), Some(1.0));
        // Training lowers the loss from where it started (same start for every point).
        assert!(
            e["final_test_loss"].as_f64() < e["initial_test_loss"].as_f64(),
            "{e}"
        );
        assert_eq!(e["initial_test_loss"], entries[0]["initial_test_loss"]);
        for key in [
            "steady_state_error",
            "settling_time_s",
            "energy_per_sample_j",
        ] {
            assert!(e.get(key).is_some_and(|x| x.is_null()), "{key} in {e}");
        }
        assert_eq!(e["epochs_run"].as_u64(), Some(3));
        assert_eq!(e["status"].as_str(), Some("ran"));
    }
    assert_eq!(entries[0]["gap_to_ideal"].as_f64(), Some(0.0));
    // A sweep point changes the training (k_p matters) but stays close to the reference.
    let loss: Vec<f64> = entries
        .iter()
        .map(|e| e["final_test_loss"].as_f64().unwrap())
        .collect();
    assert_ne!(loss[0], loss[1]);
    assert!((loss[1] / loss[0] - 1.0).abs() < 0.5, "{loss:?}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| ideal-model_k_p=3 | ran |") && md.contains("![loss.png](loss.png)"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn parallel_equals_sequential_and_resume_skips_finished() {
    let c = common();
    let (configs, _) = model_sweep();
    let seq_dir = temp_dir("seq");
    let par_dir = temp_dir("par");
    let seq = results(&compare::run_all(&c, &configs, &seq_dir, 1, &quiet).unwrap());
    let par = results(&compare::run_all(&c, &configs, &par_dir, 3, &quiet).unwrap());
    assert_eq!(seq, par, "results depend on the thread count");
    for cfg in &configs {
        for f in ["metrics.csv", "summary.json", "example.json"] {
            let a = std::fs::read(compare::run_dir(&seq_dir, cfg).join(f)).unwrap();
            let b = std::fs::read(compare::run_dir(&par_dir, cfg).join(f)).unwrap();
            assert!(a == b, "{}/{f} differs", cfg.name);
        }
    }
    // Resume: everything finished is loaded, not re-run; a removed run is re-run alone and
    // comes out identical.
    std::fs::remove_dir_all(compare::run_dir(&par_dir, &configs[1])).unwrap();
    let again = compare::run_all(&c, &configs, &par_dir, 0, &quiet).unwrap();
    let kinds: Vec<&str> = again
        .iter()
        .map(|o| match o {
            Outcome::Ran(_) => "ran",
            Outcome::Resumed(_) => "resumed",
            Outcome::Failed { .. } => "failed",
        })
        .collect();
    assert_eq!(kinds, ["resumed", "ran", "resumed"]);
    assert_eq!(results(&again), seq);
    // A different schedule is a different run: not resumed from the old one.
    let longer = Common {
        epochs: 4,
        ..c.clone()
    };
    let other = compare::run_all(&longer, &configs[..1], &par_dir, 0, &quiet).unwrap();
    assert!(matches!(&other[0], Outcome::Ran(r) if r.rows.len() == 4));
    std::fs::remove_dir_all(&seq_dir).unwrap();
    std::fs::remove_dir_all(&par_dir).unwrap();
}

#[test]
fn cli_progress_circuit_and_resume() {
    let out = temp_dir("cli");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_dfcsim"))
            .args([
                "compare",
                "--arch",
                "3-4-2",
                "--presets",
                "rram",
                "--epochs",
                "2",
            ])
            .args([
                "--samples",
                "12",
                "--test-samples",
                "8",
                "--batch",
                "4",
                "-o",
            ])
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = run();
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("ideal-model: epoch 2/2") && err.contains("eta"),
        "{err}"
    );
    assert!(err.contains("circuit-rram: epoch 2/2"), "{err}");
    // The circuit configuration reports every field, finite.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let e = &v["configurations"][1];
    assert_eq!(e["name"].as_str(), Some("circuit-rram"));
    for key in [
        "initial_test_loss",
        "final_test_loss",
        "gap_to_ideal",
        "mean_update_angle_deg",
        "mean_programmed_angle_deg",
        "mean_programmed_step_ratio",
        "mean_programmed_step_along",
        "steady_state_error",
        "settling_time_s",
        "energy_per_sample_j",
    ] {
        let x = e[key].as_f64().unwrap_or_else(|| panic!("{key} in {e}"));
        assert!(x.is_finite(), "{key} = {x}");
    }
    assert!(out.join("final_error.png").exists());
    assert!(out.join("waveforms_circuit-rram.png").exists());
    let second = run();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("ideal-model: finished earlier") && !err.contains("ideal-model: epoch"),
        "{err}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_specs_are_errors() {
    assert!(Sweep::parse("k_p").is_err());
    assert!(Sweep::parse("k_p=1,x").is_err());
    assert!(compare::configurations(&["rram".into(), "rram".into()], None).is_err());
    assert!(compare::configurations(&["../x".into()], None).is_err());
    let s = Sweep::parse("states=10,100").unwrap();
    assert!(!s.is_model_param());
    let cs = compare::configurations(&["pcm".into()], Some(&s)).unwrap();
    assert_eq!(
        cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "ideal-model",
            "circuit-pcm_states=10",
            "circuit-pcm_states=100"
        ]
    );
    assert_eq!(cs.iter().map(|c| c.color).collect::<Vec<_>>(), [0, 1, 2]);
}
