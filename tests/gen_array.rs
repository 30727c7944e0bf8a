//! `dfcsim gen` array form: the side files describe exactly the network that was drawn,
//! `--init` reads them back to the same netlist, and bad input gives clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfcsim_gen_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn dfcsim(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect()
}

#[test]
fn conductance_files_encode_the_weights() {
    let dir = temp_dir("array");
    let net = dir.join("toy.cir");
    let (ok, err) = dfcsim(&[
        "gen",
        "--arch",
        "15-10-10-5",
        "--seed",
        "3",
        "-o",
        net.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&net).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("toy_weights.json")).unwrap())
            .unwrap();
    let r_f = 1e5;
    // conductance range as the netlist states it (from netlists/models/ideal.lib)
    let param = |key: &str| -> f64 {
        let at = text.find(&format!(" {key}=")).unwrap() + key.len() + 2;
        text[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (g_min, g_max) = (param("gmin"), param("gmax"));
    assert!(g_max > g_min && g_min >= 0.0);
    let arch = [15usize, 10, 10, 5];
    for i in 1..=3 {
        for (m, rows) in [("W", arch[i - 1] + 1), ("Q", 5)] {
            let name = format!("{m}{i}");
            let gp = read_csv(&dir.join(format!("toy_{name}_gp.csv")));
            let gn = read_csv(&dir.join(format!("toy_{name}_gn.csv")));
            assert_eq!((gp.len(), gp[0].len()), (rows, arch[i]), "{name} shape");
            assert!(text.contains(&format!(
                ".model xbar_{} crossbar(rows={rows} cols={}",
                name.to_lowercase(),
                arch[i]
            )));
            for k in 0..arch[i] {
                for j in 0..rows {
                    let want = if m == "W" && j == arch[i - 1] {
                        json[format!("b{i}")][k].as_f64().unwrap()
                    } else {
                        json[&name][k][j].as_f64().unwrap()
                    };
                    let got = r_f * (gp[j][k] - gn[j][k]);
                    assert!(
                        (got - want).abs() < 1e-12,
                        "{name}[{k}][{j}]: {got} vs {want}"
                    );
                    assert!(gp[j][k].min(gn[j][k]) == g_min && gp[j][k].max(gn[j][k]) <= g_max);
                }
            }
        }
    }
    // Fixed weight-product feedback: Q2 = W3ᵀ, Q3 = I.
    for r in 0..10 {
        for c in 0..5 {
            assert_eq!(json["Q2"][r][c], json["W3"][c][r]);
        }
    }
    assert_eq!(json["Q3"][2][2].as_f64(), Some(1.0));
    assert_eq!(json["Q3"][2][3].as_f64(), Some(0.0));
    for dev in [
        "AN1 ",
        "AN3 ",
        "ACTL ",
        "AX ",
        "AT ",
        ".learn ",
        "plastic=w1,w2,w3 fixed=q1,q2,q3",
    ] {
        assert!(text.contains(dev), "array netlist lacks `{dev}`");
    }
    // --init with the written weights gives the same netlist (apart from the command line).
    let again = dir.join("again.cir");
    let json_path = dir.join("toy_weights.json");
    let (ok, err) = dfcsim(&[
        "gen",
        "--arch",
        "15-10-10-5",
        "--seed",
        "3",
        "--init",
        json_path.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("* command:") && !l.contains("_weights.json"))
            .map(|l| l.replace("again_", "toy_"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&text),
        strip(&std::fs::read_to_string(&again).unwrap())
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn same_seed_same_bytes_and_flat_form_has_no_array_devices() {
    let dir = temp_dir("seed");
    // an empty models directory: the built-in ideal preset (G in [1 µS, 50 µS])
    let models = dir.join("no_models");
    std::fs::create_dir_all(&models).unwrap();
    let gen_flat = |name: &str, models_dir: Option<&Path>| -> String {
        let p = dir.join(name);
        let mut args = vec![
            "gen",
            "--arch",
            "4-3-2",
            "--flat",
            "-o",
            p.to_str().unwrap(),
        ];
        if let Some(m) = models_dir {
            args.extend(["--models-dir", m.to_str().unwrap()]);
        }
        let (ok, err) = dfcsim(&args);
        assert!(ok, "{err}");
        std::fs::read_to_string(&p).unwrap()
    };
    let (ta, tb) = (
        gen_flat("a.cir", Some(&models)),
        gen_flat("b.cir", Some(&models)),
    );
    let body = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with('*'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&ta), body(&tb));
    let array_cards =
        |l: &str| l.starts_with('A') || l.starts_with(".learn") || l.starts_with(".model");
    assert!(!ta.lines().any(array_cards));
    let crossbar_resistors = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("Rw") || l.starts_with("Rq"))
            .count()
    };
    // 4-3-2: (5·3 + 3·2 + 2·3 + 2·2 cells) · 2 conductances, all ≥ G_min > 0
    assert_eq!(crossbar_resistors(&ta), 2 * (5 * 3 + 2 * 3 + 4 * 2 + 2 * 2));
    // With the shipped ideal preset (G_min = 0) a zero conductance is an open cell: one
    // resistor per non-zero weight (biases are 0, Q_L = I has 2 non-zero entries).
    let tc = gen_flat("c.cir", None);
    if tc.contains("G in [0,") {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("c_weights.json")).unwrap())
                .unwrap();
        let count = |key: &str| -> usize {
            let rows = json[key].as_array().unwrap();
            rows.iter()
                .flat_map(|r| match r.as_array() {
                    Some(x) => x.iter().map(|v| v.as_f64().unwrap()).collect(),
                    None => vec![r.as_f64().unwrap()],
                })
                .filter(|w| *w != 0.0)
                .count()
        };
        let nonzero: usize = ["W1", "b1", "Q1", "W2", "b2", "Q2"]
            .iter()
            .map(|k| count(k))
            .sum();
        assert_eq!(crossbar_resistors(&tc), nonzero);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn clear_errors() {
    let dir = temp_dir("errors");
    let out = dir.join("x.cir");
    let o = out.to_str().unwrap();
    let (ok, err) = dfcsim(&["gen", "--arch", "15-x-5", "-o", o]);
    assert!(!ok && err.contains("15-x-5"), "{err}");
    let models = dir.to_str().unwrap();
    let (ok, err) = dfcsim(&[
        "gen",
        "--arch",
        "4-3-2",
        "--hardware",
        "rram",
        "--models-dir",
        models,
        "-o",
        o,
    ]);
    assert!(!ok && err.contains("rram.lib"), "{err}");
    // A weight beyond R_f·(G_max − G_min) is refused with a hint.
    let (ok, err) = dfcsim(&["gen", "--arch", "4-3-2", "--rf", "1e3", "-o", o]);
    assert!(!ok && err.contains("--rf"), "{err}");
    let (ok, err) = dfcsim(&[
        "gen",
        "--arch",
        "4-3-2",
        "--init",
        "/nonexistent.json",
        "-o",
        o,
    ]);
    assert!(!ok && err.contains("/nonexistent.json"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Run from a directory without `netlists/models`, `gen --hardware rram` still finds the
/// shipped preset (the source tree's `netlists/models`), and the netlist includes it.
#[test]
fn presets_are_found_from_any_working_directory() {
    let dir = temp_dir("cwd");
    let out = Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .current_dir(&dir)
        .args([
            "gen",
            "--arch",
            "4-3-2",
            "--hardware",
            "rram",
            "-o",
            "net.cir",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = std::fs::read_to_string(dir.join("net.cir")).unwrap();
    assert!(text.contains("rram preset"), "not the rram preset");
    assert!(text.contains("rram.lib"), "no include of rram.lib");
    std::fs::remove_dir_all(&dir).ok();
}
