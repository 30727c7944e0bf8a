//! Pulse-response picture (weight against pulse number), drawn with plotters.
//!
//! Text needs a font: if the shared font asset `assets/fonts/DejaVuSans.ttf` exists in the
//! crate directory at run time it is registered and the axes are labelled; otherwise the
//! curves and a frame are drawn without any text (plotters cannot draw text without a font).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use super::response::PulseResponse;

/// Error of the picture writer.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {msg}")]
pub struct PlotError {
    pub path: String,
    pub msg: String,
}

/// Registers the repository's font once, if it is there. Returns whether text can be drawn.
fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fonts/DejaVuSans.ttf");
        match std::fs::read(&path) {
            Ok(bytes) => {
                // Fonts live for the whole run; leaking the one copy is what 'static needs.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        }
    })
}

/// Draws a few devices' traces (thin, coloured) and the population mean (thick, black) to
/// a PNG (or SVG if `path` ends in `.svg`).
pub fn plot_pulse_response(
    resp: &PulseResponse,
    title: &str,
    path: &Path,
) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if is_svg {
        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        draw(root, resp, title).map_err(|e| err(&e))
    } else {
        let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
        draw(root, resp, title).map_err(|e| err(&e))
    }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    resp: &PulseResponse,
    title: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let labels = font_available();
    root.fill(&WHITE)?;
    let n = resp.mean.len().max(2) - 1;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in resp.traces.iter().flatten().chain(&resp.mean) {
        if v.is_finite() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    if !lo.is_finite() || hi <= lo {
        lo -= 1.0;
        hi += 1.0;
    }
    let pad = 0.05 * (hi - lo);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if labels {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(0f64..n as f64, (lo - pad)..(hi + pad))?;
    if labels {
        chart
            .configure_mesh()
            .x_desc("pulse number (up, then down)")
            .y_desc("weight")
            .draw()?;
    } else {
        // Frame and light grid without text.
        let (x0, x1) = (0.0, n as f64);
        let (y0, y1) = (lo - pad, hi + pad);
        let grid = RGBColor(225, 225, 225);
        for j in 1..10 {
            let x = x0 + (x1 - x0) * j as f64 / 10.0;
            let y = y0 + (y1 - y0) * j as f64 / 10.0;
            chart.draw_series(LineSeries::new([(x, y0), (x, y1)], grid))?;
            chart.draw_series(LineSeries::new([(x0, y), (x1, y)], grid))?;
        }
        chart.draw_series(LineSeries::new(
            [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
            BLACK,
        ))?;
    }
    // Turn-around point between up and down pulses.
    let mid = (n / 2) as f64;
    chart.draw_series(LineSeries::new(
        [(mid, lo - pad), (mid, hi + pad)],
        RGBColor(180, 180, 180),
    ))?;
    for (d, trace) in resp.traces.iter().enumerate() {
        let color = Palette99::pick(d).mix(0.8);
        chart.draw_series(LineSeries::new(
            trace.iter().enumerate().map(|(j, w)| (j as f64, *w)),
            color.stroke_width(1),
        ))?;
    }
    chart.draw_series(LineSeries::new(
        resp.mean.iter().enumerate().map(|(j, w)| (j as f64, *w)),
        BLACK.stroke_width(3),
    ))?;
    root.present()?;
    Ok(())
}
