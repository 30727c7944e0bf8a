//! Reproduces the reference implementation's fixture (one B=4 minibatch of the toy task,
//! fixed weight-product feedback) to 1e-12.

use std::path::Path;

use dfcsim::ideal::loss::Loss;
use dfcsim::ideal::probe::{network_from_json, probe_batch};
use dfcsim::ideal::{Config, Variant};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/reference/dfc-toy/dfc_FreezeFB_WeightProduct_B4.json"
);
/// Worktrees sit one level deeper than a plain clone (`/work/wt/<name>` next to `/work/shared`).
const FIXTURE_WORKTREE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/dfc-toy/dfc_FreezeFB_WeightProduct_B4.json"
);

fn fixture_path() -> &'static str {
    if Path::new(FIXTURE).exists() {
        FIXTURE
    } else {
        FIXTURE_WORKTREE
    }
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Object(o) => o.values().for_each(|x| flatten(x, out)),
        _ => {}
    }
}

/// Largest |a − b| / max(1, |b|) over all numbers of two JSON values of the same shape.
fn max_err(ours: &Value, reference: &Value, key: &str) -> f64 {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten(ours, &mut a);
    flatten(reference, &mut b);
    assert_eq!(
        a.len(),
        b.len(),
        "`{key}`: {} numbers here, {} in the fixture",
        a.len(),
        b.len()
    );
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

fn load() -> (Value, dfcsim::ideal::Network, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(fixture_path()).expect("fixture present beside the crate");
    let fx: Value = serde_json::from_str(&text).unwrap();
    let cfg = Config::default();
    let net = network_from_json(&fx, &cfg, Path::new(fixture_path())).unwrap();
    let rows = |k: &str| -> Vec<Vec<f64>> {
        fx[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    let (x, y) = (rows("x"), rows("y"));
    (fx, net, x, y)
}

#[test]
fn reproduces_reference_fixture() {
    let (fx, net, x, y) = load();
    let xs: Vec<&[f64]> = x.iter().map(|v| v.as_slice()).collect();
    let ys: Vec<&[f64]> = y.iter().map(|v| v.as_slice()).collect();
    let cfg = Config::default();
    let ours = probe_batch(&net, &xs, &ys, &cfg, Variant::Dfc, Loss::Mse);
    let mut worst = Vec::new();
    for (key, reference) in fx.as_object().unwrap() {
        let mine = ours
            .get(key)
            .unwrap_or_else(|| panic!("probe lacks `{key}`"));
        if key == "metrics" {
            for (mk, mv) in reference.as_object().unwrap() {
                let m = mine
                    .get(mk)
                    .unwrap_or_else(|| panic!("metrics lack `{mk}`"));
                let err = if mk.ends_with("_deg") {
                    // An angle is acos of a computed cosine: compare the cosines, since
                    // acos amplifies the last-bit noise of both sides near 0°.
                    let cos = |v: &Value| -> Value {
                        let mut a = Vec::new();
                        flatten(v, &mut a);
                        serde_json::json!(
                            a.iter().map(|d| d.to_radians().cos()).collect::<Vec<_>>()
                        )
                    };
                    max_err(&cos(m), &cos(mv), mk)
                } else {
                    max_err(m, mv, mk)
                };
                worst.push((format!("metrics.{mk}"), err));
            }
        } else {
            worst.push((key.clone(), max_err(mine, reference, key)));
        }
    }
    for (k, e) in &worst {
        eprintln!("{k:32} {e:.3e}");
    }
    // Written negated so that a NaN error counts as bad.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let bad: Vec<_> = worst.iter().filter(|(_, e)| !(*e <= 1e-12)).collect();
    assert!(bad.is_empty(), "keys off by more than 1e-12: {bad:?}");
}
