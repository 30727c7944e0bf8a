//! The comparison's report: `report.json`, `report.md` and the plots (PNG and SVG each),
//! drawn from the finished configurations. Every plot colours a configuration with its
//! [`Configuration::color`], so the same configuration has the same colour everywhere.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    Common, CompareError, Configuration, ExampleWaveforms, Kind, Outcome, RunResult, io_err,
};
use crate::plot::{self, Axis, Bar, BarChart, Figure, LineKind, Panel, Series};

/// One configuration's line of the report. Circuit-only fields are `None` for the ideal
/// model; its update angle is 0 (it is its own reference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportEntry {
    pub name: String,
    /// `ideal-model` or `circuit`.
    pub kind: String,
    pub preset: Option<String>,
    pub sweep_param: Option<String>,
    pub sweep_value: Option<f64>,
    /// `ran`, `resumed` (loaded from `runs/NAME/`) or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub epochs_run: usize,
    /// Test loss before training, of the weights as the configuration holds them (circuit:
    /// after programming the initial weights into the devices).
    pub initial_test_loss: Option<f64>,
    pub final_test_loss: Option<f64>,
    /// Percent, classification only.
    pub final_test_error: Option<f64>,
    /// final test loss − the ideal model's final test loss.
    pub gap_to_ideal: Option<f64>,
    /// final test loss / the ideal model's final test loss.
    pub ratio_to_ideal: Option<f64>,
    /// Mean over epochs of the mean per-sample angle between the wanted update (the
    /// circuit's rule-5 integral) and the ideal DFC update (degrees).
    pub mean_update_angle_deg: Option<f64>,
    /// Mean over epochs of the per-minibatch angle between the weight change the devices
    /// made and the ideal model's SGD step (degrees).
    pub mean_programmed_angle_deg: Option<f64>,
    /// Mean over epochs of ‖programmed change‖ / ‖ideal SGD step‖ (the devices'
    /// effective learning-rate gain; 1 = ideal).
    pub mean_programmed_step_ratio: Option<f64>,
    /// Mean over epochs of the programmed change's component along the ideal SGD step, in
    /// units of that step (the learning-rate gain along the ideal direction; 1 = ideal).
    pub mean_programmed_step_along: Option<f64>,
    /// Last epoch's mean ‖e(T)‖ / ‖r_L* − r_L^−‖.
    pub steady_state_error: Option<f64>,
    /// Last epoch's mean settling time of ‖e‖ (s).
    pub settling_time_s: Option<f64>,
    /// Last epoch's energy per training sample (J).
    pub energy_per_sample_j: Option<f64>,
    pub diverged: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub common: Common,
    pub sweep_param: Option<String>,
    pub configurations: Vec<ReportEntry>,
    /// Plot files written (relative to the output directory).
    pub plots: Vec<String>,
}

