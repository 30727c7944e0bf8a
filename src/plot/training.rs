//! Training curves from a `metrics.csv` (first column `epoch`): losses (log axis when all
//! positive and spanning a factor of 5 or more), classification error, angles in degrees
//! (`*_rad` columns converted), and one panel per other metric.

use std::path::Path;

use super::{Axis, Figure, Panel, PlotError, Series, lines};
use crate::waveform::Waveforms;

/// Draws the training curves of `metrics` to `path` (`.png` or `.svg`).
pub fn training(metrics: &Waveforms, path: &Path) -> Result<(), PlotError> {
    lines(&training_figure(metrics)?, path)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Loss,
    Error,
    Angle,
    Other,
}

fn group_of(name: &str) -> Group {
    let n = name.to_ascii_lowercase();
    let split = n.starts_with("train") || n.starts_with("test") || n.starts_with("val");
    if n.contains("angle") {
        Group::Angle
    } else if n.contains("loss") {
        Group::Loss
    } else if split && (n.contains("error") || n.contains("err") || n.contains("acc")) {
        Group::Error
    } else {
        Group::Other
    }
}

/// Unit of an "other" metric guessed from its name (SI prefixes follow on the axis).
fn other_unit(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n.contains("energy") || n.ends_with("_j") {
        "J"
    } else if n.contains("time") || n.ends_with("_s") {
        "s"
    } else if n.ends_with("_v") {
        "V"
    } else if n.ends_with("_a") {
        "A"
    } else {
        ""
    }
}

/// Builds the figure [`training`] draws.
pub fn training_figure(metrics: &Waveforms) -> Result<Figure, PlotError> {
    if metrics.width() < 2 || metrics.rows() == 0 {
        return Err(PlotError::Empty(format!(
            "`{}` has no metric columns or no epochs",
            metrics.title
        )));
    }
    let x = metrics.column(0);
    let mut x_axis = Axis::new(&metrics.signals[0].name, "");
    x_axis.integer = metrics.signals[0].name.eq_ignore_ascii_case("epoch");
    let markers = metrics.rows() <= 40;
    let mut grouped: Vec<(Group, Panel)> = Vec::new();
    for j in 1..metrics.width() {
        let name = &metrics.signals[j].name;
        let mut y = metrics.column(j);
        if !y.iter().any(|v| v.is_finite()) {
            continue; // e.g. test_error of a regression task: all cells empty
        }
        let group = group_of(name);
        if group == Group::Angle && name.to_ascii_lowercase().contains("rad") {
            y.iter_mut().for_each(|v| *v = v.to_degrees());
        }
        let series = |color| Series {
            label: name.clone(),
            x: x.clone(),
            y: y.clone(),
            color,
            markers,
            ..Series::default()
        };
        let slot = match group {
            Group::Other => None,
            g => grouped.iter().position(|(h, _)| *h == g),
        };
        match slot {
            Some(i) => {
                let c = grouped[i].1.series.len();
                grouped[i].1.series.push(series(c));
            }
            None => {
                let (title, y_axis) = match group {
                    Group::Loss => ("loss", Axis::new("loss", "")),
                    Group::Error => ("error", Axis::new("error", "")),
                    Group::Angle => ("angles", Axis::new("angle", "°")),
                    Group::Other => (name.as_str(), Axis::new(name, other_unit(name))),
                };
                grouped.push((
                    group,
                    Panel {
                        title: title.to_string(),
                        x: x_axis.clone(),
                        y: y_axis,
                        series: vec![series(0)],
                    },
                ));
            }
        }
    }
    if grouped.is_empty() {
        return Err(PlotError::Empty(format!(
            "`{}` has no finite metric values",
            metrics.title
        )));
    }
    // Losses on a log axis when every drawn value is positive and they span a factor of 5
    // or more; over a narrower range a log axis looks linear but gets unround ticks.
    for (g, p) in &mut grouped {
        if *g == Group::Loss {
            let values = p
                .series
                .iter()
                .flat_map(|s| s.y.iter())
                .filter(|v| v.is_finite());
            let positive = values.clone().all(|&v| v > 0.0);
            let lo = values.clone().fold(f64::INFINITY, |a, &v| a.min(v));
            let hi = values.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            p.y.log = positive && hi >= 5.0 * lo;
        }
    }
    grouped.sort_by_key(|(g, _)| *g); // stable: other metrics keep file order
    // A lone metric is named by its panel title: no legend needed.
    for (_, p) in &mut grouped {
        if p.series.len() == 1 && p.series[0].label == p.title {
            p.series[0].label.clear();
        }
    }
    let panels: Vec<Panel> = grouped.into_iter().map(|(_, p)| p).collect();
    let mut fig = Figure::new(&format!("training curves — {}", metrics.title), panels);
    fig.columns = if fig.panels.len() > 1 { 2 } else { 1 };
    fig.panel_size = if fig.columns == 2 {
        (720, 330)
    } else {
        (1200, 420)
    };
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(losses: &[f64]) -> Waveforms {
        use crate::waveform::{Signal, Unit};
        let sig = |n: &str| Signal {
            name: n.into(),
            unit: Unit::None,
        };
        let mut w = Waveforms::new("run", "Table", vec![sig("epoch"), sig("train_loss")]);
        for (e, &l) in losses.iter().enumerate() {
            w.push_row(&[e as f64, l]);
        }
        w
    }

    #[test]
    fn log_loss_axis_only_over_a_wide_positive_range() {
        let fig = training_figure(&metrics(&[1.0, 0.3, 0.1, 0.05])).unwrap();
        assert!(fig.panels[0].y.log);
        let fig = training_figure(&metrics(&[45.0, 43.0, 41.0])).unwrap();
        assert!(!fig.panels[0].y.log);
        let fig = training_figure(&metrics(&[1.0, 0.0, 0.1])).unwrap();
        assert!(!fig.panels[0].y.log);
        assert_eq!(fig.panels.len(), 1);
        assert_eq!(fig.columns, 1);
    }

    #[test]
    fn metric_groups() {
        assert_eq!(group_of("train_loss"), Group::Loss);
        assert_eq!(group_of("test_error"), Group::Error);
        assert_eq!(group_of("test_acc"), Group::Error);
        assert_eq!(group_of("angle_gn_deg"), Group::Angle);
        assert_eq!(group_of("steady_state_error"), Group::Other);
        assert_eq!(group_of("lambda_max"), Group::Other);
        assert_eq!(other_unit("settling_time"), "s");
        assert_eq!(other_unit("energy_per_sample"), "J");
    }
}
