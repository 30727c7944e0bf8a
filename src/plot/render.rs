//! Drawing a [`Figure`] on a plotters backend: panels, axes, legend columns, thinning.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Axis, FONT, Figure, LineKind, Panel, PlotError, Series, TITLE_HEIGHT, color, format,
    register_font,
};

/// Something that draws itself on any plotters backend. `k` multiplies every pixel size
/// (fonts, margins, line widths): PNGs are drawn at `k = 2` and averaged down, which
/// smooths lines and text that the bitmap backend does not antialias.
pub(crate) trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, k: u32)
    -> Result<(), String>;
}

/// Supersampling factor of PNG output.
const PNG_SUPERSAMPLE: u32 = 2;

/// Creates the backend for `path` by extension and draws `what` on it.
pub(crate) fn render(path: &Path, size: (u32, u32), what: &impl Draw) -> Result<(), PlotError> {
    register_font();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        return Err(PlotError::Format {
            path: path.to_path_buf(),
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let draw_err = |message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    if ext.as_deref() == Some("png") {
        let k = PNG_SUPERSAMPLE;
        let big_size = (size.0 * k, size.1 * k);
        let mut big = vec![255u8; big_size.0 as usize * big_size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut big, big_size).into_drawing_area();
            what.draw(&root, k).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))?;
        }
        let small = downsample(&big, big_size, k);
        let mut png = BitMapBackend::new(path, size);
        png.blit_bitmap((0, 0), size, &small)
            .map_err(|e| draw_err(e.to_string()))?;
        png.present().map_err(|e| draw_err(e.to_string()))
    } else {
        let root = SVGBackend::new(path, size).into_drawing_area();
        what.draw(&root, 1).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))
    }
}

/// Averages `k`×`k` blocks of an RGB buffer.
fn downsample(big: &[u8], (bw, bh): (u32, u32), k: u32) -> Vec<u8> {
    let (w, h) = ((bw / k) as usize, (bh / k) as usize);
    let (bw, k) = (bw as usize, k as usize);
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..k {
                    let row = (y * k + dy) * bw;
                    for dx in 0..k {
                        sum += u32::from(big[(row + x * k + dx) * 3 + c]);
                    }
                }
                out[(y * w + x) * 3 + c] = ((sum + (k * k / 2) as u32) / (k * k) as u32) as u8;
            }
        }
    }
    out
}

/// A finite value, and positive on a log axis.
fn drawable(log: bool, v: f64) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

pub(crate) fn has_data(p: &Panel) -> bool {
    p.series.iter().any(|s| {
        s.x.iter()
            .zip(&s.y)
            .any(|(&x, &y)| drawable(p.x.log, x) && drawable(p.y.log, y))
    })
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

impl Draw for Figure {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        k: u32,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (title_area, body) = root.split_vertically(TITLE_HEIGHT * k);
        draw_title(&title_area, &self.title, k)?;
        let cols = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(cols).max(1);
        let cells = body.split_evenly((rows, cols));
        let shared = if self.shared_x {
            self.panels
                .iter()
                .filter_map(|p| data_range(p, true))
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        } else {
            None
        };
        // One legend width per grid column, so that stacked plot areas line up.
        let mut layouts = Vec::with_capacity(self.panels.len());
        let mut legend_w = vec![0u32; cols];
        for (i, (panel, cell)) in self.panels.iter().zip(&cells).enumerate() {
            let layout = legend_layout(cell, &legend_labels(panel), k)?;
            legend_w[i % cols] = legend_w[i % cols].max(layout.width());
            layouts.push(layout);
        }
        for (i, ((panel, cell), layout)) in self.panels.iter().zip(&cells).zip(&layouts).enumerate()
        {
            draw_panel(cell, panel, shared, layout, legend_w[i % cols], k)?;
        }
        Ok(())
    }
}

pub(crate) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    k: u32,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let title = fit_text(area, title, &font(22 * k), w.saturating_sub(20 * k))?;
    let style = font(22 * k).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(&title, &style, (w as i32 / 2, h as i32 / 2 + 2 * k as i32))
        .map_err(err)
}

