//! PNG/SVG plots of waveforms and training curves (plotters, embedded DejaVu Sans).
//!
//! One renderer ([`lines`]) draws a [`Figure`]: a grid of [`Panel`]s, each with its own axes
//! and a legend in a column beside the plot area (so it never covers data). Everything else
//! builds a `Figure`: [`waveforms`] (simulation output, one panel per unit), [`training`]
//! (`metrics.csv`), and callers such as `compare` (overlaid loss curves, sweeps). Series pick
//! colours from one [`PALETTE`] by index, so the same index means the same colour in every
//! plot of a report. [`bar_chart`] draws one value per category.

pub mod bar;
pub mod format;
mod render;
pub mod training;
pub mod waveforms;

use std::path::{Path, PathBuf};

use plotters::prelude::*;

pub use bar::{Bar, BarChart, bar_chart};
pub use training::{training, training_figure};
pub use waveforms::{PlotSpec, plot_run, waveforms, waveforms_figure};

/// Errors of plotting; each names the output file or the missing signal.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: drawing failed: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{path}: unsupported plot format (use .png or .svg)")]
    Format { path: PathBuf },
    #[error("no signal matches `{pattern}`; signals in the file: {available}")]
    NoMatch { pattern: String, available: String },
    #[error("nothing to plot: {0}")]
    Empty(String),
}

/// The font every plot uses, embedded so that plots need no system fonts.
pub(crate) const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once per process).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate: failure is a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS)
            .unwrap_or_else(|_| panic!("embedded DejaVuSans.ttf is not a valid font"));
    });
}

/// Colour-blind-friendly categorical palette (matplotlib's tab10); index with [`color`].
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Palette colour `i` (cycling).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One axis: what it shows and in which unit.
#[derive(Debug, Clone, Default)]
pub struct Axis {
    /// Quantity, e.g. `time`, `voltage`, `test loss`.
    pub label: String,
    /// SI unit symbol (`s`, `V`, `A`, `J`, `°`) or empty for dimensionless values. With a
    /// unit other than `°` the axis gets an SI prefix (`time [µs]`, `voltage [mV]`).
    pub unit: String,
    /// Logarithmic axis (non-positive values are left out).
    pub log: bool,
    /// Fixed range in SI units; `None` fits the data.
    pub range: Option<(f64, f64)>,
    /// Only whole numbers are labelled (epochs, bits): no `1.5` ticks on a count axis.
    pub integer: bool,
}

impl Axis {
    pub fn new(label: &str, unit: &str) -> Self {
        Axis {
            label: label.into(),
            unit: unit.into(),
            ..Axis::default()
        }
    }
    pub fn log(mut self, log: bool) -> Self {
        self.log = log;
        self
    }
    pub fn integer(mut self) -> Self {
        self.integer = true;
        self
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineKind {
    #[default]
    Solid,
    Dashed,
}

/// One curve.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Index into [`PALETTE`].
    pub color: usize,
    pub line: LineKind,
    /// Also mark each sample with a dot (useful for few points, e.g. epochs).
    pub markers: bool,
}

/// A plot area with its own axes and legend.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// A titled grid of panels, filled row by row.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
    pub columns: usize,
    /// Pixel size of one panel (plot area, axes and legend column).
    pub panel_size: (u32, u32),
    /// Same x range on every panel (stacked waveforms over one time axis).
    pub shared_x: bool,
}

/// Height of the figure title band in pixels.
pub(crate) const TITLE_HEIGHT: u32 = 44;

impl Figure {
    pub fn new(title: &str, panels: Vec<Panel>) -> Self {
        Figure {
            title: title.into(),
            panels,
            columns: 1,
            panel_size: (1200, 320),
            shared_x: false,
        }
    }

    /// Pixel size of the whole picture.
    pub fn size(&self) -> (u32, u32) {
        let cols = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(cols).max(1);
        (
            self.panel_size.0 * cols as u32,
            TITLE_HEIGHT + self.panel_size.1 * rows as u32,
        )
    }
}

/// Draws `fig` to `path` (`.png` or `.svg`, creating the parent directory).
pub fn lines(fig: &Figure, path: &Path) -> Result<(), PlotError> {
    let drawn: Vec<Panel> = fig
        .panels
        .iter()
        .filter(|p| render::has_data(p))
        .cloned()
        .collect();
    if drawn.is_empty() {
        return Err(PlotError::Empty(format!(
            "`{}` has no finite data points",
            fig.title
        )));
    }
    let fig = Figure {
        panels: drawn,
        ..fig.clone()
    };
    render::render(path, fig.size(), &fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_size_from_grid() {
        let p = Panel::default();
        let mut f = Figure::new("t", vec![p.clone(), p.clone(), p]);
        assert_eq!(f.size(), (1200, TITLE_HEIGHT + 3 * 320));
        f.columns = 2;
        f.panel_size = (600, 300);
        assert_eq!(f.size(), (1200, TITLE_HEIGHT + 600));
    }
}
