//! `dac`: `A… [out_0 … out_{n−1}] [outn_0 … outn_{n−1}] M` (second vector only when
//! `differential=1`). Ideal voltage sources to ground: V(out_k) = vs·value_k,
//! V(outn_k) = −vs·value_k (values dimensionless, from `file`: one CSV row of n values;
//! zeros without a file). Parameters: `n`, `vs` (volts per unit), `file`, `differential`,
//! `bits` (0 = exact; `bits` > 0 rounds each value to the nearest of 2^bits − 1 levels
//! evenly spaced over [−`range`, `range`] (0 is a level; aihwkit's `inp_res` convention),
//! `range` default 1, values clamped to it; the quantiser is `gen::Quantiser`).

use super::{Params, internal_range};
use crate::circuit::{Element, Model, Port};
use crate::devices::{
    Charges, Device, DeviceError, InternalUnknowns, Layout, LoadCtx, SlotBuilder,
};

/// Input or target driver of the DFC circuit.
#[derive(Debug, Clone)]
pub struct Dac {
    n: usize,
    differential: bool,
    vs: f64,
    bits: u32,
    range: f64,
    /// Requested values (dimensionless), as set.
    values: Vec<f64>,
    /// Output voltages (volts) after quantisation: +outputs then −outputs.
    volts: Vec<f64>,
    /// Output node of each source and its branch unknown.
    nodes: Vec<usize>,
    branches: Vec<usize>,
    slots: Vec<[usize; 2]>,
}

fn sizes(p: &Params, ports: &[Port]) -> Result<(usize, bool), DeviceError> {
    let n = match p.count("n")? {
        Some(n) => n,
        None => p
            .port_len(ports, 0)
            .ok_or_else(|| p.err("missing `n` and the first port is not a vector"))?,
    };
    Ok((n, p.flag("differential", false)?))
}

pub(super) fn internal(
    element: &Element,
    ports: &[Port],
    model: &Model,
) -> Result<InternalUnknowns, DeviceError> {
    let p = Params::new(element, model);
    let (n, diff) = sizes(&p, ports)?;
    let mut branches: Vec<String> = (0..n).map(|k| format!("out_{k}")).collect();
    if diff {
        branches.extend((0..n).map(|k| format!("outn_{k}")));
    }
    Ok(InternalUnknowns {
        nodes: Vec::new(),
        branches,
    })
}

pub(super) fn build(
    element: &Element,
    ports: &[Port],
    model: &Model,
    layout: &Layout,
) -> Result<crate::devices::BoxedDevice, DeviceError> {
    let p = Params::new(element, model);
    let (n, diff) = sizes(&p, ports)?;
    let spec: &[(&str, Option<usize>)] = if diff {
        &[("out", Some(n)), ("outn", Some(n))]
    } else {
        &[("out", Some(n))]
    };
    let nodes: Vec<usize> = p.ports(ports, spec, layout)?.concat();
    let range = internal_range(element, layout, &p)?;
    let bits = p.count("bits")?.unwrap_or(0);
    if bits > 24 {
        return Err(p.err(format!("`bits` must be ≤ 24, got {bits}")));
    }
    let values = match p.path("file")? {
        Some(_) => p.csv("file", 1, n)?,
        None => vec![0.0; n],
    };
    let mut dac = Dac {
        n,
        differential: diff,
        vs: p.positive("vs")?,
        bits: bits as u32,
        range: p.num_or("range", 1.0)?,
        values: Vec::new(),
        volts: vec![0.0; nodes.len()],
        branches: range.branches.clone().collect(),
        slots: vec![[0; 2]; nodes.len()],
        nodes,
    };
    if dac.bits > 0 && dac.range <= 0.0 {
        return Err(p.err(format!("`range` must be > 0, got {}", dac.range)));
    }
    dac.set_values(&values).map_err(|m| p.err(m))?;
    Ok(Box::new(dac))
}

impl Dac {
    /// Number of channels n.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Dimensionless values as last set (before quantisation).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Volts per unit value.
    pub fn vs(&self) -> f64 {
        self.vs
    }

    /// Sets the n dimensionless values (takes effect at the next solve).
    pub fn set_values(&mut self, values: &[f64]) -> Result<(), String> {
        if values.len() != self.n {
            return Err(format!("expected {} values, got {}", self.n, values.len()));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(format!("value {v} is not finite"));
        }
        self.values.clear();
        self.values.extend_from_slice(values);
        for (k, &v) in values.iter().enumerate() {
            let volts = self.vs * self.quantise(v);
            self.volts[k] = volts;
            if self.differential {
                self.volts[self.n + k] = -volts;
            }
        }
        Ok(())
    }

    /// The DAC's levels: the one quantiser of the periphery models (`gen::Quantiser`).
    fn quantise(&self, v: f64) -> f64 {
        crate::r#gen::Quantiser::new(self.bits, self.range).apply(v)
    }
}

impl Device for Dac {
    fn setup(&mut self, s: &mut SlotBuilder) {
        for (k, (&node, &b)) in self.nodes.iter().zip(&self.branches).enumerate() {
            self.slots[k] = [s.slot(node, b), s.slot(b, node)];
        }
    }

    #[inline]
    fn load(&mut self, x: &[f64], ctx: &LoadCtx, _: &mut Charges, f: &mut [f64], jac: &mut [f64]) {
        for k in 0..self.nodes.len() {
            let (node, b) = (self.nodes[k], self.branches[k]);
            f[node] += x[b];
            f[b] += x[node] - ctx.source_factor * self.volts[k];
            jac[self.slots[k][0]] += 1.0;
            jac[self.slots[k][1]] += 1.0;
        }
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}
