//! The ideal (dimensionless) Deep Feedback Control model, reference-compatible.
//!
//! Time is in units of τ_u, voltages and rates are dimensionless. The discretisation, the
//! updates and the metrics follow the published reference implementation exactly
//! (`DFC-REFERENCE.md`): forward Euler with layer-ordered transmission, leak on the total
//! control u, trajectory-averaged DFC updates, Lemma-1 steady state for DFC-SSA.
//!
//! Entry points for other modules: [`network::Network`] (public fields; or from the
//! fixture's JSON keys with [`probe::network_from_json`]), [`sample::simulate_sample`]
//! (one sample's reference Euler dynamics, trajectory on request),
//! [`ode::simulate_continuous`] (the same system in continuous time, adaptive RK45) and
//! [`sample::ideal_update`] (the ideal update of one sample for given weights).

// Numeric kernels index several arrays with one loop variable; explicit indices read
// closer to the equations than zipped iterators.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

pub mod config;
pub mod controller;
pub mod data;
pub mod dfc;
pub mod error;
pub mod feedback;
pub mod lanes;
pub mod linalg;
pub mod loss;
pub mod metrics;
pub mod network;
pub mod ode;
pub mod probe;
pub mod sample;
pub mod train;

pub use config::{Config, FeedbackMode, Variant};
pub use error::IdealError;
pub use network::{Activation, Network, ParamGrads};
