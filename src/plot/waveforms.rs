//! Waveform plots: signals of one plot (e.g. a transient) over its first column, one
//! stacked panel per unit (voltages, currents, other signals).

use std::path::Path;

use super::{Axis, Figure, Panel, PlotError, Series, format, lines};
use crate::waveform::{Unit, Waveforms};

/// What to draw from a waveform table.
#[derive(Debug, Clone)]
pub struct PlotSpec {
    /// Glob patterns (`*`, `?`, case-insensitive); empty selects every signal. A pattern
    /// without parentheses also matches the name inside `v(…)`/`i(…)`.
    pub signals: Vec<String>,
    /// Window on the x axis (time in seconds), inclusive.
    pub from: Option<f64>,
    pub to: Option<f64>,
    /// Figure title; `None` uses the netlist title and the plot name.
    pub title: Option<String>,
    /// Pixel size of one panel.
    pub panel_size: (u32, u32),
}

impl Default for PlotSpec {
    fn default() -> Self {
        PlotSpec {
            signals: Vec::new(),
            from: None,
            to: None,
            title: None,
            panel_size: (1200, 340),
        }
    }
}

/// Draws the selected signals of `w` to `path` (`.png` or `.svg`).
pub fn waveforms(w: &Waveforms, spec: &PlotSpec, path: &Path) -> Result<(), PlotError> {
    lines(&waveforms_figure(w, spec)?, path)
}

/// Draws every signal of the main plot of a run (the transient, else the first plot), as
/// `dfcsim run --plot` wants: `plot_run(&plots, &dir.join(format!("{stem}.png")))`.
pub fn plot_run(plots: &[Waveforms], path: &Path) -> Result<(), PlotError> {
    let main = crate::output::main_plot(plots)
        .ok_or_else(|| PlotError::Empty("the run produced no plots".into()))?;
    waveforms(main, &PlotSpec::default(), path)
}

/// Panel order and axis of each unit.
fn unit_axis(u: Unit) -> (usize, Axis) {
    match u {
        Unit::Voltage => (0, Axis::new("voltage", "V")),
        Unit::Current => (1, Axis::new("current", "A")),
        Unit::None => (2, Axis::new("value", "")),
        Unit::Time => (3, Axis::new("time", "s")),
    }
}

/// Builds the figure [`waveforms`] draws, for callers that want to add to it.
pub fn waveforms_figure(w: &Waveforms, spec: &PlotSpec) -> Result<Figure, PlotError> {
    if w.width() < 2 {
        return Err(PlotError::Empty(format!(
            "`{}` has {} column(s); a plot needs an x column and at least one signal",
            w.plot_name,
            w.width()
        )));
    }
    if w.rows() < 2 {
        return Err(PlotError::Empty(format!(
            "`{}` has {} point(s) (an operating point has no curve); plot a transient instead",
            w.plot_name,
            w.rows()
        )));
    }
    let x_signal = &w.signals[0];
    let x_axis = if x_signal.unit == Unit::Time {
        Axis::new("time", "s")
    } else {
        Axis::new(&x_signal.name, "")
    };
    let selected = select(w, &spec.signals)?;

    let x_all = w.column(0);
    let from = spec.from.unwrap_or(f64::NEG_INFINITY);
    let to = spec.to.unwrap_or(f64::INFINITY);
    let rows: Vec<usize> = (0..w.rows())
        .filter(|&i| x_all[i] >= from && x_all[i] <= to)
        .collect();
    if rows.len() < 2 {
        return Err(PlotError::Empty(format!(
            "fewer than two points of `{}` lie in the window [{}, {}]",
            w.plot_name,
            format::compact(from),
            format::compact(to)
        )));
    }
    let x: Vec<f64> = rows.iter().map(|&i| x_all[i]).collect();

    let mut panels: Vec<(usize, Panel)> = Vec::new();
    for (k, &j) in selected.iter().enumerate() {
        let (order, y_axis) = unit_axis(w.signals[j].unit);
        let idx = match panels.iter().position(|(o, _)| *o == order) {
            Some(i) => i,
            None => {
                panels.push((
                    order,
                    Panel {
                        title: String::new(),
                        x: x_axis.clone(),
                        y: y_axis,
                        series: Vec::new(),
                    },
                ));
                panels.len() - 1
            }
        };
        let width = w.width();
        panels[idx].1.series.push(Series {
            label: w.signals[j].name.clone(),
            x: x.clone(),
            y: rows.iter().map(|&i| w.data[i * width + j]).collect(),
            // Colours follow the order of selection, so a signal keeps its colour whichever
            // panel it lands in.
            color: k,
            line: if (k / super::PALETTE.len()) % 2 == 1 {
                super::LineKind::Dashed
            } else {
                super::LineKind::Solid
            },
            markers: false,
        });
    }
    panels.sort_by_key(|(o, _)| *o);
    let title = spec.title.clone().unwrap_or_else(|| {
        match (w.title.trim().is_empty(), w.plot_name.trim().is_empty()) {
            (false, false) => format!("{} — {}", w.title.trim(), w.plot_name.trim()),
            (false, true) => w.title.trim().to_string(),
            (true, _) => w.plot_name.trim().to_string(),
        }
    });
    let mut fig = Figure::new(&title, panels.into_iter().map(|(_, p)| p).collect());
    fig.panel_size = spec.panel_size;
    fig.shared_x = true;
    Ok(fig)
}

/// Indices of the signals (never the x column) that match any pattern, in file order.
fn select(w: &Waveforms, patterns: &[String]) -> Result<Vec<usize>, PlotError> {
    let candidates = 1..w.width();
    if patterns.is_empty() {
        return Ok(candidates.collect());
    }
    for p in patterns {
        if !candidates
            .clone()
            .any(|j| format::signal_matches(p, &w.signals[j].name))
        {
            let names: Vec<&str> = w.signals[1..].iter().map(|s| s.name.as_str()).collect();
            let mut available = names[..names.len().min(40)].join(", ");
            if names.len() > 40 {
                available.push_str(&format!(", … ({} in all)", names.len()));
            }
            return Err(PlotError::NoMatch {
                pattern: p.clone(),
                available,
            });
        }
    }
    Ok(candidates
        .filter(|&j| {
            patterns
                .iter()
                .any(|p| format::signal_matches(p, &w.signals[j].name))
        })
        .collect())
}