fn entry(o: &Outcome, reference_loss: Option<f64>) -> ReportEntry {
    let (cfg, status, error, res): (&Configuration, &str, Option<String>, Option<&RunResult>) =
        match o {
            Outcome::Ran(r) => (&r.config, "ran", None, Some(r)),
            Outcome::Resumed(r) => (&r.config, "resumed", None, Some(r)),
            Outcome::Failed { config, message } => (config, "failed", Some(message.clone()), None),
        };
    let last = res.and_then(|r| r.rows.last());
    let final_test_loss = last.map(|r| r.test_loss);
    let mean = |f: &dyn Fn(&super::RunRow) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = res?
            .rows
            .iter()
            .filter_map(f)
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let angle = mean(&|x| Some(x.update_angle_deg));
    let (kind, preset) = match &cfg.kind {
        Kind::IdealModel => ("ideal-model".to_string(), None),
        Kind::Circuit { preset } => ("circuit".to_string(), Some(preset.clone())),
    };
    ReportEntry {
        name: cfg.name.clone(),
        kind,
        preset,
        sweep_param: cfg.sweep.as_ref().map(|s| s.0.clone()),
        sweep_value: cfg.sweep.as_ref().map(|s| s.1),
        status: status.into(),
        error,
        epochs_run: res.map_or(0, |r| r.rows.len()),
        initial_test_loss: res.and_then(|r| r.initial_test_loss),
        final_test_loss,
        final_test_error: last.and_then(|r| r.test_error),
        gap_to_ideal: final_test_loss.zip(reference_loss).map(|(a, b)| a - b),
        ratio_to_ideal: final_test_loss.zip(reference_loss).map(|(a, b)| a / b),
        mean_update_angle_deg: angle,
        mean_programmed_angle_deg: mean(&|x| x.programmed_angle_deg),
        mean_programmed_step_ratio: mean(&|x| x.programmed_step_ratio),
        mean_programmed_step_along: mean(&|x| x.programmed_step_along),
        steady_state_error: last.and_then(|r| r.steady_state_error),
        settling_time_s: last.and_then(|r| r.settling_time_s),
        energy_per_sample_j: last.and_then(|r| r.energy_per_sample_j),
        diverged: res.and_then(|r| r.diverged.clone()),
    }
}

/// Log scale only when the positive values span more than a decade (a narrow log axis
/// repeats its tick labels).
fn wide_positive(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    lo > 0.0 && hi / lo > 10.0
}

/// One configuration's curve over epochs. The reference (ideal model) is dashed so that a
/// circuit lying on top of it (the ideal preset) leaves it visible.
fn series(r: &RunResult, y: impl Fn(&super::RunRow) -> f64, markers: bool) -> Series {
    Series {
        label: r.config.name.clone(),
        x: r.rows.iter().map(|x| x.epoch as f64).collect(),
        y: r.rows.iter().map(y).collect(),
        color: r.config.color,
        line: if r.config.is_reference() {
            LineKind::Dashed
        } else {
            LineKind::Solid
        },
        markers,
    }
}

/// `curve` of every configuration, the reference drawn last (on top).
fn curves(done: &[&RunResult], curve: impl Fn(&RunResult) -> Series) -> Vec<Series> {
    let mut v: Vec<(bool, Series)> = done
        .iter()
        .map(|r| (r.config.is_reference(), curve(r)))
        .collect();
    v.sort_by_key(|(reference, _)| *reference);
    v.into_iter().map(|(_, s)| s).collect()
}

/// The test-loss curve with the loss before training as epoch 0.
fn test_loss_series(r: &RunResult, markers: bool) -> Series {
    let mut s = series(r, |x| x.test_loss, markers);
    if let Some(l0) = r.initial_test_loss {
        s.x.insert(0, 0.0);
        s.y.insert(0, l0);
    }
    s
}

/// Draws `fig` as `stem.png` and `stem.svg` in `out`; returns the file names.
fn both(
    out: &Path,
    stem: &str,
    draw: impl Fn(&Path) -> Result<(), plot::PlotError>,
) -> Result<Vec<String>, CompareError> {
    let mut names = Vec::new();
    for ext in ["png", "svg"] {
        let name = format!("{stem}.{ext}");
        draw(&out.join(&name))?;
        names.push(name);
    }
    Ok(names)
}

