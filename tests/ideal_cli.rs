//! End-to-end runs of `dfcsim ideal` on tiny data sets the tests write themselves.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim_ideal_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dfcsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .arg("ideal")
        .args(args)
        .output()
        .unwrap()
}

fn write_idx(dir: &Path, prefix: &str, n: usize, gz: bool) {
    let mut img = vec![0, 0, 8, 3];
    img.extend((n as u32).to_be_bytes());
    img.extend(4u32.to_be_bytes());
    img.extend(4u32.to_be_bytes());
    let mut lab = vec![0, 0, 8, 1];
    lab.extend((n as u32).to_be_bytes());
    for k in 0..n {
        let class = k % 10;
        // Class k lights pixel k (and a faint background), so the task is learnable.
        for p in 0..16 {
            img.push(if p == class {
                250
            } else {
                ((k * 7 + p * 3) % 40) as u8
            });
        }
        lab.push(class as u8);
    }
    let img_name = format!("{prefix}-images-idx3-ubyte");
    if gz {
        let f = std::fs::File::create(dir.join(format!("{img_name}.gz"))).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(&img).unwrap();
        e.finish().unwrap();
    } else {
        std::fs::write(dir.join(img_name), &img).unwrap();
    }
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), &lab).unwrap();
}

#[test]
fn mnist_from_idx_files_trains_and_reports_error() {
    let dir = scratch("idx");
    write_idx(&dir, "train", 200, true);
    write_idx(&dir, "t10k", 50, false);
    let cfg = dir.join("cfg.toml");
    std::fs::write(
        &cfg,
        "hidden = [12]\nbatch_size = 20\nmetrics_samples = 4\noptimizer = \"adam\"\nlr = 0.0005\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = dfcsim(&[
        "--task",
        "mnist",
        "--variant",
        "bp",
        "--epochs",
        "8",
        "--quiet",
        "--data",
        dir.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], dfcsim::cli::ideal::CSV_HEADER);
    assert_eq!(lines.len(), 9);
    let last: Vec<&str> = lines[8].split(',').collect();
    let err: f64 = last[3].parse().expect("classification error present");
    assert!(err < 30.0, "test error {err} %");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["variant"], "bp");
    assert_eq!(summary["config"]["hidden"][0], 12);
    assert!(summary["wall_time_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn student_teacher_csv_with_probe_batch() {
    let dir = scratch("csv");
    for (name, n) in [("train", 24), ("val", 6), ("test", 6)] {
        let mut s = String::from("x0,x1,x2,y0,y1\n");
        for k in 0..n {
            let x: Vec<f64> = (0..3).map(|j| ((k * 3 + j) as f64 * 0.77).sin()).collect();
            s += &format!(
                "{},{},{},{},{}\n",
                x[0],
                x[1],
                x[2],
                x[0] - x[1],
                x[2] * 0.5
            );
        }
        std::fs::write(dir.join(format!("{name}.csv")), s).unwrap();
    }
    let cfg = dir.join("cfg.toml");
    std::fs::write(
        &cfg,
        "hidden = [4]\nsteps = 60\nbatch_size = 8\nepochs_fb = 1\n",
    )
    .unwrap();
    let out = dir.join("out");
    let probe = dir.join("probe.json");
    let o = dfcsim(&[
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "2",
        "--feedback",
        "learned",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--probe-batch",
        probe.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let row: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert_eq!(row.len(), dfcsim::cli::ideal::CSV_HEADER.split(',').count());
    assert_eq!(row[3], "", "no error column for regression");
    assert!(row[10].parse::<f64>().is_ok(), "lambda_max present");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&probe).unwrap()).unwrap();
    for key in [
        "W1",
        "Q2",
        "output_target",
        "v_ff2",
        "r_ff1",
        "gradW1",
        "gradb2",
        "ndi_gradW2",
        "u_ndi",
        "v_ndi1",
        "trace_u",
        "trace_vs2",
        "metrics",
    ] {
        assert!(p.get(key).is_some(), "probe lacks {key}");
    }
    assert_eq!(p["x"].as_array().unwrap().len(), 8, "first minibatch");
    assert_eq!(
        p["trace_u"]["steps"].as_array().unwrap().last().unwrap(),
        50
    );
    // The probe's weights start a second run that reproduces the same first update.
    let out2 = dir.join("out2");
    let probe2 = dir.join("probe2.json");
    let o = dfcsim(&[
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--init",
        probe.to_str().unwrap(),
        "--probe-batch",
        probe2.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&probe2).unwrap()).unwrap();
    assert_eq!(p["gradW1"], p2["gradW1"]);
}

#[test]
fn bad_config_key_is_reported_with_position() {
    let dir = scratch("badcfg");
    let cfg = dir.join("cfg.toml");
    std::fs::write(&cfg, "epochs = 1\nkp = 2.0\n").unwrap();
    let o = dfcsim(&[
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cfg.toml:") && err.contains("kp"), "{err}");
}
