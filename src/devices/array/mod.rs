//! XSPICE-style `A` array devices: a registry maps a model kind (`crossbar`, …) to a
//! factory that builds a device implementing the ordinary `Device` trait, and optionally
//! to a function that names the internal unknowns the device needs (op-amp summing nodes,
//! output branch currents), which the engine allocates before building any device.
//!
//! Built-in kinds (equations and ports in `crate::gen`'s module docs): `dac`, `crossbar`,
//! `neuron_layer`, `pi_controller`. Each is exactly the circuit `dfcsim gen --flat` writes
//! for it, stamped directly (no per-iteration allocation).
//!
//! The learning co-simulation reaches a device through `Simulator::device_mut(element)`
//! and [`crossbar_mut`] / [`dac_mut`]; changed conductances reach the matrix at the next
//! Newton assembly, and the LU refactorises because the Jacobian values changed (the same
//! path as `Simulator::set_conductance`).

pub mod crossbar;
pub mod dac;
pub mod neuron_layer;
mod opamp;
pub mod pi_controller;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{AnyDevice, DeviceError, InternalUnknowns, Layout};
use crate::circuit::{Element, ElementKind, Model, ParamValue, Port};

pub use crossbar::Crossbar;
pub use dac::Dac;
pub use neuron_layer::NeuronLayer;
pub use pi_controller::PiController;

/// Builds an array device from its element, ports, model card and the unknown layout
/// (internal unknowns: `layout.internal` entry whose element has this name).
pub type ArrayFactory = fn(
    element: &Element,
    ports: &[Port],
    model: &Model,
    layout: &Layout,
) -> Result<crate::devices::BoxedDevice, DeviceError>;

/// Names the internal unknowns a device of this kind needs (cheap: ports and model only).
pub type InternalFn =
    fn(element: &Element, ports: &[Port], model: &Model) -> Result<InternalUnknowns, DeviceError>;

#[derive(Debug, Clone, Copy)]
struct Kind {
    factory: ArrayFactory,
    internal: Option<InternalFn>,
}

/// Known array device kinds; `new()` holds the built-in DFC kinds.
#[derive(Debug, Clone)]
pub struct ArrayRegistry {
    factories: BTreeMap<String, Kind>,
}

impl Default for ArrayRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl ArrayRegistry {
    /// Registry with the built-in kinds `dac`, `crossbar`, `neuron_layer`, `pi_controller`.
    pub fn new() -> Self {
        let mut r = Self::empty();
        r.register_with_internals("dac", dac::internal, dac::build);
        r.register("crossbar", crossbar::build);
        r.register_with_internals("neuron_layer", neuron_layer::internal, neuron_layer::build);
        r.register_with_internals(
            "pi_controller",
            pi_controller::internal,
            pi_controller::build,
        );
        r
    }

    /// Registry without any kind.
    pub fn empty() -> Self {
        ArrayRegistry {
            factories: BTreeMap::new(),
        }
    }

    /// Registers (or replaces) the factory for model kind `kind` (no internal unknowns).
    pub fn register(&mut self, kind: &str, factory: ArrayFactory) {
        self.factories.insert(
            kind.to_ascii_lowercase(),
            Kind {
                factory,
                internal: None,
            },
        );
    }

    /// Registers a kind whose devices need internal unknowns.
    pub fn register_with_internals(
        &mut self,
        kind: &str,
        internal: InternalFn,
        factory: ArrayFactory,
    ) {
        self.factories.insert(
            kind.to_ascii_lowercase(),
            Kind {
                factory,
                internal: Some(internal),
            },
        );
    }

    fn kind(&self, element: &Element, model: &Model) -> Result<Kind, DeviceError> {
        self.factories
            .get(&model.kind.to_ascii_lowercase())
            .copied()
            .ok_or_else(|| DeviceError::UnknownArrayModel {
                element: element.name.clone(),
                model: model.name.clone(),
                kind: model.kind.clone(),
            })
    }

    /// Internal unknowns of `element` (`None` for non-array elements and kinds without).
    pub fn internal_unknowns(
        &self,
        element: &Element,
    ) -> Result<Option<InternalUnknowns>, DeviceError> {
        let ElementKind::Array { ports, model } = &element.kind else {
            return Ok(None);
        };
        match self.kind(element, model)?.internal {
            Some(f) => f(element, ports, model).map(Some),
            None => Ok(None),
        }
    }

    pub fn build(
        &self,
        element: &Element,
        ports: &[Port],
        model: &Model,
        layout: &Layout,
    ) -> Result<crate::devices::BoxedDevice, DeviceError> {
        (self.kind(element, model)?.factory)(element, ports, model, layout)
    }
}