fn waveform_panels(ex: &ExampleWaveforms, who: &str) -> Vec<Panel> {
    let time = Axis::new("time", &ex.time_unit);
    let time = if ex.time_unit.is_empty() {
        Axis {
            label: "time [τ_u]".into(),
            ..time
        }
    } else {
        time
    };
    let volt = |label: &str| Axis::new(label, &ex.voltage_unit);
    let mut io = Vec::new();
    for k in 0..ex.output.len() {
        io.push(Series {
            label: format!("r_L[{k}]"),
            x: ex.t.clone(),
            y: ex.output[k].clone(),
            color: k,
            ..Series::default()
        });
        io.push(Series {
            label: format!("r_L*[{k}]"),
            x: ex.t.clone(),
            y: ex.target[k].clone(),
            color: k,
            line: LineKind::Dashed,
            ..Series::default()
        });
    }
    let u = (0..ex.u.len())
        .map(|k| Series {
            label: format!("u[{k}]"),
            x: ex.t.clone(),
            y: ex.u[k].clone(),
            color: k,
            ..Series::default()
        })
        .collect();
    let hidden = ["soma v", "basal v_B", "apical v_A"]
        .iter()
        .enumerate()
        .map(|(i, l)| Series {
            label: l.to_string(),
            x: ex.t.clone(),
            y: ex.hidden[i].clone(),
            color: i,
            ..Series::default()
        })
        .collect();
    vec![
        Panel {
            title: format!("{who}: output r_L (solid) and target r_L* (dashed)"),
            x: time.clone(),
            y: volt("output"),
            series: io,
        },
        Panel {
            title: format!("{who}: control u"),
            x: time.clone(),
            y: volt("u"),
            series: u,
        },
        Panel {
            title: format!("{who}: hidden layer 1, neuron 0: compartments"),
            x: time,
            y: volt("potential"),
            series: hidden,
        },
    ]
}

/// The example waveforms of `r` (left) beside the reference ideal model's (right).
fn waveform_figure(r: &RunResult, reference: Option<&RunResult>) -> Option<Figure> {
    let ex = r.example.as_ref()?;
    let mine = waveform_panels(ex, &r.config.name);
    let theirs = reference
        .filter(|rf| rf.config.name != r.config.name)
        .and_then(|rf| {
            rf.example
                .as_ref()
                .map(|e| waveform_panels(e, &rf.config.name))
        });
    let (panels, columns) = match theirs {
        Some(t) => (
            mine.into_iter().zip(t).flat_map(|(a, b)| [a, b]).collect(),
            2,
        ),
        None => (mine, 1),
    };
    let mut fig = Figure::new(&format!("Example test sample: {}", r.config.name), panels);
    fig.columns = columns;
    fig.panel_size = (900, 300);
    Some(fig)
}

