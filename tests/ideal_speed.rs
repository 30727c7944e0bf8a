//! Throughput benchmark of the ideal model (ignored by default; run through
//! `bench/ideal_speed.sh`). Prints µs per sample and the ratio to the reference figures
//! of issue 4 (torch, float64, one thread, B = 128).

use std::time::Instant;

use dfcsim::ideal::config::{Config, FeedbackMode, Variant};
use dfcsim::ideal::controller::ApicalNoise;
use dfcsim::ideal::data;
use dfcsim::ideal::dfc;
use dfcsim::ideal::feedback;
use dfcsim::ideal::loss::Loss;
use dfcsim::ideal::train::{self, TrainSpec};

/// Reference figures (ms per sample) from the issue.
const REF_FORWARD_MS: f64 = 3.9;
const REF_EPOCH_FIXED_MS: f64 = 4.8;
const REF_EPOCH_LEARNED_MS: f64 = 6.3;
const REF_SSA_MS: f64 = 0.39;

/// CPU seconds (user + system) of this process so far, from /proc (the machine is
/// shared, so wall time alone overstates the cost); None where /proc is missing.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit(')').next()?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

struct Timer(Instant, Option<f64>);

fn start() -> Timer {
    Timer(Instant::now(), cpu_seconds())
}

fn report(name: &str, samples: usize, t: Timer, reference_ms: f64) {
    let wall = t.0.elapsed().as_secs_f64();
    let cpu = match (t.1, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall,
    };
    let ms = 1e3 * cpu / samples as f64;
    println!(
        "{name:36} {:9.0} samples/s (CPU) {:8.4} ms/sample CPU, {:8.4} wall; reference {reference_ms} ms: {:6.1}x",
        samples as f64 / cpu,
        ms,
        1e3 * wall / samples as f64,
        reference_ms / ms
    );
}

#[test]
#[ignore]
fn ideal_speed() {
    let threads: usize = std::env::var("IDEAL_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    println!("threads: {threads}");
    let cfg = Config::default();
    let splits = data::student_teacher_sized(42, 15, &[64, 64], 5, [1024, 256, 256]);
    let spec = TrainSpec {
        variant: Variant::Dfc,
        feedback: FeedbackMode::Fixed,
        loss: Loss::Mse,
    };
    let net = train::initial_network(&cfg, &spec, 15, 5);
    let b = 128;
    let xs: Vec<&[f64]> = (0..b).map(|i| splits.train.x.row(i)).collect();
    let ys: Vec<&[f64]> = (0..b).map(|i| splits.train.y.row(i)).collect();
    let p = cfg.forward_params();
    pool.install(|| {
        let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, cfg.target_stepsize);
        let reps = 16;
        let t = start();
        for _ in 0..reps {
            std::hint::black_box(dfc::simulate_batch(&net, &xs, &bf, &p, true, &[]));
        }
        report(
            "DFC forward phase (1000 steps)",
            reps * b,
            t,
            REF_FORWARD_MS,
        );
        // Peer in the same run: the scalar path (a trace request forces it).
        let t = start();
        std::hint::black_box(dfc::simulate_batch(&net, &xs, &bf, &p, true, &[0]));
        report("  same, scalar path", b, t, REF_FORWARD_MS);
        large_network_forward();
        let t = start();
        for _ in 0..reps * 10 {
            std::hint::black_box(dfc::ssa_batch(&net, &xs, &bf, p.alpha, None));
        }
        report("DFC-SSA update", reps * 10 * b, t, REF_SSA_MS);
        let pf = cfg.feedback_params();
        let noise = ApicalNoise {
            sigma: cfg.sigma_fb,
            sigma_out: cfg.sigma_output_fb,
        };
        let t = start();
        for k in 0..reps * 10 {
            std::hint::black_box(feedback::feedback_gradients(
                &net, &xs, &pf, noise, 1, k as u64,
            ));
        }
        report("feedback phase (50 steps)", reps * 10 * b, t, 0.23);
        // Whole epochs of the toy task with metrics, fixed and learned feedback.
        let mut c1 = cfg.clone();
        c1.epochs = 1;
        c1.epochs_fb = 0;
        for (fb, reference) in [
            (FeedbackMode::Fixed, REF_EPOCH_FIXED_MS),
            (FeedbackMode::Learned, REF_EPOCH_LEARNED_MS),
        ] {
            let spec = TrainSpec {
                variant: Variant::Dfc,
                feedback: fb,
                loss: Loss::Mse,
            };
            let t = start();
            let r = train::train(&c1, &spec, &splits, net.clone(), |_, _, _| {}, |_| {});
            assert_eq!(r.rows.len(), 1);
            report(
                &format!("training epoch, {fb:?} feedback"),
                splits.train.len(),
                t,
                reference,
            );
        }
    });
}

/// Forward phase of an MNIST-sized network (784-256-256-256-10, tanh, 1000 steps) for a
/// few samples: lane kernel and scalar path (no reference figure).
fn large_network_forward() {
    let cfg = Config {
        hidden: vec![256, 256, 256],
        ..Config::default()
    };
    let spec = TrainSpec {
        variant: Variant::Dfc,
        feedback: FeedbackMode::Fixed,
        loss: Loss::Mse,
    };
    let net = train::initial_network(&cfg, &spec, 784, 10);
    let b = 8;
    let xs_own: Vec<Vec<f64>> = (0..b)
        .map(|s| {
            (0..784)
                .map(|k| ((k * 7 + s * 13) % 17) as f64 / 17.0)
                .collect()
        })
        .collect();
    let ys_own: Vec<Vec<f64>> = (0..b)
        .map(|s| (0..10).map(|k| if k == s { 1.0 } else { 0.0 }).collect())
        .collect();
    let xs: Vec<&[f64]> = xs_own.iter().map(|v| v.as_slice()).collect();
    let ys: Vec<&[f64]> = ys_own.iter().map(|v| v.as_slice()).collect();
    let p = cfg.forward_params();
    let bf = dfc::forward_batch(&net, &xs, &ys, Loss::Mse, cfg.target_stepsize);
    for (name, trace) in [
        ("784-256-256-256-10 forward, lanes", &[][..]),
        ("  same, scalar path", &[0][..]),
    ] {
        let t = start();
        std::hint::black_box(dfc::simulate_batch(&net, &xs, &bf, &p, true, trace));
        report(name, b, t, REF_FORWARD_MS);
    }
}
