//! `crossbar`: `A… [inp_0 … inp_{R−1}] [inn_0 … inn_{R−1}] [col_0 … col_{C−1}] M`.
//! For every row j and column k a conductance G⁺_jk between `inn_j` and `col_k` and G⁻_jk
//! between `inp_j` and `col_k` (siemens, from `gpfile`/`gnfile`: R rows × C columns).
//! Parameters: `rows`, `cols`, `gpfile`, `gnfile`, `bias_row`, `r_f` (w_kj = r_f (G⁺_jk −
//! G⁻_jk)), `vs`, `gmin`, `gmax`, `device`, `plastic`, `matrix`.
//!
//! The Jacobian block is constant: the device keeps the slot of every off-diagonal entry
//! and the row/column sums for the diagonals, and writes them straight into the matrix.

use super::Params;
use crate::circuit::{Element, Model, Port};
use crate::devices::{Charges, Device, DeviceError, Layout, LoadCtx, SlotBuilder};

/// A differential crossbar (conductances in siemens, row-major R × C).
#[derive(Debug, Clone)]
pub struct Crossbar {
    rows: usize,
    cols: usize,
    inp: Vec<usize>,
    inn: Vec<usize>,
    col: Vec<usize>,
    gp: Vec<f64>,
    gn: Vec<f64>,
    /// Σ_k G⁺_jk (diagonal of inn_j), Σ_k G⁻_jk (inp_j), Σ_j G⁺_jk + G⁻_jk (col_k).
    sum_p: Vec<f64>,
    sum_n: Vec<f64>,
    sum_col: Vec<f64>,
    /// Slots (inn_j, col_k), (col_k, inn_j), (inp_j, col_k), (col_k, inp_j), row-major.
    s_nc: Vec<usize>,
    s_cn: Vec<usize>,
    s_pc: Vec<usize>,
    s_cp: Vec<usize>,
    s_diag_p: Vec<usize>,
    s_diag_n: Vec<usize>,
    s_diag_c: Vec<usize>,
    r_f: f64,
    g_range: (f64, f64),
    bias_row: bool,
    plastic: bool,
    matrix: String,
    device: String,
}

pub(super) fn build(
    element: &Element,
    ports: &[Port],
    model: &Model,
    layout: &Layout,
) -> Result<crate::devices::BoxedDevice, DeviceError> {
    let p = Params::new(element, model);
    let rows = match p.count("rows")? {
        Some(r) => r,
        None => p
            .port_len(ports, 0)
            .ok_or_else(|| p.err("missing `rows` and the first port is not a vector"))?,
    };
    let cols = match p.count("cols")? {
        Some(c) => c,
        None => p
            .port_len(ports, 2)
            .ok_or_else(|| p.err("missing `cols` and the third port is not a vector"))?,
    };
    let nodes = p.ports(
        ports,
        &[
            ("inp", Some(rows)),
            ("inn", Some(rows)),
            ("col", Some(cols)),
        ],
        layout,
    )?;
    let gp = p.csv("gpfile", rows, cols)?;
    let gn = p.csv("gnfile", rows, cols)?;
    let mut xb = Crossbar {
        rows,
        cols,
        inp: nodes[0].clone(),
        inn: nodes[1].clone(),
        col: nodes[2].clone(),
        gp: vec![0.0; rows * cols],
        gn: vec![0.0; rows * cols],
        sum_p: vec![0.0; rows],
        sum_n: vec![0.0; rows],
        sum_col: vec![0.0; cols],
        s_nc: vec![0; rows * cols],
        s_cn: vec![0; rows * cols],
        s_pc: vec![0; rows * cols],
        s_cp: vec![0; rows * cols],
        s_diag_p: vec![0; rows],
        s_diag_n: vec![0; rows],
        s_diag_c: vec![0; cols],
        r_f: p.num_or("r_f", 0.0)?,
        g_range: (p.num_or("gmin", 0.0)?, p.num_or("gmax", f64::INFINITY)?),
        bias_row: p.flag("bias_row", false)?,
        plastic: p.flag("plastic", false)?,
        matrix: p.string("matrix")?.unwrap_or_else(|| element.name.clone()),
        device: p.string("device")?.unwrap_or_else(|| "ideal".into()),
    };
    for (key, g) in [("gpfile", &gp), ("gnfile", &gn)] {
        if let Some((k, v)) = g.iter().enumerate().find(|(_, v)| **v < 0.0) {
            return Err(p.err(format!(
                "`{key}` row {}, column {}: conductance {v:e} S is negative",
                k / cols + 1,
                k % cols + 1
            )));
        }
    }
    xb.set_conductances(&gp, &gn).map_err(|m| p.err(m))?;
    Ok(Box::new(xb))
}

