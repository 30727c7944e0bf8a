//! XSPICE-style `A` array devices: a registry maps a model kind (`crossbar`, …) to a
//! factory that builds a device implementing the ordinary `Device` trait.

use std::collections::BTreeMap;

use super::{Device, DeviceError, Layout};
use crate::circuit::{Element, Model, Port};

/// Builds an array device from its element, ports, model card and the unknown layout.
pub type ArrayFactory = fn(
    element: &Element,
    ports: &[Port],
    model: &Model,
    layout: &Layout,
) -> Result<Box<dyn Device + Send>, DeviceError>;

/// Known array device kinds. Empty by default: later modules register theirs.
#[derive(Debug, Clone, Default)]
pub struct ArrayRegistry {
    factories: BTreeMap<String, ArrayFactory>,
}

impl ArrayRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the factory for model kind `kind` (lower-case).
    pub fn register(&mut self, kind: &str, factory: ArrayFactory) {
        self.factories.insert(kind.to_ascii_lowercase(), factory);
    }

    pub fn build(
        &self,
        element: &Element,
        ports: &[Port],
        model: &Model,
        layout: &Layout,
    ) -> Result<Box<dyn Device + Send>, DeviceError> {
        match self.factories.get(&model.kind.to_ascii_lowercase()) {
            Some(f) => f(element, ports, model, layout),
            None => Err(DeviceError::UnknownArrayModel {
                element: element.name.clone(),
                model: model.name.clone(),
                kind: model.kind.clone(),
            }),
        }
    }
}
