//! Pulse-response picture (weight against pulse number, up then down pulses), drawn with
//! the shared plot module so it has the same font, palette and layout as every other plot.

use std::path::Path;

use super::response::PulseResponse;
use crate::plot::{self, Axis, Figure, Panel, PlotError, Series};

/// Draws a few devices' traces and the population mean (last legend entry) to a PNG (or
/// SVG if `path` ends in `.svg`).
pub fn plot_pulse_response(
    resp: &PulseResponse,
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let pulse_axis = |n: usize| (0..n).map(|j| j as f64).collect::<Vec<f64>>();
    let mut series: Vec<Series> = resp
        .traces
        .iter()
        .enumerate()
        .map(|(d, trace)| Series {
            label: format!("device {d}"),
            x: pulse_axis(trace.len()),
            y: trace.clone(),
            color: d % (plot::PALETTE.len() - 1) + 1,
            ..Series::default()
        })
        .collect();
    series.push(Series {
        label: "mean".into(),
        x: pulse_axis(resp.mean.len()),
        y: resp.mean.clone(),
        color: 0,
        ..Series::default()
    });
    let panel = Panel {
        title: String::new(),
        x: Axis::new("pulse number (up, then down)", ""),
        y: Axis::new("weight", ""),
        series,
    };
    let mut fig = Figure::new(title, vec![panel]);
    fig.panel_size = (1000, 560);
    plot::lines(&fig, path)
}
