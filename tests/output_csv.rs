//! CSV output: exact header, bit-exact round trip, generic and metrics CSVs.

use std::path::Path;

use dfcsim::output::{self, csv};
use dfcsim::waveform::{Signal, Unit, Waveforms};

#[test]
fn header_is_the_signal_names_and_values_round_trip() {
    let names = ["time", "v(out)", "v(x1.n2)", "i(v1)", "i(e.x1.e1)"];
    let signals = names
        .iter()
        .map(|n| Signal {
            name: n.to_string(),
            unit: output::unit_from_name(n),
        })
        .collect();
    let mut w = Waveforms::new("t", "Transient Analysis", signals);
    let mut state = 0x9e3779b97f4a7c15u64;
    for k in 0..200 {
        let mut row = [0.0; 5];
        row[0] = k as f64 * 1e-9 / 7.0;
        for v in &mut row[1..] {
            // xorshift: arbitrary bit patterns of finite doubles across all exponents
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = f64::from_bits(state);
            *v = if x.is_finite() { x } else { 1.0 / 3.0 };
        }
        w.push_row(&row);
    }
    let dir = std::env::temp_dir().join(format!("dfcsim-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rt.csv");
    csv::write(&path, &w).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("time,v(out),v(x1.n2),i(v1),i(e.x1.e1)\n0,"));
    assert_eq!(text.lines().count(), 201);
    let back = csv::read(&path).unwrap();
    assert_eq!(back.signals, w.signals);
    assert_eq!(back.plot_name, "Transient Analysis");
    assert_eq!(back.title, "rt");
    for (a, b) in w.data.iter().zip(&back.data) {
        assert_eq!(a.to_bits(), b.to_bits(), "{a:e} vs {b:e}");
    }
    assert_eq!(back.signals[1].unit, Unit::Voltage);
    assert_eq!(back.signals[3].unit, Unit::Current);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_training_metrics_with_empty_cells() {
    let text = "epoch,train_loss,test_loss,test_error,c1,c2,angle_gn_deg\r\n\
                0,0.51,0.52,,0.1,0.9,45.5\r\n\
                1,0.31,0.33,,0.1,0.8,40\r\n";
    let w = csv::parse(Path::new("run/metrics.csv"), text).unwrap();
    assert_eq!(w.signals[0].name, "epoch");
    assert_eq!(w.title, "metrics");
    assert_eq!(w.rows(), 2);
    assert!(w.row(1)[3].is_nan());
    assert_eq!(w.row(1)[6], 40.0);
}

#[test]
fn reads_foreign_csv_with_spaces_and_exponents() {
    let text = "time, v(a) ,custom\n0, 1E-3, -INF\n1e-6, 2.5e+00, nan\n";
    let w = csv::parse(Path::new("x.csv"), text).unwrap();
    assert_eq!(w.signals[1].name, "v(a)");
    assert_eq!(w.row(0)[1], 1e-3);
    assert_eq!(w.row(0)[2], f64::NEG_INFINITY);
    assert!(w.row(1)[2].is_nan());
    assert_eq!(w.signals[2].unit, Unit::None);
}
