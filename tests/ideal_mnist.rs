//! MNIST / Fashion-MNIST support of `dfcsim ideal`: IDX files (plain and gzipped) that the
//! tests write themselves, the validation split, the Table 1 defaults, training on a small
//! separable toy, and clear errors for missing or malformed files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::ideal::config::{Config, FeedbackMode, OptimizerKind, Variant, VisionTask};
use dfcsim::ideal::data::{self, PixelScaling};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dfcsim_mnist_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const SIDE: usize = 6;

/// Image bytes of sample `k` of the toy: class `k % 10` lights pixels 2c and 2c+1 of a 6×6
/// image (linearly separable), over a faint deterministic background.
fn toy_image(k: usize) -> Vec<u8> {
    let class = k % 10;
    (0..SIDE * SIDE)
        .map(|p| {
            if p / 2 == class {
                200 + (k % 50) as u8
            } else {
                ((k * 7 + p * 13) % 60) as u8
            }
        })
        .collect()
}

fn idx_images(n: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [n, SIDE, SIDE] {
        b.extend((v as u32).to_be_bytes());
    }
    (0..n).for_each(|k| b.extend(toy_image(k)));
    b
}

fn idx_labels(n: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((n as u32).to_be_bytes());
    b.extend((0..n).map(|k| (k % 10) as u8));
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The four IDX files: training images gzipped, the rest plain (both forms in one set).
fn write_toy(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::write(
        dir.join("train-images-idx3-ubyte.gz"),
        gzip(&idx_images(n_train)),
    )
    .unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(n_train)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(n_test)).unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte.gz"),
        gzip(&idx_labels(n_test)),
    )
    .unwrap();
}

fn dfcsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .arg("ideal")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn plain_and_gzipped_idx_read_the_same_bytes() {
    let dir = scratch("gz");
    std::fs::write(dir.join("a"), idx_images(7)).unwrap();
    std::fs::write(dir.join("b.gz"), gzip(&idx_images(7))).unwrap();
    let (n, px, plain) = data::read_idx_images(&dir.join("a")).unwrap();
    let (_, _, gz) = data::read_idx_images(&dir.join("b.gz")).unwrap();
    assert_eq!((n, px), (7, SIDE * SIDE));
    assert_eq!(plain, gz);
    assert_eq!(&plain[SIDE * SIDE..2 * SIDE * SIDE], &toy_image(1)[..]);
    std::fs::write(dir.join("l.gz"), gzip(&idx_labels(13))).unwrap();
    let labels = data::read_idx_labels(&dir.join("l.gz")).unwrap();
    assert_eq!(labels, (0..13).map(|k| (k % 10) as u8).collect::<Vec<_>>());
}

