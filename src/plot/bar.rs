//! Bar charts: one value per category (e.g. final test error per hardware preset), with the
//! value written above each bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::{Draw, axis_scale, draw_title, err, font, padded, render};
use super::{Axis, PlotError, TITLE_HEIGHT, color, format};

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Index into [`super::PALETTE`] (use the same index for a preset in every plot).
    pub color: usize,
}

/// A bar chart: categories along x, values on the y axis.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub y: Axis,
    pub bars: Vec<Bar>,
    pub size: (u32, u32),
}

impl BarChart {
    pub fn new(title: &str, y: Axis, bars: Vec<Bar>) -> Self {
        BarChart {
            title: title.into(),
            y,
            bars,
            size: (900, 520),
        }
    }
}

/// Draws `chart` to `path` (`.png` or `.svg`).
pub fn bar_chart(chart: &BarChart, path: &Path) -> Result<(), PlotError> {
    if chart.bars.is_empty() || !chart.bars.iter().any(|b| b.value.is_finite()) {
        return Err(PlotError::Empty(format!(
            "bar chart `{}` has no finite values",
            chart.title
        )));
    }
    render(path, chart.size, chart)
}

impl Draw for BarChart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        k: u32,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (title_area, body) = root.split_vertically(TITLE_HEIGHT * k);
        draw_title(&title_area, &self.title, k)?;
        let finite = self.bars.iter().map(|b| b.value).filter(|v| v.is_finite());
        // Bars start at zero, so zero is always inside the range.
        let lo = finite.clone().fold(0.0f64, f64::min);
        let hi = finite.fold(0.0f64, f64::max);
        let y_axis = Axis {
            log: false,
            ..self.y.clone()
        };
        let (ys, y_desc) = axis_scale(&y_axis, (lo, hi));
        let (mut y0, mut y1) = padded((lo, hi), ys, false);
        // Head room for the value labels above (or below) the bars.
        let room = (y1 - y0) * 0.12;
        if hi > 0.0 {
            y1 += room;
        }
        if lo < 0.0 {
            y0 -= room;
        }
        let n = self.bars.len();
        let mut chart = ChartBuilder::on(&body)
            .margin(12 * k)
            .x_label_area_size(50 * k)
            .y_label_area_size(80 * k)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)
            .map_err(err)?;
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let x_fmt = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_step = (y1 - y0) / 6.0;
        let y_fmt = |v: &f64| format::tick_label(*v, y_step);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(2) * 2 + 1)
            .y_labels(7)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .y_desc(y_desc)
            .label_style(font(14 * k))
            .axis_desc_style(font(15 * k))
            .axis_style(BLACK.stroke_width(k))
            .set_all_tick_mark_size(4 * k)
            .bold_line_style(RGBColor(215, 215, 215))
            .light_line_style(RGBColor(242, 242, 242))
            .draw()
            .map_err(err)?;
        for (i, b) in self.bars.iter().enumerate() {
            if !b.value.is_finite() {
                continue;
            }
            let x = i as f64;
            let v = ys.apply(b.value);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.35, 0.0), (x + 0.35, v)],
                    color(b.color).filled(),
                )))
                .map_err(err)?;
            let anchor = if v >= 0.0 { VPos::Bottom } else { VPos::Top };
            let offset = if v >= 0.0 { room * 0.15 } else { -room * 0.15 };
            chart
                .draw_series(std::iter::once(Text::new(
                    format::compact(v),
                    (x, v + offset),
                    font(14 * k).pos(Pos::new(HPos::Center, anchor)),
                )))
                .map_err(err)?;
        }
        Ok(())
    }
}
