//! Pulsed conductance device models with aihwkit-compatible parameters.
//!
//! - [`DeviceParams`]: one population's parameters (aihwkit names, defaults and presets),
//!   built from a `.model` card by [`DeviceParams::from_model`].
//! - [`DeviceArray`]: N sampled devices (struct-of-arrays) that take pulses, are read with
//!   read noise and drift, and map weights to conductances in siemens.
//! - [`pulse_statistics`] / [`pulse_response`]: the experiments behind `dfcsim device`.
//!
//! Update rules follow aihwkit's C++ `rpucuda` "update once" functions: ConstantStep,
//! LinearStep (SoftBounds is LinearStep with gamma 1 referenced to each device's bounds),
//! ExpStep (with its complex cycle-to-cycle noise) and PowStep; device-to-device sampling
//! follows `PulsedRPUDevice::populate`.

pub mod array;
pub mod params;
pub mod plot;
pub mod response;

pub use array::DeviceArray;
pub use params::{DeviceError, DeviceKind, DeviceParams};
pub use plot::plot_pulse_response;
pub use response::{PulseReport, PulseResponse, PulseStats, pulse_response, pulse_statistics};
