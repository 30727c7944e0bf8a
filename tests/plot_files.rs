//! Plots: each file is produced, has the expected size, is not blank, shows the series'
//! colours; SVGs carry the title; the `dfcsim plot` command works end to end.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dfcsim::output::{self, raw};
use dfcsim::plot::{self, Axis, Bar, BarChart, Figure, Panel, PlotSpec, Series};
use dfcsim::waveform::{Signal, Unit, Waveforms};

/// Scratch directory; with `DFCSIM_KEEP_PLOTS=DIR` the pictures stay in `DIR/TAG` to be looked at.
fn temp_dir(tag: &str) -> PathBuf {
    let d = match std::env::var_os("DFCSIM_KEEP_PLOTS") {
        Some(keep) => PathBuf::from(keep).join(tag),
        None => std::env::temp_dir().join(format!("dfcsim-plot-{tag}-{}", std::process::id())),
    };
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn clean(dir: &Path) {
    if std::env::var_os("DFCSIM_KEEP_PLOTS").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

struct Picture {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

fn decode_png(path: &Path) -> Picture {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    Picture {
        width: info.width,
        height: info.height,
        pixels,
    }
}

impl Picture {
    fn distinct_colours(&self) -> usize {
        self.pixels.iter().collect::<HashSet<_>>().len()
    }
    fn non_white_fraction(&self) -> f64 {
        let n = self
            .pixels
            .iter()
            .filter(|p| **p != [255, 255, 255])
            .count();
        n as f64 / self.pixels.len() as f64
    }
    /// Pixels close to palette colour `i` (curves are drawn in these).
    fn count_near(&self, c: (u8, u8, u8)) -> usize {
        self.pixels
            .iter()
            .filter(|p| {
                p.iter()
                    .zip([c.0, c.1, c.2])
                    .all(|(a, b)| a.abs_diff(b) <= 40)
            })
            .count()
    }
}

fn assert_drawn(path: &Path, size: (u32, u32), series: usize) -> Picture {
    let pic = decode_png(path);
    assert_eq!((pic.width, pic.height), size, "{}", path.display());
    assert!(
        pic.distinct_colours() >= 2 + series,
        "{} colours",
        pic.distinct_colours()
    );
    let ink = pic.non_white_fraction();
    assert!((0.01..0.6).contains(&ink), "ink fraction {ink}");
    for i in 0..series.min(plot::PALETTE.len()) {
        let c = plot::PALETTE[i];
        assert!(
            pic.count_near((c.0, c.1, c.2)) > 150,
            "series colour {i} hardly drawn in {}",
            path.display()
        );
    }
    pic
}

fn ngspice_tran() -> Waveforms {
    let plots = raw::read(&data("ngspice_rc_binary.raw")).unwrap();
    output::main_plot(&plots).unwrap().clone()
}

#[test]
fn waveforms_png_and_svg() {
    let dir = temp_dir("wave");
    let tran = ngspice_tran();
    let spec = PlotSpec::default();
    let fig = plot::waveforms_figure(&tran, &spec).unwrap();
    // voltages and currents: two stacked panels
    assert_eq!(fig.panels.len(), 2);
    assert_eq!(fig.panels[0].y.unit, "V");
    assert_eq!(fig.panels[1].y.unit, "A");
    let png = dir.join("rc.png");
    plot::waveforms(&tran, &spec, &png).unwrap();
    assert_drawn(&png, fig.size(), 5);

    let svg = dir.join("rc.svg");
    plot::waveforms(&tran, &spec, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    assert!(
        text.contains("rc divider with a subcircuit"),
        "title missing"
    );
    assert!(
        text.contains("time [µs]"),
        "time axis with SI prefix missing"
    );
    assert!(text.contains("i(v.x1.vx)"), "legend entry missing");
    clean(&dir);
}

#[test]
fn glob_selection_window_and_panels() {
    let tran = ngspice_tran();
    let spec = PlotSpec {
        signals: vec!["v(*)".into()],
        from: Some(1e-6),
        to: Some(2e-6),
        ..PlotSpec::default()
    };
    let fig = plot::waveforms_figure(&tran, &spec).unwrap();
    assert_eq!(fig.panels.len(), 1);
    let names: Vec<&str> = fig.panels[0]
        .series
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(names, ["v(in)", "v(out)", "v(x1.mid)"]);
    let x = &fig.panels[0].series[0].x;
    assert!(x.iter().all(|&t| (1e-6..=2e-6).contains(&t)) && x.len() >= 2);
    // node-name patterns reach inside v(…)
    let spec = PlotSpec {
        signals: vec!["x1.*".into(), "i(v1)".into()],
        ..PlotSpec::default()
    };
    let fig = plot::waveforms_figure(&tran, &spec).unwrap();
    let names: Vec<&str> = fig
        .panels
        .iter()
        .flat_map(|p| p.series.iter().map(|s| s.label.as_str()))
        .collect();
    assert_eq!(names, ["v(x1.mid)", "i(v1)"]);
    let spec = PlotSpec {
        signals: vec!["v(nothing*)".into()],
        ..PlotSpec::default()
    };
    let e = plot::waveforms_figure(&tran, &spec)
        .unwrap_err()
        .to_string();
    assert!(e.contains("v(nothing*)") && e.contains("v(out)"), "{e}");
    // an operating point has no curve
    let plots = raw::read(&data("ngspice_rc_binary.raw")).unwrap();
    assert!(plot::waveforms_figure(&plots[0], &PlotSpec::default()).is_err());
}

#[test]
fn lines_api_with_log_axis_and_many_series() {
    let dir = temp_dir("lines");
    let epochs: Vec<f64> = (0..60).map(f64::from).collect();
    let series: Vec<Series> = (0..14)
        .map(|k| Series {
            label: format!("configuration number {k}"),
            x: epochs.clone(),
            y: epochs
                .iter()
                .map(|e| (1.0 + k as f64) * 0.5 * (-e / 15.0).exp() + 1e-3)
                .collect(),
            color: k,
            ..Series::default()
        })
        .collect();
    let panel = Panel {
        title: "test loss".into(),
        x: Axis::new("epoch", ""),
        y: Axis::new("loss", "").log(true),
        series,
    };
    let fig = Figure::new("overlaid losses", vec![panel]);
    let png = dir.join("losses.png");
    plot::lines(&fig, &png).unwrap();
    assert_drawn(&png, fig.size(), 10);
    // nothing finite to draw is an error, not an empty picture
    let empty = Figure::new(
        "empty",
        vec![Panel {
            series: vec![Series {
                x: vec![0.0, 1.0],
                y: vec![f64::NAN, f64::NAN],
                ..Series::default()
            }],
            ..Panel::default()
        }],
    );
    assert!(plot::lines(&empty, &dir.join("empty.png")).is_err());
    assert!(plot::lines(&fig, &dir.join("x.jpg")).is_err());
    clean(&dir);
}

#[test]
fn bar_chart_png() {
    let dir = temp_dir("bar");
    let bars = ["ideal", "rram", "pcm", "ecram"]
        .iter()
        .enumerate()
        .map(|(i, l)| Bar {
            label: l.to_string(),
            value: [0.031, 0.082, 0.12, 0.045][i],
            color: i,
        })
        .collect();
    let chart = BarChart::new("final test error", Axis::new("test error", ""), bars);
    let png = dir.join("bars.png");
    plot::bar_chart(&chart, &png).unwrap();
    assert_drawn(&png, chart.size, 4);
    let svg = dir.join("bars.svg");
    plot::bar_chart(&chart, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("final test error") && text.contains("ecram"));
    clean(&dir);
}

fn dfcsim(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dfcsim"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_plots_rawfile_next_to_input() {
    let dir = temp_dir("cli-raw");
    let raw_path = dir.join("rc.raw");
    std::fs::copy(data("ngspice_rc_ascii.raw"), &raw_path).unwrap();
    let o = dfcsim(&["plot".as_ref(), raw_path.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fig = plot::waveforms_figure(&ngspice_tran(), &PlotSpec::default()).unwrap();
    assert_drawn(&dir.join("rc.png"), fig.size(), 5);

    let svg = dir.join("sub/sel.svg");
    let o = dfcsim(&[
        "plot".as_ref(),
        raw_path.as_os_str(),
        "--signals".as_ref(),
        "v(in),out".as_ref(),
        "--from".as_ref(),
        "0.5u".as_ref(),
        "--to".as_ref(),
        "2.5us".as_ref(),
        "-o".as_ref(),
        svg.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("v(in)") && text.contains("v(out)") && !text.contains("i(v1)"));

    let o = dfcsim(&[
        "plot".as_ref(),
        raw_path.as_os_str(),
        "--signals".as_ref(),
        "v(zzz)".as_ref(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no signal matches `v(zzz)`"), "{err}");
    // --plot picks one plot of several; the operating point has no curve to draw
    let o = dfcsim(&[
        "plot".as_ref(),
        raw_path.as_os_str(),
        "--plot".as_ref(),
        "op".as_ref(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Operating Point"));
    let o = dfcsim(&[
        "plot".as_ref(),
        raw_path.as_os_str(),
        "--plot".as_ref(),
        "1".as_ref(),
        "-o".as_ref(),
        dir.join("tran.png").as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("tran.png").exists());
    let o = dfcsim(&["plot".as_ref(), dir.join("missing.raw").as_os_str()]);
    assert!(!o.status.success());
    clean(&dir);
}

#[test]
fn cli_plots_csv_waveforms_and_training_metrics() {
    let dir = temp_dir("cli-csv");
    // dfcsim's own CSV
    let csv_path = dir.join("rc.csv");
    output::csv::write(&csv_path, &ngspice_tran()).unwrap();
    let o = dfcsim(&["plot".as_ref(), csv_path.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fig = plot::waveforms_figure(&ngspice_tran(), &PlotSpec::default()).unwrap();
    assert_drawn(&dir.join("rc.png"), fig.size(), 5);

    // training metrics: epoch first, an empty column (regression error), losses, angles, others
    let run = dir.join("rram");
    std::fs::create_dir_all(&run).unwrap();
    let mut text = String::from(
        "epoch,train_loss,test_loss,test_error,c1,c2,angle_gn_deg,angle_bp_deg,lambda_max,energy_per_sample\n",
    );
    for e in 0..30 {
        let l = 0.5 * (-(e as f64) / 8.0).exp() + 0.01;
        text += &format!(
            "{e},{l},{},,{},{},{},{},{},{}\n",
            l * 1.1,
            0.1 + 0.01 * e as f64,
            0.9 - 0.005 * e as f64,
            60.0 - e as f64,
            40.0 - 0.5 * e as f64,
            -0.5 - 0.001 * e as f64,
            2e-9 * (1.0 + 0.01 * e as f64)
        );
    }
    let metrics_path = run.join("metrics.csv");
    std::fs::write(&metrics_path, text).unwrap();
    let o = dfcsim(&["plot".as_ref(), metrics_path.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = output::csv::read(&metrics_path).unwrap();
    let fig = plot::training_figure(&w).unwrap();
    // loss, angles, c1, c2, lambda_max, energy (test_error is empty and left out)
    assert_eq!(fig.panels.len(), 6);
    assert!(fig.panels[0].y.log);
    assert_eq!(fig.panels[1].y.unit, "°");
    assert_eq!(fig.panels[5].y.unit, "J");
    assert_drawn(&run.join("metrics.png"), fig.size(), 2);
    clean(&dir);
}

#[test]
fn generic_csv_without_time_column() {
    let dir = temp_dir("generic");
    let mut w = Waveforms::new(
        "sweep",
        "Table",
        vec![
            Signal {
                name: "gbw".into(),
                unit: Unit::None,
            },
            Signal {
                name: "error".into(),
                unit: Unit::None,
            },
        ],
    );
    for k in 1..20 {
        w.push_row(&[k as f64 * 1e5, 1.0 / k as f64]);
    }
    let fig = plot::waveforms_figure(&w, &PlotSpec::default()).unwrap();
    assert_eq!(fig.panels[0].x.label, "gbw");
    let png = dir.join("sweep.png");
    plot::waveforms(&w, &PlotSpec::default(), &png).unwrap();
    assert_drawn(&png, fig.size(), 1);
    clean(&dir);
}

#[test]
fn sharp_zigzags_stay_inside_the_plot_area() {
    // Dense alternating samples once drew miter spikes across the title (plotters joins
    // thick bitmap polylines with unlimited miters).
    let dir = temp_dir("zigzag");
    let x: Vec<f64> = (0..20_000).map(|i| i as f64 * 1e-9).collect();
    let y: Vec<f64> = (0..20_000)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + 1e-3 * (i % 7) as f64))
        .collect();
    let fig = Figure::new(
        "zigzag",
        vec![Panel {
            x: Axis::new("time", "s"),
            y: Axis::new("voltage", "V"),
            series: vec![Series {
                label: "v(z)".into(),
                x,
                y,
                color: 0,
                ..Series::default()
            }],
            ..Panel::default()
        }],
    );
    let png = dir.join("zigzag.png");
    plot::lines(&fig, &png).unwrap();
    let pic = assert_drawn(&png, fig.size(), 1);
    let blue = plot::PALETTE[0];
    let near_blue = |p: &[u8; 3]| {
        p.iter()
            .zip([blue.0, blue.1, blue.2])
            .all(|(a, b)| a.abs_diff(b) <= 60)
    };
    // Title band (top 44 rows) and the x-label band (bottom 40 rows) hold no curve pixels.
    let w = pic.width as usize;
    let h = pic.height as usize;
    let outside = pic
        .pixels
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            let row = i / w;
            (row < 44 || row >= h - 40) && near_blue(p)
        })
        .count();
    assert_eq!(outside, 0, "curve pixels outside the plot area");
    clean(&dir);
}

#[test]
fn extreme_and_degenerate_values_still_plot() {
    let dir = temp_dir("extreme");
    let sig = |n: &str, unit| Signal {
        name: n.into(),
        unit,
    };
    let mut w = Waveforms::new(
        "extremes",
        "Transient Analysis",
        vec![
            sig("time", Unit::Time),
            sig("v(huge)", Unit::Voltage),
            sig("i(tiny)", Unit::Current),
            sig("v(flat)", Unit::Voltage),
            sig("gain", Unit::None),
        ],
    );
    for k in 0..50 {
        let t = k as f64 * 1e-12;
        let gap = if k == 20 { f64::NAN } else { 1.0 };
        w.push_row(&[t, 1e300 * (1.0 + k as f64) * gap, 1e-20, 0.0, f64::INFINITY]);
    }
    let png = dir.join("extremes.png");
    plot::waveforms(&w, &PlotSpec::default(), &png).unwrap();
    let fig = plot::waveforms_figure(&w, &PlotSpec::default()).unwrap();
    // the all-infinite `gain` panel is left out of the picture
    let drawn = fig.panels.iter().filter(|p| !p.y.unit.is_empty()).count();
    assert_eq!(drawn, 2);
    let pic = decode_png(&png);
    let (w_px, _) = fig.size();
    assert_eq!(pic.width, w_px);
    assert!(pic.non_white_fraction() > 0.01);
    let svg = dir.join("extremes.svg");
    plot::waveforms(&w, &PlotSpec::default(), &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("time [ps]"), "picosecond axis");
    assert!(!text.contains("000000000000"), "no endless tick labels");
    clean(&dir);
}

#[test]
fn sweep_on_a_log_x_axis() {
    // compare's sweeps: a metric against e.g. the number of conductance states
    let dir = temp_dir("sweep");
    let states = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
    let series = |label: &str, color, scale: f64| Series {
        label: label.into(),
        x: states.to_vec(),
        y: states.iter().map(|s| scale / s.sqrt() + 0.02).collect(),
        color,
        markers: true,
        ..Series::default()
    };
    let mut x = Axis::new("conductance states", "");
    x.log = true;
    let fig = Figure::new(
        "final test error vs conductance states",
        vec![Panel {
            title: String::new(),
            x,
            y: Axis::new("test error", ""),
            series: vec![series("rram", 1, 0.3), series("pcm", 2, 0.5)],
        }],
    );
    let png = dir.join("sweep.png");
    plot::lines(&fig, &png).unwrap();
    assert_drawn(&png, fig.size(), 0);
    let svg = dir.join("sweep.svg");
    plot::lines(&fig, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for tick in ["10", "100", "1000"] {
        assert!(
            text.contains(&format!("\n{tick}\n</text>")),
            "decade tick {tick}"
        );
    }
    clean(&dir);
}