/// The crossbar behind an array element, if it is one.
pub fn crossbar_mut(dev: &mut AnyDevice) -> Option<&mut Crossbar> {
    match dev {
        AnyDevice::Array(d) => d.as_any_mut()?.downcast_mut::<Crossbar>(),
        _ => None,
    }
}

/// The DAC behind an array element, if it is one.
pub fn dac_mut(dev: &mut AnyDevice) -> Option<&mut Dac> {
    match dev {
        AnyDevice::Array(d) => d.as_any_mut()?.downcast_mut::<Dac>(),
        _ => None,
    }
}

/// The internal unknowns the layout gave `element` (looked up by name).
pub(crate) fn internal_range<'a>(
    element: &Element,
    layout: &'a Layout,
    p: &Params,
) -> Result<&'a super::InternalRange, DeviceError> {
    layout
        .internal
        .iter()
        .find(|r| layout.element_name(r.element) == element.name)
        .ok_or_else(|| p.err("the layout has no internal unknowns for this element"))
}

/// Typed access to a model card's parameters, with errors naming element, model and file.
pub(crate) struct Params<'a> {
    pub element: &'a Element,
    pub model: &'a Model,
}

impl<'a> Params<'a> {
    pub fn new(element: &'a Element, model: &'a Model) -> Self {
        Params { element, model }
    }

    pub fn err(&self, message: impl std::fmt::Display) -> DeviceError {
        DeviceError::Invalid {
            element: self.element.name.clone(),
            message: format!(
                "{} model `{}` ({}): {message}",
                self.model.kind, self.model.name, self.model.span
            ),
        }
    }

