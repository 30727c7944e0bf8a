//! `dfcsim train` end to end on a tiny generated circuit: metrics, summary, checkpoints,
//! and an interrupted run resumed from its checkpoint ends on bit-identical conductances.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::learn::cosim::Checkpoint;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_train_{name}_{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dfcsim(dir: &Path, args: &[&str]) {
    // Run outside the crate: `gen` then uses its built-in ideal preset, whatever
    // netlists/models/ideal.lib holds.
    let out = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("dfcsim runs");
    assert!(
        out.status.success(),
        "dfcsim {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn checkpoint(dir: &Path, epoch: usize) -> Checkpoint {
    let p = dir.join(format!("checkpoints/epoch_{epoch:04}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

#[test]
fn two_epochs_straight_equal_one_plus_resume() {
    let dir = temp_dir("resume");
    let net = dir.join("net.cir");
    let s = |p: &Path| p.display().to_string();
    dfcsim(&dir, &["gen", "--arch", "4-3-2", "--flat", "-o", &s(&net)]);
    let common = [
        "--samples",
        "3",
        "--test-samples",
        "10",
        "--seed",
        "5",
        "-q",
    ];
    let (a, b) = (dir.join("a"), dir.join("b"));
    let run = |out: &Path, epochs: &str, resume: bool| {
        let mut args = vec!["train", net.to_str().unwrap(), "--epochs", epochs, "-o"];
        let o = s(out);
        args.push(&o);
        args.extend(common);
        if resume {
            args.push("--resume");
        }
        dfcsim(&dir, &args);
    };
    run(&a, "2", false);
    run(&b, "1", false);
    run(&b, "2", true);
    let (ca, cb) = (checkpoint(&a, 2), checkpoint(&b, 2));
    assert_eq!(
        ca.crossbars, cb.crossbars,
        "resumed run ends on other conductances"
    );
    // The weights did move (the comparison is not between two untouched netlists).
    let c1 = checkpoint(&a, 1);
    assert_ne!(c1.crossbars, ca.crossbars);
    // The metrics of both epochs agree too (but for wall times).
    assert_eq!(ca.metrics.len(), 2);
    assert_eq!(cb.metrics.len(), 2);
    for (x, y) in ca.metrics.iter().zip(&cb.metrics) {
        assert_eq!(x.train_loss.to_bits(), y.train_loss.to_bits());
        assert_eq!(x.test_loss.to_bits(), y.test_loss.to_bits());
        assert_eq!(x.update_angle_deg.to_bits(), y.update_angle_deg.to_bits());
    }
    let csv = std::fs::read_to_string(b.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,train_loss,test_loss,test_error,update_angle_deg"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["resumed_from_epoch"], 1);
    let angle = summary["final"]["update_angle_deg"].as_f64().unwrap();
    assert!(angle < 1.0, "circuit vs ideal update angle {angle} deg");
    std::fs::remove_dir_all(&dir).ok();
}

/// A non-ideal device (aihwkit ReRamSB preset: pulses, cycle-to-cycle and write noise) trains
/// through pulses; the update the circuit computes still follows the ideal one for the same
/// (read) weights.
#[test]
fn rram_devices_take_pulses() {
    let dir = temp_dir("rram");
    let net = dir.join("net.cir");
    let s = |p: &Path| p.display().to_string();
    dfcsim(&dir, &["gen", "--arch", "4-3-2", "--flat", "-o", &s(&net)]);
    let out = dir.join("o");
    dfcsim(
        &dir,
        &[
            "train",
            &s(&net),
            "--epochs",
            "1",
            "--samples",
            "3",
            "--test-samples",
            "10",
            "--device",
            "reramsb",
            "--waveforms",
            "1",
            "--max-step",
            "5e-7",
            "-q",
            "-o",
            &s(&out),
        ],
    );
    let ck = checkpoint(&out, 1);
    let m = &ck.metrics[0];
    assert!(m.pulses > 0, "no programming pulses");
    assert!(m.train_loss.is_finite() && m.test_loss.is_finite());
    assert!(m.update_angle_deg < 1.0, "angle {}", m.update_angle_deg);
    // The requested sample's transient, with the controlled phase's nodes.
    let wf = std::fs::read_to_string(out.join("waveforms/epoch_0001_sample_1.csv")).unwrap();
    let header = wf.lines().next().unwrap();
    assert!(
        header.starts_with("time,") && header.contains("v(u_0)"),
        "{header}"
    );
    assert!(wf.lines().count() > 50);
    std::fs::remove_dir_all(&dir).ok();
}

/// Non-ideal devices (the `rram` preset: cycle-to-cycle noise, write noise) with plastic Q
/// (feedback phase on): a run interrupted after epoch 1 and resumed ends on the same
/// conductances and device states, bit for bit, as the straight run.
#[test]
fn rram_resume_is_bit_identical_with_learned_feedback() {
    let dir = temp_dir("resume_rram");
    let net = dir.join("net.cir");
    let s = |p: &Path| p.display().to_string();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/models/rram.lib");
    dfcsim(
        &dir,
        &[
            "gen",
            "--arch",
            "4-3-2",
            "--flat",
            "--plastic-feedback",
            "-o",
            &s(&net),
        ],
    );
    let (a, b) = (dir.join("a"), dir.join("b"));
    let run = |out: &Path, epochs: &str, resume: bool| {
        let o = s(out);
        let l = s(&lib);
        let mut args = vec![
            "train",
            net.to_str().unwrap(),
            "--epochs",
            epochs,
            "-o",
            &o,
            "--samples",
            "3",
            "--test-samples",
            "10",
            "--seed",
            "6",
            "--device",
            "synapse",
            "--lib",
            &l,
            "--max-step",
            "5e-7",
            "-q",
        ];
        if resume {
            args.push("--resume");
        }
        dfcsim(&dir, &args);
    };
    run(&a, "2", false);
    run(&b, "1", false);
    run(&b, "2", true);
    let (ca, cb) = (checkpoint(&a, 2), checkpoint(&b, 2));
    let names: Vec<&str> = ca.crossbars.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"Q1") && names.contains(&"W1"), "{names:?}");
    assert!(!ca.crossbars[0].dev_plus_state.is_empty());
    assert_eq!(
        ca.crossbars, cb.crossbars,
        "resumed run ends on other conductances or device states"
    );
    let c1 = checkpoint(&a, 1);
    assert_ne!(c1.crossbars, ca.crossbars);
    for (x, y) in ca.metrics.iter().zip(&cb.metrics) {
        assert_eq!(x.train_loss.to_bits(), y.train_loss.to_bits());
        assert_eq!(x.condition_2.to_bits(), y.condition_2.to_bits());
        assert_eq!(
            x.fb_angle_deg.map(f64::to_bits),
            y.fb_angle_deg.map(f64::to_bits)
        );
    }
    assert!(ca.metrics[1].pulses > 0 && ca.metrics[1].fb_samples == 3);
    std::fs::remove_dir_all(&dir).ok();
}
