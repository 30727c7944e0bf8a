//! Waveforms: the probe data an analysis produces and every output format reads.

/// What a signal measures (decides rawfile type and plot axis units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Time,
    Voltage,
    Current,
    /// dimensionless or unknown (e.g. a column of a CSV written by another tool)
    None,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    /// Lower-case name as ngspice prints it: `time`, `v(out)`, `v(x1.n2)`, `i(v1)`.
    pub name: String,
    pub unit: Unit,
}

/// A table of samples: one row per accepted time point (or one row for `.op`),
/// one column per signal. Stored row-major so an analysis can append rows without
/// reallocating columns.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Waveforms {
    /// Netlist title line.
    pub title: String,
    /// ngspice plot name, e.g. `Transient Analysis`, `Operating Point`.
    pub plot_name: String,
    pub signals: Vec<Signal>,
    /// Row-major samples, `rows() * signals.len()` values.
    pub data: Vec<f64>,
}

impl Waveforms {
    pub fn new(title: &str, plot_name: &str, signals: Vec<Signal>) -> Self {
        Waveforms {
            title: title.to_string(),
            plot_name: plot_name.to_string(),
            signals,
            data: Vec::new(),
        }
    }

    pub fn width(&self) -> usize {
        self.signals.len()
    }

    pub fn rows(&self) -> usize {
        if self.signals.is_empty() {
            0
        } else {
            self.data.len() / self.signals.len()
        }
    }

    /// Appends one row; `row.len()` must equal the number of signals.
    pub fn push_row(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.signals.len());
        self.data.extend_from_slice(row);
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let w = self.width();
        &self.data[i * w..(i + 1) * w]
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.signals.iter().position(|s| s.name == name)
    }

    /// Copies one column out.
    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.rows())
            .map(|i| self.data[i * self.width() + j])
            .collect()
    }

    /// Column `j` at time `t` (column 0 holds the times, ascending), linearly interpolated
    /// between the rows around `t` and held at the first/last row outside them. NaN
    /// without rows.
    pub fn value_at(&self, j: usize, t: f64) -> f64 {
        let rows = self.rows();
        if rows == 0 {
            return f64::NAN;
        }
        let w = self.width();
        // First row with time ≥ t (binary search).
        let (mut k, mut hi) = (0, rows);
        while k < hi {
            let mid = (k + hi) / 2;
            if self.data[mid * w] < t {
                k = mid + 1;
            } else {
                hi = mid;
            }
        }
        if k == 0 {
            return self.data[j];
        }
        if k == rows {
            return self.data[(rows - 1) * w + j];
        }
        let (a, b) = (self.row(k - 1), self.row(k));
        let s = if b[0] > a[0] {
            (t - a[0]) / (b[0] - a[0])
        } else {
            1.0
        };
        a[j] + s * (b[j] - a[j])
    }
}

/// Receives the plots of a run while they are computed (a transient's rows as they are
/// accepted), e.g. to write the output files as the run goes on.
pub trait RowSink {
    /// A plot starts; only `w`'s title, plot name and signals are looked at (not its rows).
    fn begin(&mut self, w: &Waveforms);
    /// Whole rows (row-major, one value per signal) were appended to the plot begun last.
    fn rows(&mut self, data: &[f64]);
    /// The plot begun last is complete (also when its analysis stopped part-way).
    fn end(&mut self);
    /// Whether the sink keeps the rows itself, so that a transient need not store them as
    /// well: its result then holds the signals and no rows. `false` unless overridden.
    fn keeps_rows(&self) -> bool {
        false
    }
}

/// A [`RowSink`] that ignores everything.
pub struct NoSink;

impl RowSink for NoSink {
    fn begin(&mut self, _: &Waveforms) {}
    fn rows(&mut self, _: &[f64]) {}
    fn end(&mut self) {}
}

#[cfg(test)]
mod value_at_tests {
    use super::*;

    #[test]
    fn interpolates_between_rows_and_holds_outside() {
        let signal = |name: &str, unit| Signal {
            name: name.into(),
            unit,
        };
        let signals = vec![signal("time", Unit::Time), signal("v(a)", Unit::Voltage)];
        let mut w = Waveforms::new("t", "p", signals);
        for row in [[0.0, 1.0], [1.0, 3.0], [3.0, -1.0]] {
            w.push_row(&row);
        }
        assert_eq!(w.value_at(1, -1.0), 1.0);
        assert_eq!(w.value_at(1, 0.5), 2.0);
        assert_eq!(w.value_at(1, 1.0), 3.0);
        assert_eq!(w.value_at(1, 2.0), 1.0);
        assert_eq!(w.value_at(1, 5.0), -1.0);
    }
}