    fn get(&self, key: &str) -> Option<&ParamValue> {
        self.model
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    pub fn num(&self, key: &str) -> Result<Option<f64>, DeviceError> {
        match self.get(key) {
            None => Ok(None),
            Some(ParamValue::Num(x)) if x.is_finite() => Ok(Some(*x)),
            Some(other) => Err(self.err(format!("`{key}` must be a finite number, got {other:?}"))),
        }
    }

    pub fn num_or(&self, key: &str, default: f64) -> Result<f64, DeviceError> {
        Ok(self.num(key)?.unwrap_or(default))
    }

    pub fn positive(&self, key: &str) -> Result<f64, DeviceError> {
        match self.num(key)? {
            Some(x) if x > 0.0 => Ok(x),
            Some(x) => Err(self.err(format!("`{key}` must be > 0, got {x}"))),
            None => Err(self.err(format!("missing parameter `{key}`"))),
        }
    }

    /// A non-negative integer parameter.
    pub fn count(&self, key: &str) -> Result<Option<usize>, DeviceError> {
        match self.num(key)? {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 => Ok(Some(x as usize)),
            Some(x) => Err(self.err(format!("`{key}` must be a whole number ≥ 0, got {x}"))),
        }
    }

    /// A vector parameter `[a b c]` of exactly `n` finite numbers, if present.
    pub fn vector(&self, key: &str, n: usize) -> Result<Option<Vec<f64>>, DeviceError> {
        match self.get(key) {
            None => Ok(None),
            Some(ParamValue::Vec(v)) if v.len() == n && v.iter().all(|x| x.is_finite()) => {
                Ok(Some(v.clone()))
            }
            Some(other) => Err(self.err(format!(
                "`{key}` must be a vector of {n} finite numbers `[…]`, got {other:?}"
            ))),
        }
    }

    pub fn flag(&self, key: &str, default: bool) -> Result<bool, DeviceError> {
        Ok(self.num(key)?.map(|x| x != 0.0).unwrap_or(default))
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, DeviceError> {
        match self.get(key) {
            None => Ok(None),
            Some(ParamValue::Str(s)) => Ok(Some(s.clone())),
            Some(ParamValue::Num(x)) => Ok(Some(format!("{x}"))),
            Some(other) => Err(self.err(format!("`{key}` must be a word, got {other:?}"))),
        }
    }

    /// A file parameter, resolved relative to the directory of the file holding the
    /// `.model` card (the netlist's directory, or an included library's).
    pub fn path(&self, key: &str) -> Result<Option<PathBuf>, DeviceError> {
        let Some(name) = self.string(key)? else {
            return Ok(None);
        };
        let rel = PathBuf::from(&name);
        if rel.is_absolute() {
            return Ok(Some(rel));
        }
        let dir = self.model.span.file.parent().map(|d| d.to_path_buf());
        Ok(Some(match dir {
            Some(d) if !d.as_os_str().is_empty() => d.join(rel),
            _ => rel,
        }))
    }

    /// Reads a CSV of exactly `rows` × `cols` numbers (row-major) from file parameter `key`.
    pub fn csv(&self, key: &str, rows: usize, cols: usize) -> Result<Vec<f64>, DeviceError> {
        let path = self
            .path(key)?
            .ok_or_else(|| self.err(format!("missing file parameter `{key}`")))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.err(format!("cannot read `{key}` file {}: {e}", path.display())))?;
        read_csv(&text, rows, cols).map_err(|m| {
            self.err(format!(
                "`{key}` file {}: {m} (expected {rows} rows × {cols} columns)",
                path.display()
            ))
        })
    }

    /// Checks the ports against `spec` (name, length; `None` = scalar) and returns the
    /// unknown index of every node, one vector per port.
    pub fn ports(
        &self,
        ports: &[Port],
        spec: &[(&str, Option<usize>)],
        layout: &Layout,
    ) -> Result<Vec<Vec<usize>>, DeviceError> {
        let shape: Vec<String> = spec
            .iter()
            .map(|(name, len)| match len {
                Some(n) => format!("[{name} ×{n}]"),
                None => name.to_string(),
            })
            .collect();
        if ports.len() != spec.len() {
            return Err(self.err(format!(
                "expects {} ports {}, got {}",
                spec.len(),
                shape.join(" "),
                ports.len()
            )));
        }
        let mut out = Vec::with_capacity(spec.len());
        for (k, (port, (name, len))) in ports.iter().zip(spec).enumerate() {
            let nodes: Vec<usize> = match (port, len) {
                (Port::Vector(v), Some(n)) if v.len() == *n => {
                    v.iter().map(|id| layout.node(*id)).collect()
                }
                (Port::Vector(v), Some(n)) => {
                    return Err(self.err(format!(
                        "port {} `{name}` has {} nodes, expected {n} (ports {})",
                        k + 1,
                        v.len(),
                        shape.join(" ")
                    )));
                }
                (Port::Scalar(id), None) => vec![layout.node(*id)],
                (Port::Scalar(_), Some(n)) => {
                    return Err(self.err(format!(
                        "port {} `{name}` must be a vector of {n} nodes `[…]` (ports {})",
                        k + 1,
                        shape.join(" ")
                    )));
                }
                (Port::Vector(_), None) => {
                    return Err(self.err(format!(
                        "port {} `{name}` must be a single node, not a vector (ports {})",
                        k + 1,
                        shape.join(" ")
                    )));
                }
            };
            out.push(nodes);
        }
        Ok(out)
    }

    /// Length of vector port `k` (for inferring sizes absent from the model).
    pub fn port_len(&self, ports: &[Port], k: usize) -> Option<usize> {
        match ports.get(k) {
            Some(Port::Vector(v)) => Some(v.len()),
            _ => None,
        }
    }
}

/// Parses `rows` lines of `cols` comma- (or blank-) separated numbers; blank lines and
/// lines starting with `#` are skipped.
fn read_csv(text: &str, rows: usize, cols: usize) -> Result<Vec<f64>, String> {
    let mut out = Vec::with_capacity(rows * cols);
    let mut seen = 0;
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        seen += 1;
        if seen > rows {
            continue;
        }
        let cells: Vec<&str> = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .collect();
        if cells.len() != cols {
            return Err(format!("line {} has {} values", ln + 1, cells.len()));
        }
        for (c, cell) in cells.iter().enumerate() {
            let x: f64 = cell.parse().map_err(|_| {
                format!("line {}, value {}: `{cell}` is not a number", ln + 1, c + 1)
            })?;
            if !x.is_finite() {
                return Err(format!(
                    "line {}, value {}: `{cell}` is not finite",
                    ln + 1,
                    c + 1
                ));
            }
            out.push(x);
        }
    }
    if seen != rows {
        return Err(format!("{seen} rows"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::read_csv;

    #[test]
    fn csv_shapes() {
        assert_eq!(
            read_csv("1,2\n3,4\n", 2, 2).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(read_csv("# g\n1 2\n\n3, 4", 2, 2).unwrap().len(), 4);
        assert!(
            read_csv("1,2\n3\n", 2, 2)
                .unwrap_err()
                .contains("line 2 has 1")
        );
        assert!(read_csv("1,2\n", 2, 2).unwrap_err().contains("1 rows"));
        assert!(read_csv("1,x\n1,2\n", 2, 2).unwrap_err().contains("`x`"));
    }
}