/// Shortens `text` with an ellipsis until it fits `max_w` pixels.
pub(crate) fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> Result<String, String> {
    let mut chars: Vec<char> = text.chars().collect();
    let mut s = text.to_string();
    while area.estimate_text_size(&s, style).map_err(err)?.0 > max_w && chars.len() > 1 {
        chars.pop();
        s = chars.iter().collect::<String>() + "…";
    }
    Ok(s)
}

/// Finite data range of a panel on x (`on_x`) or y, in SI units, honouring log y.
fn data_range(p: &Panel, on_x: bool) -> Option<(f64, f64)> {
    let fixed = if on_x { p.x.range } else { p.y.range };
    if fixed.is_some() {
        return fixed;
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in &p.series {
        for (&x, &y) in s.x.iter().zip(&s.y) {
            if !(drawable(p.x.log, x) && drawable(p.y.log, y)) {
                continue;
            }
            let v = if on_x { x } else { y };
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

/// How an axis maps SI values to drawn coordinates: scale by an SI prefix or take log10.
#[derive(Clone, Copy)]
pub(crate) struct Scale {
    pub factor: f64,
    pub log: bool,
}

impl Scale {
    pub fn apply(self, v: f64) -> f64 {
        if self.log { v.log10() } else { v * self.factor }
    }
}

/// Picks the SI prefix for an axis and returns the scale and the axis description.
pub(crate) fn axis_scale(axis: &Axis, range: (f64, f64)) -> (Scale, String) {
    let with_unit = |prefix: &str| {
        if axis.unit.is_empty() && prefix.is_empty() {
            axis.label.clone()
        } else {
            format!("{} [{prefix}{}]", axis.label, axis.unit)
        }
    };
    if axis.log {
        return (
            Scale {
                factor: 1.0,
                log: true,
            },
            with_unit(""),
        );
    }
    let max_abs = range.0.abs().max(range.1.abs());
    let exp3 = format::engineering_exponent(max_abs);
    let (factor, desc) = if axis.unit == "°" || (axis.unit.is_empty() && (-3..=3).contains(&exp3))
    {
        (1.0, with_unit(""))
    } else if axis.unit.is_empty() {
        (10f64.powi(-exp3), format!("{} [×1e{exp3}]", axis.label))
    } else {
        (10f64.powi(-exp3), with_unit(format::si_prefix(exp3)))
    };
    (Scale { factor, log: false }, desc)
}

/// Scaled drawing range, padded by 5 % when `pad`; never empty.
pub(crate) fn padded(range: (f64, f64), scale: Scale, pad: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (scale.apply(range.0), scale.apply(range.1));
    if hi - lo <= 1e-12 * hi.abs().max(lo.abs()) || hi - lo <= f64::MIN_POSITIVE {
        let d = if scale.log {
            0.5
        } else if lo.abs() > 0.0 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        return (lo - d, hi + d);
    }
    if pad {
        let d = (hi - lo) * 0.05;
        lo -= d;
        hi += d;
    }
    (lo, hi)
}

/// Legend layout of one panel: entries in columns of `per_col` rows.
struct LegendLayout {
    col_width: u32,
    per_col: usize,
    columns: usize,
    shown: usize,
    total: usize,
}

const LEGEND_FONT: u32 = 14;
const LEGEND_ROW: u32 = 20;
const LEGEND_SAMPLE: u32 = 26;
const LEGEND_TOP: u32 = 34;

impl LegendLayout {
    fn width(&self) -> u32 {
        if self.total == 0 {
            0
        } else {
            self.col_width * self.columns as u32
        }
    }
}

fn legend_layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[&str],
    k: u32,
) -> Result<LegendLayout, String> {
    let (w, h) = area.dim_in_pixel();
    let mut text_w = 0;
    for l in labels {
        text_w = text_w.max(
            area.estimate_text_size(l, &font(k * LEGEND_FONT))
                .map_err(err)?
                .0,
        );
    }
    let max_total = w * 2 / 5;
    let col_width = (text_w + (k * LEGEND_SAMPLE) + 24 * k).min(max_total);
    let per_col = (h.saturating_sub((k * LEGEND_TOP) + 40 * k) / (k * LEGEND_ROW)).max(1) as usize;
    let need_cols = labels.len().div_ceil(per_col).max(1);
    let columns = need_cols.min((max_total / col_width).max(1) as usize);
    let capacity = columns * per_col;
    // When the entries do not fit, the last slot says how many are left out.
    let shown = if labels.len() > capacity {
        capacity - 1
    } else {
        labels.len()
    };
    Ok(LegendLayout {
        col_width,
        per_col,
        columns,
        shown,
        total: labels.len(),
    })
}

fn line_style(s: &Series, k: u32) -> ShapeStyle {
    color(s.color).stroke_width(2 * k)
}

fn legend_labels(panel: &Panel) -> Vec<&str> {
    panel
        .series
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| s.label.as_str())
        .collect()
}

fn draw_panel<DB: DrawingBackend>(
    cell: &DrawingArea<DB, Shift>,
    panel: &Panel,
    shared_x: Option<(f64, f64)>,
    legend: &LegendLayout,
    legend_w: u32,
    k: u32,
) -> Result<(), String> {
    let (w, _) = cell.dim_in_pixel();
    let (plot_area, legend_area) = cell.split_horizontally(w.saturating_sub(legend_w.max(10 * k)));

    let Some(x_range) = shared_x.or_else(|| data_range(panel, true)) else {
        return Ok(());
    };
    let Some(y_range) = data_range(panel, false) else {
        return Ok(());
    };
    let (xs, x_desc) = axis_scale(&panel.x, x_range);
    let (ys, y_desc) = axis_scale(&panel.y, y_range);
    // Markers at the ends would be cut in half by the plot's edge: give them room.
    let markers = panel.series.iter().any(|s| s.markers);
    let (x0, x1) = padded(x_range, xs, markers && panel.x.range.is_none());
    let (y0, y1) = padded(y_range, ys, panel.y.range.is_none());

    let mut builder = ChartBuilder::on(&plot_area);
    builder
        .margin_top(8 * k)
        .margin_left(8 * k)
        .margin_right(16 * k)
        .margin_bottom(6 * k)
        .x_label_area_size(48 * k)
        .y_label_area_size(78 * k);
    if !panel.title.is_empty() {
        builder.caption(&panel.title, font(16 * k));
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
    // On a log axis, one label per decade when the data span two or more decades.
    let y_labels = if ys.log {
        ((y1 - y0).ceil() as usize + 1).clamp(3, 10)
    } else {
        7
    };
    let x_step = (x1 - x0) / 8.0;
    let y_step = (y1 - y0) / 6.0;
    let x_integer = panel.x.integer && !xs.log;
    let x_fmt = |v: &f64| {
        if xs.log {
            format::compact(10f64.powf(*v))
        } else if x_integer {
            // Only whole-number ticks are labelled on a count axis.
            let r = v.round();
            if (v - r).abs() < 1e-9 * (1.0 + r.abs()) {
                format!("{r:.0}")
            } else {
                String::new()
            }
        } else {
            format::tick_label(*v, x_step)
        }
    };
    let x_labels = if xs.log {
        ((x1 - x0).ceil() as usize + 1).clamp(3, 10)
    } else if x_integer {
        // One tick per whole number when few, else plotters' round steps.
        ((x1.floor() - x0.ceil()) as usize + 1).clamp(2, 11)
    } else {
        9
    };
    let y_fmt = |v: &f64| {
        if ys.log {
            format::compact(10f64.powf(*v))
        } else {
            format::tick_label(*v, y_step)
        }
    };
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(13 * k))
        .axis_desc_style(font(15 * k))
        .axis_style(BLACK.stroke_width(k))
        .set_all_tick_mark_size(4 * k)
        .bold_line_style(RGBColor(215, 215, 215))
        .light_line_style(RGBColor(242, 242, 242))
        .draw()
        .map_err(err)?;

    // Thin to pixel columns of the final picture (not of the supersampled canvas).
    let plot_px = (plot_area.dim_in_pixel().0 / k).max(100) as usize;
    for s in &panel.series {
        let style = line_style(s, k);
        for segment in segments(s, xs, ys, (x0, x1), plot_px) {
            match s.line {
                // The bitmap backend (k > 1) fills thick polylines as one polygon, which
                // breaks on sharp zigzags (spikes across the picture) and thins some steep
                // segments. There, stamp the 1-pixel polyline with a square brush instead.
                LineKind::Solid if k > 1 => {
                    brush_polyline(chart.plotting_area(), &segment, color(s.color), 2 * k)?;
                }
                LineKind::Solid => {
                    chart
                        .draw_series(LineSeries::new(segment.iter().copied(), style))
                        .map_err(err)?;
                }
                LineKind::Dashed => {
                    chart
                        .draw_series(DashedLineSeries::new(
                            segment.iter().copied(),
                            8 * k,
                            5 * k,
                            style,
                        ))
                        .map_err(err)?;
                }
            }
            if s.markers {
                chart
                    .draw_series(
                        segment
                            .iter()
                            .map(|&p| Circle::new(p, 3 * k, color(s.color).filled())),
                    )
                    .map_err(err)?;
            }
        }
    }
    if legend.total > 0 {
        draw_legend(&legend_area, panel, legend, k)?;
    }
    Ok(())
}

/// Draws a polyline `width` pixels wide as `width`² shifted copies of a 1-pixel polyline.
fn brush_polyline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: &[(f64, f64)],
    color: RGBColor,
    width: u32,
) -> Result<(), String> {
    let base = area.get_base_pixel();
    let mut pixels: Vec<(i32, i32)> = Vec::with_capacity(points.len());
    for p in points {
        let (x, y) = area.map_coordinate(p);
        let q = (x - base.0, y - base.1);
        if pixels.last() != Some(&q) {
            pixels.push(q);
        }
    }
    if pixels.len() == 1 {
        pixels.push(pixels[0]);
    }
    let canvas = area.strip_coord_spec();
    let w = width as i32;
    let offsets = -(w - 1) / 2..=w / 2;
    let style = color.stroke_width(1);
    for dx in offsets.clone() {
        for dy in offsets.clone() {
            let shifted: Vec<(i32, i32)> = pixels.iter().map(|&(x, y)| (x + dx, y + dy)).collect();
            canvas
                .draw(&PathElement::new(shifted, style))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    layout: &LegendLayout,
    k: u32,
) -> Result<(), String> {
    let entries: Vec<&Series> = panel
        .series
        .iter()
        .filter(|s| !s.label.is_empty())
        .collect();
    let text_style = font(k * LEGEND_FONT).pos(Pos::new(HPos::Left, VPos::Center));
    let max_text = layout.col_width.saturating_sub(k * (LEGEND_SAMPLE + 16));
    let ki = k as i32;
    let (row_h, sample) = ((k * LEGEND_ROW) as i32, (k * LEGEND_SAMPLE) as i32);
    let slot = |n: usize| {
        let x = 4 * ki + (n / layout.per_col) as i32 * layout.col_width as i32;
        let y = (k * LEGEND_TOP) as i32 + row_h / 2 + (n % layout.per_col) as i32 * row_h;
        (x, y)
    };
    for (n, s) in entries.iter().take(layout.shown).enumerate() {
        let (x, y) = slot(n);
        let style = line_style(s, k);
        match s.line {
            LineKind::Solid => area
                .draw(&PathElement::new(vec![(x, y), (x + sample, y)], style))
                .map_err(err)?,
            LineKind::Dashed => {
                for dash in 0..3 {
                    let a = x + dash * 10 * ki;
                    area.draw(&PathElement::new(vec![(a, y), (a + 6 * ki, y)], style))
                        .map_err(err)?;
                }
            }
        }
        if s.markers {
            area.draw(&Circle::new(
                (x + sample / 2, y),
                3 * k,
                color(s.color).filled(),
            ))
            .map_err(err)?;
        }
        let label = fit_text(area, &s.label, &font(k * LEGEND_FONT), max_text)?;
        area.draw_text(&label, &text_style, (x + sample + 6 * ki, y))
            .map_err(err)?;
    }
    let hidden = entries.len() - layout.shown;
    if hidden > 0 {
        area.draw_text(&format!("… {hidden} more"), &text_style, slot(layout.shown))
            .map_err(err)?;
    }
    Ok(())
}

/// The drawn points of a series: scaled, split at non-finite values, and thinned to the
/// minimum and maximum of each pixel column when there are many more samples than pixels,
/// which keeps the envelope of fast signals and keeps drawing fast and SVG files small.
fn segments(
    s: &Series,
    xs: Scale,
    ys: Scale,
    x_range: (f64, f64),
    pixels: usize,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (&x, &y) in s.x.iter().zip(&s.y) {
        if drawable(xs.log, x) && drawable(ys.log, y) {
            cur.push((xs.apply(x), ys.apply(y)));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    for seg in &mut out {
        if seg.len() > 2 * pixels {
            *seg = thin(seg, x_range, pixels);
        }
    }
    out
}

fn thin(points: &[(f64, f64)], (x0, x1): (f64, f64), pixels: usize) -> Vec<(f64, f64)> {
    let width = (x1 - x0).max(f64::MIN_POSITIVE);
    let bucket_of =
        |x: f64| (((x - x0) / width * pixels as f64).floor() as i64).clamp(-1, pixels as i64);
    let mut out = Vec::with_capacity(2 * pixels + 8);
    let mut start = 0;
    while start < points.len() {
        let b = bucket_of(points[start].0);
        let mut end = start + 1;
        while end < points.len() && bucket_of(points[end].0) == b {
            end += 1;
        }
        let bucket = &points[start..end];
        let (mut imin, mut imax) = (0, 0);
        for (i, p) in bucket.iter().enumerate() {
            if p.1 < bucket[imin].1 {
                imin = i;
            }
            if p.1 > bucket[imax].1 {
                imax = i;
            }
        }
        // Within one pixel column only the extremes show; keep them in x order, and the
        // very first and last samples so the curve starts and ends where the data does.
        let (a, b) = if imin <= imax {
            (imin, imax)
        } else {
            (imax, imin)
        };
        for (i, p) in bucket.iter().enumerate() {
            let ends = (start == 0 && i == 0) || (end == points.len() && i + 1 == bucket.len());
            if i == a || i == b || ends {
                out.push(*p);
            }
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_envelope_and_ends() {
        let pts: Vec<(f64, f64)> = (0..100_000)
            .map(|i| {
                let x = i as f64 / 100_000.0;
                (x, if i == 54_321 { 5.0 } else { (x * 300.0).sin() })
            })
            .collect();
        let t = thin(&pts, (0.0, 1.0), 500);
        assert!(t.len() <= 2 * 500 + 4, "{}", t.len());
        assert_eq!(t.first(), pts.first());
        assert_eq!(t.last(), pts.last());
        assert!(t.iter().any(|p| p.1 == 5.0), "spike kept");
        assert!(t.windows(2).all(|w| w[0].0 <= w[1].0), "x order kept");
    }

    #[test]
    fn axis_descriptions_carry_si_prefixes() {
        let (s, d) = axis_scale(&Axis::new("time", "s"), (0.0, 5e-6));
        assert_eq!(d, "time [µs]");
        assert_eq!(s.apply(2e-6), 2.0);
        let (_, d) = axis_scale(&Axis::new("current", "A"), (-3e-3, 1e-3));
        assert_eq!(d, "current [mA]");
        let (_, d) = axis_scale(&Axis::new("voltage", "V"), (0.0, 1.0));
        assert_eq!(d, "voltage [V]");
        let (_, d) = axis_scale(&Axis::new("c1", ""), (0.0, 1e-6));
        assert_eq!(d, "c1 [×1e-6]");
        let (_, d) = axis_scale(&Axis::new("angle", "°"), (0.0, 90.0));
        assert_eq!(d, "angle [°]");
        let (s, d) = axis_scale(&Axis::new("loss", "").log(true), (1e-3, 1.0));
        assert_eq!(d, "loss");
        assert_eq!(s.apply(1e-3), -3.0);
    }

    #[test]
    fn flat_ranges_are_widened() {
        let s = Scale {
            factor: 1.0,
            log: false,
        };
        assert_eq!(padded((0.0, 0.0), s, true), (-1.0, 1.0));
        let (lo, hi) = padded((2.0, 2.0), s, true);
        assert!(lo < 2.0 && hi > 2.0);
    }
}
