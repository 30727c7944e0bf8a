//! `dfcsim device` end to end, and the preset libraries.

use std::path::Path;
use std::process::Command;

use dfcsim::elaborate::load_models;
use dfcsim::learn::device::{DeviceKind, DeviceParams};

fn dfcsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run dfcsim")
}

#[test]
fn presets_load_and_cite_their_sources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("netlists/models");
    for (preset, kind) in [
        ("ideal", DeviceKind::Ideal),
        ("rram", DeviceKind::SoftBounds),
        ("pcm", DeviceKind::ExpStep),
        ("ecram", DeviceKind::LinearStep),
    ] {
        let path = dir.join(format!("{preset}.lib"));
        let models = load_models(&path).unwrap();
        let synapse = models.iter().find(|m| m.name == "synapse").unwrap();
        let p = DeviceParams::from_model(synapse).unwrap();
        assert_eq!(p.kind, kind, "{preset}");
        assert_eq!((p.g_min, p.g_max), (0.0, 25e-6), "{preset}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("aihwkit"), "{preset} cites no source");
        // The card repeats its aihwkit preset's values: loading it equals the named preset
        // plus dfcsim's own parameters.
        if preset != "ideal" {
            let named = DeviceParams::named(&synapse.kind).unwrap();
            let same = DeviceParams {
                preset: p.preset.clone(),
                g_min: p.g_min,
                g_max: p.g_max,
                read_noise_std: p.read_noise_std,
                drift_nu: p.drift_nu,
                drift_nu_dtod: p.drift_nu_dtod,
                drift_t_0: p.drift_t_0,
                // The card writes 0.3/0.75 as 0.4 (one ulp off aihwkit's quotient).
                w_min_dtod: p.w_min_dtod,
                w_max_dtod: p.w_max_dtod,
                ..named.clone()
            };
            assert!((p.w_min_dtod - named.w_min_dtod).abs() < 1e-15, "{preset}");
            assert!((p.w_max_dtod - named.w_max_dtod).abs() < 1e-15, "{preset}");
            assert_eq!(p, same, "{preset}: card differs from aihwkit preset");
        }
    }
}

#[test]
fn json_statistics_of_an_aihwkit_type() {
    let out = dfcsim(&[
        "device",
        "ConstantStep",
        "--devices",
        "20000",
        "--pulses",
        "100,1,10",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let ks: Vec<u64> = rows.iter().map(|r| r["pulses"].as_u64().unwrap()).collect();
    assert_eq!(ks, [1, 10, 100]);
    let up1 = rows[0]["up_mean"].as_f64().unwrap();
    let rel1 = rows[0]["up_std"].as_f64().unwrap() / up1;
    assert!((up1 / 0.001 - 1.0).abs() < 0.05, "{up1}");
    assert!((rel1 / 0.43 - 1.0).abs() < 0.05, "{rel1}");
    assert!(v["up_at_bound"].as_f64().unwrap() < 0.01);
}

#[test]
fn set_overrides_and_table_output() {
    let out = dfcsim(&[
        "device",
        "synapse",
        "--lib",
        "netlists/models/ecram.lib",
        "--set",
        "dw_min_std=0,dw_min_dtod=0,up_down_dtod=0,gamma_up_dtod=0,gamma_down_dtod=0",
        "--pulses",
        "1",
        "--devices",
        "50",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // From w = 0 the LinearStep step is exactly dw_min = 0.002 in both directions.
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    let cols: Vec<f64> = row.split_whitespace().map(|c| c.parse().unwrap()).collect();
    assert!((cols[1] - 0.002).abs() < 1e-15, "{row}");
    assert!((cols[3] + 0.002).abs() < 1e-15, "{row}");
    assert!(text.contains("at a bound after 1 pulses"));
}

#[test]
fn errors_name_the_parameter_and_the_place() {
    let dir = std::env::temp_dir().join(format!("dfcsim_device_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("bad.lib");
    std::fs::write(
        &lib,
        "* test\n.model d linearstep (gamma_up=0.1\n+ gama_down=0.2)\n",
    )
    .unwrap();
    let out = dfcsim(&["device", "d", "--lib", lib.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gama_down") && err.contains("bad.lib:2:1"),
        "{err}"
    );

    let out = dfcsim(&["device", "constantstep", "--set", "pow_gamma=2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pow_gamma"));

    let out = dfcsim(&["device", "nosuchdevice"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lib"));

    let out = dfcsim(&["device", "missing", "--lib", lib.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("models there: d"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plot_writes_a_png() {
    let path = std::env::temp_dir().join(format!("dfcsim_device_{}.png", std::process::id()));
    let out = dfcsim(&[
        "device",
        "softbounds",
        "--devices",
        "200",
        "--pulses",
        "10,200",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    std::fs::remove_file(&path).ok();
}