/// Writes `report.json`, `report.md` and the plots into `out`.
pub fn write_report(
    out: &Path,
    common: &Common,
    sweep_param: Option<&str>,
    outcomes: &[Outcome],
) -> Result<Report, CompareError> {
    plot::register_font();
    let reference = outcomes
        .iter()
        .filter_map(Outcome::result)
        .find(|r| r.config.is_reference());
    let reference_loss = reference.and_then(|r| r.rows.last()).map(|r| r.test_loss);
    let entries: Vec<ReportEntry> = outcomes.iter().map(|o| entry(o, reference_loss)).collect();
    let done: Vec<&RunResult> = outcomes
        .iter()
        .filter_map(Outcome::result)
        .filter(|r| !r.rows.is_empty())
        .collect();
    let mut plots = Vec::new();
    if !done.is_empty() {
        let markers = common.epochs <= 30;
        let epoch = Axis::new("epoch", "").integer();
        let loss_fig = Figure::new(
            "Loss over training (same data, seed and schedule)",
            vec![
                Panel {
                    title: "test loss (epoch 0: before training, weights as programmed)".into(),
                    x: epoch.clone(),
                    y: Axis::new("test loss", "").log(wide_positive(
                        done.iter()
                            .flat_map(|r| r.rows.iter().map(|x| x.test_loss))
                            .chain(done.iter().filter_map(|r| r.initial_test_loss)),
                    )),
                    series: curves(&done, |r| test_loss_series(r, markers)),
                },
                Panel {
                    title: "train loss (mean over the epoch)".into(),
                    x: epoch.clone(),
                    y: Axis::new("train loss", "").log(wide_positive(
                        done.iter()
                            .flat_map(|r| r.rows.iter().map(|x| x.train_loss)),
                    )),
                    series: curves(&done, |r| series(r, |x| x.train_loss, markers)),
                },
            ],
        );
        plots.extend(both(out, "loss", |p| plot::lines(&loss_fig, p))?);
        let ratios = || {
            done.iter()
                .flat_map(|r| r.rows.iter().filter_map(|x| x.programmed_step_ratio))
        };
        let angle_fig = Figure::new(
            "Updates of each configuration against the ideal DFC update",
            vec![
                Panel {
                    title: "wanted update (rule 5 in the circuit) vs ideal DFC update, per sample"
                        .into(),
                    x: epoch.clone(),
                    y: Axis::new("angle", "°"),
                    series: curves(&done, |r| series(r, |x| x.update_angle_deg, markers)),
                },
                Panel {
                    title: "programmed update (what the devices did) vs ideal SGD step, per minibatch"
                        .into(),
                    x: epoch.clone(),
                    y: Axis::new("angle", "°"),
                    series: curves(&done, |r| {
                        series(r, |x| x.programmed_angle_deg.unwrap_or(f64::NAN), markers)
                    }),
                },
                Panel {
                    title: "‖programmed update‖ / ‖ideal SGD step‖ (effective learning-rate gain)"
                        .into(),
                    x: epoch.clone(),
                    y: Axis::new("step ratio", "").log(
                        wide_positive(ratios()) && ratios().all(|x| !x.is_finite() || x > 0.0),
                    ),
                    series: curves(&done, |r| {
                        series(r, |x| x.programmed_step_ratio.unwrap_or(f64::NAN), markers)
                    }),
                },
                Panel {
                    title: "programmed update along the ideal step, in ideal steps (learning-rate gain along the ideal direction)"
                        .into(),
                    x: epoch,
                    y: Axis::new("step along ideal", ""),
                    series: curves(&done, |r| {
                        series(r, |x| x.programmed_step_along.unwrap_or(f64::NAN), markers)
                    }),
                },
            ],
        );
        plots.extend(both(out, "angle", |p| plot::lines(&angle_fig, p))?);
        let classification = done
            .iter()
            .any(|r| r.rows.last().is_some_and(|x| x.test_error.is_some()));
        let bars = done
            .iter()
            .map(|r| {
                let last = r.rows.last().expect("non-empty rows");
                Bar {
                    label: r.config.name.clone(),
                    value: if classification {
                        last.test_error.unwrap_or(f64::NAN)
                    } else {
                        last.test_loss
                    },
                    color: r.config.color,
                }
            })
            .collect();
        let mut chart = BarChart::new(
            "Final test error per configuration",
            if classification {
                Axis::new("test error", "%")
            } else {
                Axis::new("final test loss (MSE)", "")
            },
            bars,
        );
        chart.size = (260 + 130 * done.len() as u32, 560);
        plots.extend(both(out, "final_error", |p| plot::bar_chart(&chart, p))?);
        if let Some(param) = sweep_param
            && let Some(fig) = sweep_figure(param, &done, reference)
        {
            plots.extend(both(out, "sweep", |p| plot::lines(&fig, p))?);
        }
        for r in &done {
            if let Some(fig) = waveform_figure(r, reference) {
                plots.extend(both(out, &format!("waveforms_{}", r.config.name), |p| {
                    plot::lines(&fig, p)
                })?);
            }
        }
    }
    let report = Report {
        common: common.clone(),
        sweep_param: sweep_param.map(String::from),
        configurations: entries,
        plots,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| io_err(out, e))?;
    let path = out.join("report.json");
    std::fs::write(&path, json).map_err(|e| io_err(&path, e))?;
    let path = out.join("report.md");
    std::fs::write(&path, markdown(&report)).map_err(|e| io_err(&path, e))?;
    Ok(report)
}