#[test]
fn idx_dir_scales_pixels_and_splits_validation_at_random() {
    let dir = scratch("split");
    write_toy(&dir, 60, 20);
    let s = data::load_idx_dir(&dir, PixelScaling::MNIST, 25, 3).unwrap();
    assert!(s.classification);
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (35, 25, 20));
    assert_eq!((s.train.x.cols, s.train.y.cols), (SIDE * SIDE, 10));
    // Test set in file order, standardised pixels, one-hot labels.
    let x0 = (toy_image(3)[5] as f64 / 255.0 - 0.1307) / 0.3081;
    assert!((s.test.x.row(3)[5] - x0).abs() < 1e-15);
    assert_eq!(s.test.y.row(3)[3], 1.0);
    assert_eq!(s.test.y.row(3).iter().sum::<f64>(), 1.0);
    // Train ∪ val is the training file, each sample once; the labels travel with the
    // images; the split depends on the seed only.
    let mut seen: Vec<usize> = Vec::new();
    for set in [&s.train, &s.val] {
        for r in 0..set.len() {
            let k = (0..60)
                .find(|&k| {
                    toy_image(k)
                        .iter()
                        .zip(set.x.row(r))
                        .all(|(&b, &x)| ((b as f64 / 255.0 - 0.1307) / 0.3081 - x).abs() < 1e-15)
                })
                .expect("row comes from the training file");
            assert_eq!(set.y.row(r)[k % 10], 1.0);
            seen.push(k);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
    assert_eq!(
        data::load_idx_dir(&dir, PixelScaling::MNIST, 25, 3).unwrap(),
        s
    );
    assert_ne!(
        data::load_idx_dir(&dir, PixelScaling::MNIST, 25, 4)
            .unwrap()
            .val,
        s.val
    );
    // Fashion-MNIST is not standardised by the reference: pixels in [0, 1].
    let f = data::load_idx_dir(&dir, PixelScaling::UNIT, 25, 3).unwrap();
    assert!((f.test.x.row(3)[5] - toy_image(3)[5] as f64 / 255.0).abs() < 1e-15);
}

#[test]
fn table1_defaults_follow_the_reference_configs() {
    let c = Config::vision(VisionTask::Mnist, Variant::Dfc, FeedbackMode::Learned);
    assert_eq!(c.hidden, vec![256, 256, 256]);
    assert_eq!(c.optimizer, OptimizerKind::Adam);
    assert_eq!(
        (c.batch_size, c.epochs, c.steps, c.steps_fb),
        (128, 100, 1000, 48)
    );
    assert_eq!((c.k_p, c.dt, c.time_constant_ratio), (2.0, 0.02, 0.2));
    assert!((c.alpha - 0.00139).abs() < 1e-5 && (c.target_stepsize - 0.0779).abs() < 1e-4);
    assert_eq!(
        (c.epochs_fb, c.fb_epochs_before, c.extra_fb_epochs),
        (10, 1, 2)
    );
    assert!(c.shuffle);
    c.validate().unwrap();
    let bp = Config::vision(VisionTask::Mnist, Variant::Bp, FeedbackMode::Fixed);
    assert!((bp.effective_lr() - 2.9776e-4).abs() < 1e-7);
    let f = Config::vision(
        VisionTask::FashionMnist,
        Variant::DfcSsa,
        FeedbackMode::Fixed,
    );
    assert!((f.alpha - 0.7985).abs() < 1e-4 && (f.effective_lr() - 5.4239e-4).abs() < 1e-7);
    let fs = Config::vision(
        VisionTask::FashionMnist,
        Variant::DfcSs,
        FeedbackMode::Fixed,
    );
    assert_eq!((fs.dt, fs.steps), (0.0005, 3000));
}

fn read_rows(out: &Path) -> Vec<Vec<String>> {
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), dfcsim::cli::ideal::CSV_HEADER);
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Trains `variant` on the toy with a small network and returns metrics.csv rows and
/// summary.json.
fn train_toy(
    name: &str,
    task: &str,
    variant: &str,
    feedback: &str,
    epochs: &str,
    extra_cfg: &str,
) -> (Vec<Vec<String>>, serde_json::Value) {
    let dir = scratch(name);
    write_toy(&dir, 400, 100);
    let cfg = dir.join("cfg.toml");
    std::fs::write(
        &cfg,
        format!("hidden = [16]\nbatch_size = 20\nmetrics_samples = 4\n{extra_cfg}"),
    )
    .unwrap();
    let out = dir.join("out");
    let o = dfcsim(&[
        "--task",
        task,
        "--variant",
        variant,
        "--feedback",
        feedback,
        "--epochs",
        epochs,
        "--quiet",
        "--data",
        dir.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (read_rows(&out), summary)
}

fn col(row: &[String], i: usize) -> f64 {
    row[i]
        .parse()
        .unwrap_or_else(|_| panic!("column {i} of {row:?}"))
}

fn assert_learns(
    rows: &[Vec<String>],
    summary: &serde_json::Value,
    loss_ratio: f64,
    max_error: f64,
) {
    let (first, last) = (&rows[0], rows.last().unwrap());
    // train_loss (1), test_error (3), val_error (12).
    assert!(
        col(last, 1) < loss_ratio * col(first, 1),
        "train loss {} → {}",
        col(first, 1),
        col(last, 1)
    );
    assert!(col(last, 3) <= max_error, "test error {} %", col(last, 3));
    assert!(col(last, 12) <= max_error, "val error {} %", col(last, 12));
    let best = &summary["best_validation"];
    let best_epoch = best["epoch"].as_u64().unwrap() as usize;
    let best_val = best["val_error"].as_f64().unwrap();
    assert!(rows.iter().all(|r| col(r, 12) >= best_val));
    assert_eq!(
        best["test_error"].as_f64().unwrap(),
        col(&rows[best_epoch - 1], 3)
    );
    assert_eq!(summary["training_samples"], 200);
    assert_eq!(summary["validation_samples"], 200);
    assert_eq!(summary["test_samples"], 100);
}

#[test]
fn bp_learns_the_toy_with_mnist_defaults() {
    // Reference BP optimiser (Adam, lr/λ); a larger lr suits the tiny network.
    let (rows, s) = train_toy("bp", "mnist", "bp", "fixed", "6", "lr = 5e-6\n");
    assert_eq!(rows.len(), 6);
    assert_learns(&rows, &s, 0.5, 10.0);
    assert_eq!(s["config"]["optimizer"], "adam");
    assert_eq!(s["config"]["shuffle"], true);
}

#[test]
fn dfc_ssa_with_learned_feedback_learns_the_fashion_toy() {
    let (rows, s) = train_toy(
        "ssa",
        "fashion-mnist",
        "dfc-ssa",
        "learned",
        "6",
        // Feedback pre-training fast enough for a few epochs of a tiny network.
        "lr = 5e-4\nepochs_fb = 10\nlr_fb_init = 0.01\nlr_fb = 0.002\n",
    );
    // Slower than BP on this toy (the feedback weights start random): well below chance.
    assert_learns(&rows, &s, 0.95, 80.0);
    assert_eq!(s["feedback"], "learned");
    // Metrics are computed on the first minibatch of each epoch.
    assert!(col(&rows[5], 5) > 0.5, "Condition 2 present and trained");
}

#[test]
fn simulated_dfc_learns_the_toy() {
    let (rows, s) = train_toy(
        "dfc",
        "mnist",
        "dfc",
        "fixed",
        "5",
        "lr = 2e-4\nsteps = 100\n",
    );
    assert_learns(&rows, &s, 0.7, 10.0);
    assert_eq!(s["config"]["steps"], 100);
}

/// Runs the CLI on `dir` and returns its stderr, which must report an error (no panic).
fn failing_run(dir: &Path) -> String {
    let out = dir.join("out");
    let o = dfcsim(&[
        "--task",
        "mnist",
        "--variant",
        "bp",
        "--epochs",
        "1",
        "--quiet",
        "--data",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_idx_files_give_errors_naming_the_file() {
    let dir = scratch("bad");
    write_toy(&dir, 40, 10);
    let train_img = dir.join("train-images-idx3-ubyte.gz");

    // Missing file: names the expected file and the spellings tried.
    std::fs::remove_file(dir.join("t10k-images-idx3-ubyte")).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("t10k-images-idx3-ubyte") && e.contains("not found"),
        "{e}"
    );
    write_toy(&dir, 40, 10);

    // Wrong magic (a label file where images belong).
    std::fs::write(&train_img, gzip(&idx_labels(40))).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("magic"),
        "{e}"
    );

    // Truncated image data.
    let mut short = idx_images(40);
    short.truncate(short.len() - 5);
    std::fs::write(&train_img, gzip(&short)).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("header says 40 images"),
        "{e}"
    );

    // Corrupt gzip stream.
    let mut gz = gzip(&idx_images(40));
    gz.truncate(gz.len() / 2);
    std::fs::write(&train_img, gz).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("gzip"),
        "{e}"
    );
    write_toy(&dir, 40, 10);

    // Label count differs from the image count.
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(39)).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("39 labels"),
        "{e}"
    );

    // A label outside 0..9.
    let mut lab = idx_labels(40);
    lab[8 + 17] = 12;
    std::fs::write(dir.join("train-labels-idx1-ubyte"), lab).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("label 12 at index 17"),
        "{e}"
    );
    write_toy(&dir, 40, 10);

    // Test images of another size than the training images.
    let mut other = vec![0, 0, 8, 3];
    for v in [10u32, 5, 5] {
        other.extend(v.to_be_bytes());
    }
    other.extend(vec![0u8; 250]);
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), other).unwrap();
    let e = failing_run(&dir);
    assert!(
        e.contains("t10k-images-idx3-ubyte") && e.contains("25 pixels"),
        "{e}"
    );

    // No data directory at all.
    let e = failing_run(&dir.join("nope"));
    assert!(e.contains("nope") && e.contains("not found"), "{e}");
}