impl Crossbar {
    /// Number of input lines R (incl. the bias line when `bias_row`).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Number of output wires C.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// G⁺ in siemens, row-major R × C (row j = input line j).
    pub fn g_plus(&self) -> &[f64] {
        &self.gp
    }
    /// G⁻ in siemens, row-major R × C.
    pub fn g_minus(&self) -> &[f64] {
        &self.gn
    }
    /// The neurons' feedback resistor R_f (ohms; 0 when the model does not give it).
    pub fn r_f(&self) -> f64 {
        self.r_f
    }
    /// (`gmin`, `gmax`) of the model, siemens.
    pub fn g_range(&self) -> (f64, f64) {
        self.g_range
    }
    pub fn bias_row(&self) -> bool {
        self.bias_row
    }
    pub fn plastic(&self) -> bool {
        self.plastic
    }
    /// Matrix name of the model, lower-case as parsed (`w1`, `q2`, …).
    pub fn matrix(&self) -> &str {
        &self.matrix
    }
    /// Conductance device model name (`device=`).
    pub fn device_model(&self) -> &str {
        &self.device
    }

    /// Replaces G⁺ and G⁻ (siemens, row-major R × C, finite and ≥ 0); the new values
    /// reach the matrix at the next Newton assembly (the LU refactorises then).
    pub fn set_conductances(&mut self, gp: &[f64], gn: &[f64]) -> Result<(), String> {
        let len = self.rows * self.cols;
        for (name, g) in [("G+", gp), ("G-", gn)] {
            if g.len() != len {
                return Err(format!(
                    "{name}: expected {} × {} = {len} conductances, got {}",
                    self.rows,
                    self.cols,
                    g.len()
                ));
            }
            if let Some(v) = g.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                return Err(format!(
                    "{name}: conductance {v:e} S must be finite and ≥ 0"
                ));
            }
        }
        self.gp.copy_from_slice(gp);
        self.gn.copy_from_slice(gn);
        self.sum_p.fill(0.0);
        self.sum_n.fill(0.0);
        self.sum_col.fill(0.0);
        for j in 0..self.rows {
            for k in 0..self.cols {
                let (p, n) = (self.gp[j * self.cols + k], self.gn[j * self.cols + k]);
                self.sum_p[j] += p;
                self.sum_n[j] += n;
                self.sum_col[k] += p + n;
            }
        }
        Ok(())
    }

    /// Weights w_kj = r_f (G⁺_jk − G⁻_jk) in crossbar orientation (row-major R × C).
    pub fn weights(&self) -> Vec<f64> {
        self.gp
            .iter()
            .zip(&self.gn)
            .map(|(p, n)| self.r_f * (p - n))
            .collect()
    }
}

impl Device for Crossbar {
    fn setup(&mut self, s: &mut SlotBuilder) {
        for j in 0..self.rows {
            self.s_diag_p[j] = s.slot(self.inn[j], self.inn[j]);
            self.s_diag_n[j] = s.slot(self.inp[j], self.inp[j]);
            for k in 0..self.cols {
                let at = j * self.cols + k;
                self.s_nc[at] = s.slot(self.inn[j], self.col[k]);
                self.s_cn[at] = s.slot(self.col[k], self.inn[j]);
                self.s_pc[at] = s.slot(self.inp[j], self.col[k]);
                self.s_cp[at] = s.slot(self.col[k], self.inp[j]);
            }
        }
        for k in 0..self.cols {
            self.s_diag_c[k] = s.slot(self.col[k], self.col[k]);
        }
    }

    #[inline]
    fn load(&mut self, x: &[f64], _: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        let cols = self.cols;
        // Column rows: Σ_j G⁺ (V_col − V_inn_j) + G⁻ (V_col − V_inp_j).
        for k in 0..cols {
            let c = self.col[k];
            f[c] += self.sum_col[k] * x[c];
            jac[self.s_diag_c[k]] += self.sum_col[k];
        }
        for j in 0..self.rows {
            let (pj, nj) = (self.inp[j], self.inn[j]);
            let (vp, vn) = (x[pj], x[nj]);
            let gp = &self.gp[j * cols..(j + 1) * cols];
            let gn = &self.gn[j * cols..(j + 1) * cols];
            let mut i_n = self.sum_p[j] * vn;
            let mut i_p = self.sum_n[j] * vp;
            for k in 0..cols {
                let c = self.col[k];
                let vc = x[c];
                i_n -= gp[k] * vc;
                i_p -= gn[k] * vc;
                f[c] -= gp[k] * vn + gn[k] * vp;
                let at = j * cols + k;
                jac[self.s_nc[at]] -= gp[k];
                jac[self.s_cn[at]] -= gp[k];
                jac[self.s_pc[at]] -= gn[k];
                jac[self.s_cp[at]] -= gn[k];
            }
            f[nj] += i_n;
            f[pj] += i_p;
            jac[self.s_diag_p[j]] += self.sum_p[j];
            jac[self.s_diag_n[j]] += self.sum_n[j];
        }
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}