/// Final test loss against the swept value: one curve per family (the ideal model, each
/// preset), the unswept ideal model as a dashed reference line.
fn sweep_figure(param: &str, done: &[&RunResult], reference: Option<&RunResult>) -> Option<Figure> {
    // (family name, colour, (swept value, final test loss) points)
    type Family = (String, usize, Vec<(f64, f64)>);
    let mut families: Vec<Family> = Vec::new();
    // Each point also as its own dot in its configuration's colour (as in the other plots).
    let mut dots: Vec<Series> = Vec::new();
    for r in done {
        let (Some((_, v)), Some(last)) = (&r.config.sweep, r.rows.last()) else {
            continue;
        };
        let family = match &r.config.kind {
            Kind::IdealModel => "ideal-model".to_string(),
            Kind::Circuit { preset } => format!("circuit-{preset}"),
        };
        dots.push(Series {
            label: r.config.name.clone(),
            x: vec![*v],
            y: vec![last.test_loss],
            color: r.config.color,
            line: LineKind::Solid,
            markers: true,
        });
        match families.iter_mut().find(|f| f.0 == family) {
            Some(f) => f.2.push((*v, last.test_loss)),
            None => families.push((family, r.config.color, vec![(*v, last.test_loss)])),
        }
    }
    if families.is_empty() {
        return None;
    }
    let xs: Vec<f64> = families
        .iter()
        .flat_map(|f| f.2.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let log_x = wide_positive(xs.iter().copied());
    let log_y = wide_positive(families.iter().flat_map(|f| f.2.iter().map(|p| p.1)));
    let mut series: Vec<Series> = families
        .into_iter()
        .map(|(label, color, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                label,
                x: pts.iter().map(|p| p.0).collect(),
                y: pts.iter().map(|p| p.1).collect(),
                color,
                line: LineKind::Solid,
                markers: false,
            }
        })
        .collect();
    series.extend(dots);
    if let Some(rl) = reference.and_then(|r| r.rows.last()) {
        series.push(Series {
            label: "ideal-model (unswept)".into(),
            x: vec![lo, hi],
            y: vec![rl.test_loss; 2],
            color: 0,
            line: LineKind::Dashed,
            markers: false,
        });
    }
    Some(Figure::new(
        &format!("Final test loss against {param}"),
        vec![Panel {
            title: format!("sweep of {param}"),
            x: Axis::new(param, "").log(log_x),
            y: Axis::new("final test loss", "").log(log_y),
            series,
        }],
    ))
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.4e}"))
}

/// The report as a Markdown table, with the plots linked.
pub fn markdown(r: &Report) -> String {
    let c = &r.common;
    let mut s = String::new();
    let sizes: Vec<String> = c.sizes.iter().map(|n| n.to_string()).collect();
    let _ = writeln!(s, "# DFC comparison: {}\n", sizes.join("-"));
    let _ = writeln!(
        s,
        "{} epochs × {} training samples (minibatch {}), {} test samples, seed {}; the same data, seed and schedule for every configuration.\n",
        c.epochs, c.samples, c.batch, c.test_samples, c.seed
    );
    let _ = writeln!(
        s,
        "| configuration | status | initial test loss | final test loss | test error [%] | gap to ideal | ratio to ideal | wanted-update angle [°] | programmed-update angle [°] | step ratio | step along ideal | steady-state error | settling time [s] | energy/sample [J] |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let deg = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.2}"));
    for e in &r.configurations {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.name,
            e.status,
            cell(e.initial_test_loss),
            cell(e.final_test_loss),
            e.final_test_error.map_or("–".into(), |x| format!("{x:.2}")),
            cell(e.gap_to_ideal),
            e.ratio_to_ideal.map_or("–".into(), |x| format!("{x:.3}")),
            deg(e.mean_update_angle_deg),
            deg(e.mean_programmed_angle_deg),
            e.mean_programmed_step_ratio
                .map_or("–".into(), |x| format!("{x:.3}")),
            e.mean_programmed_step_along
                .map_or("–".into(), |x| format!("{x:.3}")),
            cell(e.steady_state_error),
            cell(e.settling_time_s),
            cell(e.energy_per_sample_j),
        );
    }
    let _ = writeln!(
        s,
        "\nInitial test loss: before any update, with the weights as each configuration holds them \
         (a circuit: after programming the initial weights into its devices). Wanted-update angle: \
         per sample, the circuit's rule-5 update against the ideal model's DFC update for the same \
         weights. Programmed-update angle and step ratio: per minibatch, the weight change the \
         devices made against the ideal model's SGD step (same lr, λ, clipping); step ratio = \
         ‖programmed‖/‖ideal step‖, step along ideal = its component along the ideal step in \
         units of that step (1 = ideal; above 1 the devices act as a larger learning rate).",
    );
    let notes = notes(r);
    if !notes.is_empty() {
        let _ = writeln!(s, "\n## Reading the numbers\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    let failed: Vec<&ReportEntry> = r
        .configurations
        .iter()
        .filter(|e| e.error.is_some())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "\n## Failed configurations\n");
        for e in failed {
            let _ = writeln!(s, "- {}: {}", e.name, e.error.as_deref().unwrap_or(""));
        }
    }
    let _ = writeln!(s, "\n## Plots\n");
    for p in r.plots.iter().filter(|p| p.ends_with(".png")) {
        let _ = writeln!(s, "![{p}]({p})\n");
    }
    s
}

