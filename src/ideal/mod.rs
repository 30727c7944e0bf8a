//! The ideal (dimensionless) Deep Feedback Control model, reference-compatible.
//!
//! Time is in units of τ_u, voltages and rates are dimensionless. The discretisation, the
//! updates and the metrics follow the published reference implementation exactly
//! (`DFC-REFERENCE.md`): forward Euler with layer-ordered transmission, leak on the total
//! control u, trajectory-averaged DFC updates, Lemma-1 steady state for DFC-SSA.
//!
//! Entry points for other modules: [`network::Network`] (build from weights with
//! [`probe::network_from_json`] or by hand), [`dfc::forward_batch`] +
//! [`dfc::simulate_batch`] (reference Euler), [`ode::simulate_continuous`] (adaptive
//! RK45 in continuous time), [`ideal_update`] (the DFC update of one sample).

// Numeric kernels index several arrays with one loop variable; explicit indices read
// closer to the equations than zipped iterators.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

pub mod config;
pub mod controller;
pub mod data;
pub mod dfc;
pub mod error;
pub mod feedback;
pub mod linalg;
pub mod loss;
pub mod metrics;
pub mod network;
pub mod probe;
pub mod train;

pub use config::{Config, FeedbackMode, Variant};
pub use error::IdealError;
pub use network::{Activation, Network, ParamGrads};