/// Findings that change how the table reads: a configuration that starts from a different
/// loss than the ideal model (its devices could not hold the initial weights), and devices
/// whose weight changes are far from the ideal step in size or direction.
pub fn notes(r: &Report) -> Vec<String> {
    let reference = r
        .configurations
        .iter()
        .find(|e| e.kind == "ideal-model" && e.sweep_param.is_none());
    let ref_init = reference.and_then(|e| e.initial_test_loss);
    let mut out = Vec::new();
    for e in r.configurations.iter().filter(|e| e.kind == "circuit") {
        if let (Some(a), Some(b), Some(f)) = (e.initial_test_loss, ref_init, e.final_test_loss)
            && (a / b - 1.0).abs() > 0.01
        {
            out.push(format!(
                "`{}` starts from test loss {a:.4} before any update, the ideal model from {b:.4}: \
                 programming the initial weights into its devices changed them (device bounds with \
                 device-to-device spread, write noise). Its final loss and the gap to ideal include \
                 this different start; from its own start it went {a:.4} → {f:.4} ({:+.1} %).",
                e.name,
                100.0 * (f / a - 1.0)
            ));
        }
        if let (Some(q), Some(angle), Some(along)) = (
            e.mean_programmed_step_ratio,
            e.mean_programmed_angle_deg,
            e.mean_programmed_step_along,
        ) && (!(1.0 / 1.5..=1.5).contains(&q) || !(1.0 / 1.5..=1.5).contains(&along))
        {
            out.push(format!(
                "`{}`: its devices change the weights by {q:.2}× the ideal SGD step, at {angle:.1}° \
                 from it{}; along the ideal direction they move {along:.2}× the ideal step, i.e. \
                 they act as a learning rate {along:.2}× the set one{}.",
                e.name,
                if angle > 60.0 {
                    " (mostly random: write noise redrawn at every programming, cycle-to-cycle \
                     pulse noise, pulse quantisation)"
                } else {
                    ""
                },
                if along > 1.0 && q > 3.0 {
                    " plus a random walk; a lower loss than the ideal model in a short run comes \
                     from this larger effective step, not from better updates"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

/// Paths of the PNG plots of a report in `out` (for callers that show them).
pub fn png_paths(out: &Path, r: &Report) -> Vec<PathBuf> {
    r.plots
        .iter()
        .filter(|p| p.ends_with(".png"))
        .map(|p| out.join(p))
        .collect()
}
